"""Synchronous rounds, with an optional deadline, quorum and over-selection.

Invite ``clients_per_round`` clients (``1 + over_selection`` times as many, if set), and close the round with
the first ``clients_per_round`` answers, when nobody is left to answer, or once the deadline has passed with a
quorum. A deadline never closes a round with fewer than its quorum: it waits on for the quorum, and if the
clients that could answer are all gone the round passes without an update. Over-selection follows Bonawitz et
al., "Towards Federated Learning at Scale: System Design", MLSys 2019.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fedrec.runtime.message import Message
from fedrec.runtime.rounds.base import PlainPolicy, RoundControl, in_arrival_order, pass_round, ready_candidates
from fedrec.runtime.rounds.participation import ParticipationWeights
from fedrec.runtime.steps import Replies

log = logging.getLogger(__name__)


@dataclass
class SyncRounds(PlainPolicy):
    """``deadline_s``: virtual (or, in a cluster, wall-clock) seconds after which a round closes with a quorum
    (``quorum``: a share of the clients it needs); ``over_selection``: the extra share of clients invited."""

    deadline_s: float | None = None
    quorum: float = 1.0
    over_selection: float = 0.0
    participation: ParticipationWeights = field(default_factory=ParticipationWeights)
    step: Replies | None = None
    needed: int = 0

    def state_dict(self) -> dict[str, Any]:
        """Participation weights (progress) and the open round's replies (in flight)."""
        step = self.step.state_dict() if self.step is not None else None
        return {"participation": self.participation.state_dict(), "step": step, "needed": self.needed}

    def load_state_dict(self, state: dict[str, Any], in_flight: bool = True) -> None:
        self.participation.load_state_dict(state["participation"])
        if in_flight:
            self.step = Replies.from_state(state["step"]) if state["step"] is not None else None
            self.needed = int(state["needed"])

    def on_ready(self, control: RoundControl, now: float) -> Iterator[Message]:
        candidates = yield from ready_candidates(control, now)
        if candidates is None:
            return
        target = control.sampler.size(control.trainable_count())
        invited = control.sampler.sample(control.round + 1, candidates, math.ceil(target * (1 + self.over_selection)))
        if len(invited) == 0:  # a Poisson draw may pick nobody: the round passes, and counts
            yield from pass_round(self, control, now)
            return
        self.needed = min(target, len(invited)) if self.over_selection else len(invited)
        quorum = max(1, math.ceil(self.quorum * self.needed))
        self.step = Replies(set(invited.tolist()), quorum=quorum)
        yield control.invite(invited, now)
        if self.deadline_s is not None:
            yield control.deadline(now, self.deadline_s)

    def on_updates(self, control: RoundControl, message: Message) -> Iterator[Message]:
        step = self.step
        ids = np.asarray(message.senders(), dtype=np.int64)
        control.arrived(ids)
        if step is None or message.round != control.round + 1 or not set(ids.tolist()) <= step.expected - step.answered:
            control.report_late(len(ids))
            log.info(
                "dropping %d late updates for round %d during round %d", len(ids), message.round, control.round + 1
            )
            return
        order, times = in_arrival_order(message)
        enough = min(self.needed, step.quorum) if step.deadline_passed else self.needed
        take = min(len(order), enough - len(step.answered))
        kept = order[:take] if take < len(order) else order
        step.add(message.payload if take == len(order) else message.payload.select(kept))
        if len(step.answered) >= enough or step.outstanding == 0:
            if take < len(order):
                control.report_late(len(order) - take)  # over-selected: the round has what it needs
            yield from self._close(control, float(times[take - 1]))

    def on_gone(self, control: RoundControl, ids: np.ndarray, now: float) -> Iterator[Message]:
        if self.step is not None:
            self.step.drop(set(ids.tolist()))
            if self.step.outstanding == 0:
                yield from self._close(control, now)

    def on_deadline(self, control: RoundControl, round_index: int, step: str | None, now: float) -> Iterator[Message]:
        if step is None:  # a reminder: someone may be online now
            if self.step is None:
                yield from self.on_ready(control, now)
            return
        replies = self.step
        if replies is not None and round_index == control.round + 1:
            replies.deadline_passed = True
            if len(replies.answered) >= replies.quorum:
                yield from self._close(control, now)

    def on_evaluated(self, control: RoundControl, now: float) -> Iterator[Message]:
        yield from self.on_ready(control, now)

    def abandon(self) -> None:
        """Forget the open round without closing it (every client left; it is run again when they return)."""
        self.step, self.needed = None, 0

    def _close(self, control: RoundControl, now: float) -> Iterator[Message]:
        step, self.step = self.step, None
        assert step is not None
        control.arrived(np.fromiter(step.expected - step.answered, dtype=np.int64))  # what they send later is late
        enough = len(step.answered) >= step.quorum or self.deadline_s is None
        if step.payloads and enough:
            updates = [self.participation.apply(u, control.round + 1) for u in step.payloads]
            yield from control.apply(updates, now, [0] * len(step.answered))
        else:
            yield from control.skip(now)
        if not control.evaluating:
            yield from self.on_ready(control, now)
