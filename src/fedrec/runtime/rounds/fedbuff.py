"""Buffered asynchronous aggregation (FedBuff).

Nguyen et al., "Federated Learning with Buffered Asynchronous Aggregation", AISTATS 2022: ``concurrency``
clients train at once; every ``buffer_size`` arrivals are aggregated, each delta discounted by
``(1 + s) ** -exponent`` for staleness s (the versions published since it was sent); staler updates than
``max_staleness`` are dropped. The clients whose updates filled the buffer are replaced when it is aggregated,
so each refill trains as one cohort. Updates reach the policy in arrival order: one that acts in the middle of
a batch of replies sends the rest back (``Message.part``) at their own arrival time.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fedrec.runtime.message import Message
from fedrec.runtime.rounds.base import RETRY_S, PlainPolicy, RoundControl, in_arrival_order
from fedrec.runtime.rounds.participation import ParticipationWeights


@dataclass
class BufferedAsync(PlainPolicy):
    concurrency: int
    buffer_size: int
    max_staleness: int = 10
    exponent: float = 0.5
    participation: ParticipationWeights = field(default_factory=ParticipationWeights)
    buffer: list[Any] = field(default_factory=list)
    staleness: list[int] = field(default_factory=list)

    def state_dict(self) -> dict[str, Any]:
        """Participation weights and the buffer: updates received and not yet aggregated, kept on resume."""
        return {"participation": self.participation.state_dict(), "buffer": list(self.buffer),
                "staleness": list(self.staleness)}  # fmt: skip

    def load_state_dict(self, state: dict[str, Any], in_flight: bool = True) -> None:
        self.participation.load_state_dict(state["participation"])
        self.buffer, self.staleness = list(state["buffer"]), [int(s) for s in state["staleness"]]

    def on_ready(self, control: RoundControl, now: float) -> Iterator[Message]:
        if control.done():
            if not control.evaluating:
                yield from control.finish(now)
            return
        free = self.concurrency - control.training_count()
        if free <= 0:
            return
        candidates = control.candidates(now)
        if len(candidates) == 0:
            if control.training_count() == 0:
                yield control.wake(now, RETRY_S)
            return
        yield control.invite(control.sampler.sample(control.round + 1, candidates, free), now)

    def on_updates(self, control: RoundControl, message: Message) -> Iterator[Message]:
        ids = np.asarray(message.senders(), dtype=np.int64)
        if control.done():
            control.arrived(ids)
            return
        staleness = control.round + 1 - message.round
        if staleness > self.max_staleness:
            control.arrived(ids)
            control.report_late(len(ids))
            return
        order, times = in_arrival_order(message)
        take = min(len(order), self.buffer_size - len(self.staleness))
        kept = order[:take]
        control.arrived(ids[kept])
        factor = np.full(take, (1.0 + staleness) ** -self.exponent)
        part = message.payload.select(kept)
        part = part.discounted(factor) if staleness else part
        self.buffer.append(self.participation.apply(part, control.round + 1))
        self.staleness += [staleness] * take
        if len(self.staleness) < self.buffer_size:
            return
        now = float(times[take - 1])
        updates, stale = self.buffer, self.staleness
        self.buffer, self.staleness = [], []
        yield from control.apply(updates, now, stale)
        if take < len(order):
            yield message.part(order[take:])  # arrivals after this aggregation, in their turn
        yield from self.on_ready(control, now)

    def on_gone(self, control: RoundControl, ids: np.ndarray, now: float) -> Iterator[Message]:
        yield from self.on_ready(control, now)

    def abandon(self) -> None:
        """Nothing to forget: the buffer holds updates already received, and is kept."""

    def on_deadline(self, control: RoundControl, round_index: int, step: str | None, now: float) -> Iterator[Message]:
        if step is None:
            yield from self.on_ready(control, now)

    def on_evaluated(self, control: RoundControl, now: float) -> Iterator[Message]:
        if control.done():
            yield from control.finish(now)
