"""The server worker: handlers that move a run from round to round.

It owns no algorithm: sampling, update checks, aggregation, metric combination, checkpointing and
reporting are objects it is given. A round is synchronous: the sampled clients train, and the round closes
when every one still connected has answered or, once its deadline has passed, when a quorum has. Every
``eval_every`` rounds (and after the last) all clients evaluate the new model on their own test data.
Clients whose connection ends (LEAVE) are dropped from the round and from later sampling.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fedrec.runtime.message import SERVER, Message, MessageKind
from fedrec.runtime.parts import (
    Aggregator,
    Checkpointer,
    ClientBatch,
    JoinInfo,
    MetricCombiner,
    NullObserver,
    Registry,
    RoundObserver,
    RoundRecord,
    UpdateCheck,
)
from fedrec.runtime.sampling import ClientSampler
from fedrec.runtime.worker import Worker, handles

log = logging.getLogger(__name__)

ROUND_KINDS = [MessageKind.TRAIN, MessageKind.EVALUATE, MessageKind.FINISH, MessageKind.DEADLINE]


@dataclass
class ServerPlan:
    """How many rounds, which are evaluated, and when a round may close without every reply."""

    rounds: int
    eval_every: int = 1
    first_round: int = 1
    deadline_s: float | None = None
    quorum: float = 1.0  # share of a step's clients whose replies close it once the deadline has passed

    def evaluates(self, round_index: int) -> bool:
        return round_index % self.eval_every == 0 or round_index == self.rounds


@dataclass
class _Step:
    """Replies expected and received for the current step (training or evaluation)."""

    kind: MessageKind | None = None
    expected: set[int] = field(default_factory=set)
    answered: set[int] = field(default_factory=set)
    payloads: list[Any] = field(default_factory=list)
    quorum: int = 0
    deadline_passed: bool = False
    opened_at: float = 0.0

    def add(self, payload: ClientBatch) -> bool:
        ids = set(np.asarray(payload.client_ids).tolist())
        if not ids or not ids <= self.expected - self.answered:
            log.warning("ignoring a reply from clients not expected now: %s", sorted(ids)[:10])
            return False
        self.answered |= ids
        self.payloads.append(payload)
        return True

    def drop(self, ids: set[int]) -> None:
        self.expected -= ids - self.answered

    @property
    def can_close(self) -> bool:
        if self.answered >= self.expected:
            return True
        return self.deadline_passed and len(self.answered) >= self.quorum


class Server(Worker):
    def __init__(
        self,
        model: Any,
        plan: ServerPlan,
        num_clients: int,
        sampler: ClientSampler,
        aggregator: Aggregator,
        metrics: MetricCombiner,
        checkpointer: Checkpointer | None = None,
        observer: RoundObserver | None = None,
        check: UpdateCheck | None = None,
    ) -> None:
        self.model = model
        self.plan = plan
        self.num_clients = num_clients
        self.sampler = sampler
        self.aggregator = aggregator
        self.metrics = metrics
        self.checkpointer = checkpointer
        self.observer: RoundObserver = observer or NullObserver()
        self.check = check
        self.clients = Registry()
        self.round = plan.first_round - 1
        self.step = _Step()
        self.started = False
        self.finished = False
        self.last_metrics: dict[str, float] = {}
        self.rejected_updates = 0

    @handles(MessageKind.JOIN, emits=ROUND_KINDS)
    def on_join(self, message: Message) -> Iterator[Message]:
        info: JoinInfo = message.payload
        self.clients.add(info.client_ids, info.num_examples)
        if not self.started and len(self.clients) >= self.num_clients:
            self.started = True
            log.info("%d clients joined; starting at round %d", len(self.clients), self.round + 1)
            yield from self._next_round(message.time)

    @handles(MessageKind.LEAVE, emits=ROUND_KINDS)
    def on_leave(self, message: Message) -> Iterator[Message]:
        gone = set(message.senders())
        self.clients.remove(np.fromiter(gone, dtype=np.int64))
        self.step.drop(gone)
        log.warning("%d clients left; %d remain", len(gone), len(self.clients))
        if self.started and not self.finished:
            yield from self._maybe_close(message.time)

    @handles(MessageKind.DEADLINE, emits=ROUND_KINDS)
    def on_deadline(self, message: Message) -> Iterator[Message]:
        if message.round == self.round and message.payload == self.step.kind and not self.finished:
            self.step.deadline_passed = True
            yield from self._maybe_close(message.time)

    @handles(MessageKind.UPDATE, emits=ROUND_KINDS)
    def on_update(self, message: Message) -> Iterator[Message]:
        if message.round != self.round or self.step.kind is not MessageKind.TRAIN:
            log.warning("dropping an update for round %d during round %d", message.round, self.round)
            return
        self._accept(message)
        yield from self._maybe_close(message.time)

    def _accept(self, message: Message) -> None:
        problem = self.check.problem(message.payload, self.model, self.clients) if self.check else None
        claimed = set(np.asarray(getattr(message.payload, "client_ids", [])).tolist())
        if problem is None and claimed != set(message.senders()):
            problem = "the payload speaks for other clients than its sender"
        if problem is not None:
            self.rejected_updates += 1
            log.warning("rejected a %s from clients %s: %s", message.kind.name, message.senders()[:5], problem)
            self.step.drop(set(message.senders()))
        else:
            self.step.add(message.payload)

    @handles(MessageKind.METRICS, emits=ROUND_KINDS)
    def on_metrics(self, message: Message) -> Iterator[Message]:
        if message.round == self.round and self.step.kind is MessageKind.EVALUATE:
            self._accept(message)
            yield from self._maybe_close(message.time)

    def _maybe_close(self, now: float) -> Iterator[Message]:
        step = self.step
        if not step.can_close:
            return
        if step.kind is MessageKind.TRAIN:
            if step.payloads:
                self.model = self.aggregator.aggregate(self.model, step.payloads)
            else:
                log.warning("round %d closed with no update; the model is unchanged", self.round)
            self._trained = len(step.answered)
            log.info("round %d closed after %.3f s with %d updates", self.round, now - step.opened_at, self._trained)
            if self.plan.evaluates(self.round):
                yield from self._open(MessageKind.EVALUATE, self.clients.ids, now)
                return
        elif step.kind is MessageKind.EVALUATE and step.payloads:
            self.last_metrics = self.metrics.combine(step.payloads)
            self.observer.on_round(RoundRecord(self.round, self.last_metrics, self._trained, now))
        if self.checkpointer is not None:
            self.checkpointer.save(self.round, self.model)
        yield from self._next_round(now)

    def _next_round(self, now: float) -> Iterator[Message]:
        if self.round >= self.plan.rounds or not len(self.clients):
            self.finished = True
            self.step = _Step()
            yield Message(MessageKind.FINISH, SERVER, tuple(self.clients.ids.tolist()), self.round, None, now)
            return
        self.round += 1
        sampled = self.sampler.sample(self.round, self.clients.trainable())
        yield from self._open(MessageKind.TRAIN, sampled, now)

    def _open(self, kind: MessageKind, receivers: np.ndarray, now: float) -> Iterator[Message]:
        quorum = max(1, math.ceil(self.plan.quorum * len(receivers)))
        self.step = _Step(kind, set(receivers.tolist()), quorum=quorum, opened_at=now)
        yield Message(kind, SERVER, tuple(receivers.tolist()), self.round, self.model, now)
        if self.plan.deadline_s is not None:
            yield Message(MessageKind.DEADLINE, SERVER, SERVER, self.round, kind, now + self.plan.deadline_s)
