"""Round policies: who is invited to train, and when their updates are aggregated.

A policy drives any aggregation algorithm through the server's small interface (``candidates``,
``invite``, ``arrived``, ``apply``, ``finish``). Updates reach it in arrival order: the in-process transport
delivers a batch of replies in parts, each before the next other event, and a policy that acts in the
middle of a part sends the rest back to the server (``Message.part``) at its own arrival time, so every
arrival is handled in its place among the events its action caused.

- ``SyncRounds``: invite ``clients_per_round`` clients (``1 + over_selection`` times as many, if set), and
  close the round with the first ``clients_per_round`` answers, when nobody is left to answer, or once the
  deadline has passed with a quorum. A deadline never closes a round with fewer than its quorum: it waits on
  for the quorum, and if the clients that could answer are all gone the round passes without an update.
- ``BufferedAsync``: FedBuff (Nguyen et al., "Federated Learning with Buffered Asynchronous Aggregation",
  AISTATS 2022): ``concurrency`` clients train at once; every ``buffer_size`` arrivals are aggregated, each
  delta discounted by ``(1 + s) ** -exponent`` for staleness s (the versions published since it was sent);
  staler updates than ``max_staleness`` are dropped. The clients whose updates filled the buffer are
  replaced when it is aggregated, so each refill trains as one cohort.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from fedrec.runtime.message import SERVER, Message, MessageKind
from fedrec.runtime.steps import Replies

if TYPE_CHECKING:
    from fedrec.runtime.server import Server

log = logging.getLogger(__name__)

RETRY_S = 60.0  # when nobody is online to invite, look again this much later


class RoundPolicy(Protocol):
    def on_ready(self, server: Server, now: float) -> Iterator[Message]: ...

    def abandon(self) -> None:
        """Forget the step in flight without closing it: every client left, and the server waits for them."""
        ...

    def on_updates(self, server: Server, message: Message) -> Iterator[Message]: ...

    def on_gone(self, server: Server, ids: np.ndarray, now: float) -> Iterator[Message]: ...

    def on_deadline(self, server: Server, message: Message) -> Iterator[Message]: ...

    def on_evaluated(self, server: Server, now: float) -> Iterator[Message]: ...


def ready_candidates(server: Server, now: float) -> Generator[Message, None, np.ndarray | None]:
    """The clients a new synchronous round may invite; None when it cannot open now (an evaluation is open,
    the run is done and is finished here, or nobody is online and a reminder is sent)."""
    if server.evaluating:
        return None
    if server.done:
        yield from server.finish(now)
        return None
    candidates = server.candidates(now)
    if len(candidates) == 0:
        log.warning("nobody is online to train round %d; retrying in %.0f s", server.round + 1, RETRY_S)
        yield server.wake(now, RETRY_S)
        return None
    return candidates


def pass_round(policy: RoundPolicy, server: Server, now: float) -> Iterator[Message]:
    """Close the next round without an update (it counts), then open the one after unless an evaluation opened."""
    yield from server.skip(now)
    if not server.evaluating:
        yield from policy.on_ready(server, now)


def in_arrival_order(message: Message) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the message's clients by arrival time (ties by id), and the sorted arrival times."""
    times = message.arrival_times()
    order = np.lexsort((np.asarray(message.senders()), times))
    return order, times[order]


@dataclass
class ParticipationWeights:
    """Weigh an update by the versions since its client last counted, up to ``cap`` (since the start, the
    first time): clients that answer rarely (slow devices, heavy work) then weigh about as much over a run as
    those that answer often. The interval estimate of Wang and Ji, "A Lightweight Method for Tackling Unknown
    Participation Statistics in Federated Averaging" (FedAU), ICLR 2024. ``cap`` 0: every weight is 1."""

    cap: int = 0
    last_counted: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def state_dict(self) -> dict[str, Any]:
        return {"last_counted": self.last_counted}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.last_counted = np.asarray(state["last_counted"], dtype=np.int64)

    def apply(self, update: Any, version: int) -> Any:
        if not self.cap:
            return update
        ids = np.asarray(update.client_ids, dtype=np.int64)
        if len(self.last_counted) <= ids.max():
            grown = np.zeros(int(ids.max()) + 1, dtype=np.int64)
            grown[: len(self.last_counted)] = self.last_counted
            self.last_counted = grown
        intervals = np.minimum(version - self.last_counted[ids], self.cap).astype(np.float64)
        self.last_counted[ids] = version
        return update.reweighted(np.maximum(intervals, 1.0))


@dataclass
class SyncRounds:
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

    def on_ready(self, server: Server, now: float) -> Iterator[Message]:

        candidates = yield from ready_candidates(server, now)
        if candidates is None:
            return
        target = server.sampler.size(len(server.clients.trainable()))
        invited = server.sampler.sample(server.round + 1, candidates, math.ceil(target * (1 + self.over_selection)))
        if len(invited) == 0:  # a Poisson draw may pick nobody: the round passes, and counts
            yield from pass_round(self, server, now)
            return
        self.needed = min(target, len(invited)) if self.over_selection else len(invited)
        quorum = max(1, math.ceil(self.quorum * self.needed))
        self.step = Replies(set(invited.tolist()), quorum=quorum)
        yield server.invite(invited, now)
        if self.deadline_s is not None:
            yield Message(
                MessageKind.DEADLINE, SERVER, SERVER, server.round + 1, MessageKind.TRAIN, now + self.deadline_s
            )

    def on_updates(self, server: Server, message: Message) -> Iterator[Message]:
        step = self.step
        ids = np.asarray(message.senders(), dtype=np.int64)
        server.arrived(ids)
        if step is None or message.round != server.round + 1 or not set(ids.tolist()) <= step.expected - step.answered:
            server.stats.late += len(ids)
            log.info("dropping %d late updates for round %d during round %d", len(ids), message.round, server.round + 1)
            return
        order, times = in_arrival_order(message)
        enough = min(self.needed, step.quorum) if step.deadline_passed else self.needed
        take = min(len(order), enough - len(step.answered))
        kept = order[:take] if take < len(order) else order
        step.add(message.payload if take == len(order) else message.payload.select(kept))
        if len(step.answered) >= enough or step.outstanding == 0:
            if take < len(order):
                server.stats.late += len(order) - take  # over-selected: the round has what it needs
            yield from self._close(server, float(times[take - 1]))

    def on_gone(self, server: Server, ids: np.ndarray, now: float) -> Iterator[Message]:
        if self.step is not None:
            self.step.drop(set(ids.tolist()))
            if self.step.outstanding == 0:
                yield from self._close(server, now)

    def on_deadline(self, server: Server, message: Message) -> Iterator[Message]:
        if message.payload is None:  # a reminder: someone may be online now
            if self.step is None:
                yield from self.on_ready(server, message.time)
            return
        step = self.step
        if step is not None and message.round == server.round + 1:
            step.deadline_passed = True
            if len(step.answered) >= step.quorum:
                yield from self._close(server, message.time)

    def on_evaluated(self, server: Server, now: float) -> Iterator[Message]:
        yield from self.on_ready(server, now)

    def abandon(self) -> None:
        """Forget the open round without closing it (every client left; it is run again when they return)."""
        self.step, self.needed = None, 0

    def _close(self, server: Server, now: float) -> Iterator[Message]:
        step, self.step = self.step, None
        assert step is not None
        unanswered = np.fromiter(step.expected - step.answered, dtype=np.int64)
        server.arrived(unanswered)  # whatever they send later is late
        enough = len(step.answered) >= step.quorum or self.deadline_s is None
        if step.payloads and enough:
            updates = [self.participation.apply(u, server.round + 1) for u in step.payloads]
            yield from server.apply(updates, now, [0] * len(step.answered))
        else:
            yield from server.skip(now)
        if not server.evaluating:
            yield from self.on_ready(server, now)


@dataclass
class BufferedAsync:
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

    def on_ready(self, server: Server, now: float) -> Iterator[Message]:
        if server.done:
            if not server.evaluating:
                yield from server.finish(now)
            return
        free = self.concurrency - len(server.busy)
        if free <= 0:
            return
        candidates = server.candidates(now)
        if len(candidates) == 0:
            if len(server.busy) == 0:
                yield server.wake(now, RETRY_S)
            return
        yield server.invite(server.sampler.sample(server.round + 1, candidates, free), now)

    def on_updates(self, server: Server, message: Message) -> Iterator[Message]:
        ids = np.asarray(message.senders(), dtype=np.int64)
        if server.done:
            server.arrived(ids)
            return
        staleness = server.round + 1 - message.round
        if staleness > self.max_staleness:
            server.arrived(ids)
            server.stats.late += len(ids)
            return
        order, times = in_arrival_order(message)
        take = min(len(order), self.buffer_size - len(self.staleness))
        kept = order[:take]
        server.arrived(ids[kept])
        factor = np.full(take, (1.0 + staleness) ** -self.exponent)
        part = message.payload.select(kept)
        part = part.discounted(factor) if staleness else part
        self.buffer.append(self.participation.apply(part, server.round + 1))
        self.staleness += [staleness] * take
        if len(self.staleness) < self.buffer_size:
            return
        now = float(times[take - 1])
        updates, stale = self.buffer, self.staleness
        self.buffer, self.staleness = [], []
        yield from server.apply(updates, now, stale)
        if take < len(order):
            yield message.part(order[take:])  # arrivals after this aggregation, in their turn
        yield from self.on_ready(server, now)

    def on_gone(self, server: Server, ids: np.ndarray, now: float) -> Iterator[Message]:
        yield from self.on_ready(server, now)

    def abandon(self) -> None:
        """Nothing to forget: the buffer holds updates already received, and is kept."""

    def on_deadline(self, server: Server, message: Message) -> Iterator[Message]:
        if message.payload is None:
            yield from self.on_ready(server, message.time)

    def on_evaluated(self, server: Server, now: float) -> Iterator[Message]:
        if server.done:
            yield from server.finish(now)
