"""The server's evaluations: every client evaluates a version of the model on its own test data.

Every ``eval_every`` versions (and after the last) the server sends the model to every registered client;
they answer with sums of their metrics, which the metric combiner turns into the round's figures. An
evaluation is the experimenter's measurement and costs no virtual time. It closes when every client still
expected has answered, or once its deadline has passed with a quorum of them.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from typing import Any

import numpy as np

from fedrec.runtime.message import SERVER, Message, MessageKind
from fedrec.runtime.protocols import Deadline, MetricCombiner, RoundObserver, RoundRecord, Timer
from fedrec.runtime.steps import Replies, ServerPlan

log = logging.getLogger(__name__)


class Evaluation:
    """The open evaluation (at most one), and the figures of the last one that closed.

    ``last_metrics`` are the combined figures of version ``metrics_round`` (None before any closed)."""

    def __init__(self, plan: ServerPlan, combiner: MetricCombiner, observer: RoundObserver) -> None:
        self.plan = plan
        self.combiner = combiner
        self.observer = observer
        self.replies: Replies | None = None
        self.round = 0  # the version being evaluated
        self.participants = 0  # clients whose updates made it
        self.opened_at = 0.0  # virtual seconds
        self.last_metrics: dict[str, float] = {}
        self.metrics_round: int | None = None

    @property
    def is_open(self) -> bool:
        """An evaluation waits for replies."""
        return self.replies is not None

    @property
    def outstanding(self) -> int:
        """Replies the open evaluation still waits for."""
        return self.replies.outstanding if self.replies is not None else 0

    def awaits(self, ids: np.ndarray, round_index: int) -> np.ndarray:
        """bool ``[len(ids)]``: which of ``ids`` the open evaluation of ``round_index`` still waits for."""
        replies = self.replies
        if replies is None or round_index != self.round:
            return np.zeros(len(ids), dtype=bool)
        return np.isin(ids, np.fromiter(replies.expected - replies.answered, dtype=np.int64))

    def open(self, version: int, model: Any, receivers: np.ndarray, participants: int, now: float) -> Iterator[Message]:
        """Send version ``version`` of ``model`` to ``receivers`` (sorted ids), and its deadline if planned."""
        if self.replies is not None:
            log.warning("round %d is not evaluated: the evaluation of round %d is still open", version, self.round)
            return
        quorum = max(1, math.ceil(self.plan.quorum * len(receivers)))
        self.replies = Replies(set(receivers.tolist()), quorum=quorum)
        self.round, self.participants, self.opened_at = version, participants, now
        yield Message(MessageKind.EVALUATE, SERVER, tuple(receivers.tolist()), version, model, now)
        if self.plan.deadline_s is not None:
            yield Message(MessageKind.DEADLINE, SERVER, SERVER, version, Deadline(Timer.EVALUATION),
                          now + self.plan.deadline_s)  # fmt: skip

    def add(self, sums: Any) -> None:
        """Metric sums that passed the server's checks."""
        assert self.replies is not None
        self.replies.add(sums)

    def drop(self, ids: np.ndarray) -> None:
        """``ids`` will not answer (left, refused, withdrew, timed out)."""
        if self.replies is not None:
            self.replies.drop(set(np.asarray(ids).tolist()))

    def deadline_passed(self, round_index: int) -> None:
        """The deadline of the evaluation of ``round_index`` has passed: it closes with a quorum."""
        if self.replies is not None and round_index == self.round:
            self.replies.deadline_passed = True

    @property
    def can_close(self) -> bool:
        """Whether the open evaluation may close now (every expected reply in, or a quorum past the deadline)."""
        return self.replies is not None and self.replies.can_close

    def close(self, stats: dict[str, float]) -> bool:
        """Close the open evaluation; True if it had replies, whose figures are recorded and reported with the
        run's participation counts ``stats``."""
        replies = self.replies
        assert replies is not None
        self.replies = None
        if not replies.payloads:
            return False
        self.last_metrics = self.combiner.combine(replies.payloads)
        self.metrics_round = self.round
        self.observer.on_round(RoundRecord(self.round, self.last_metrics, self.participants, self.opened_at, stats))
        return True

    def forget(self) -> None:
        """Drop the open evaluation without figures (every client left; it is opened again when they return)."""
        self.replies = None

    def state_dict(self) -> dict[str, Any]:
        return {
            "evaluation": self.replies.state_dict() if self.replies is not None else None,
            "evaluating_round": self.round,
            "evaluated_participants": self.participants,
            "evaluated_at": self.opened_at,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        saved = state["evaluation"]
        self.replies = Replies.from_state(saved) if saved is not None else None
        self.round = int(state["evaluating_round"])
        self.participants = int(state["evaluated_participants"])
        self.opened_at = float(state["evaluated_at"])
