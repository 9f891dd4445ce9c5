"""The server worker: handlers that move a run from round to round.

It owns no algorithm: sampling, aggregation, metric combination, checkpointing and reporting are objects
it is given. A round is synchronous: the sampled clients train, the round closes when all of them have
answered, the aggregate becomes the new global model, and every ``eval_every`` rounds (and after the last)
all clients evaluate it on their own test data.
"""

from __future__ import annotations

import logging
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
    RoundObserver,
    RoundRecord,
)
from fedrec.runtime.sampling import ClientSampler
from fedrec.runtime.worker import Worker, handles

log = logging.getLogger(__name__)


@dataclass
class ServerPlan:
    """How many rounds, and which rounds are evaluated."""

    rounds: int
    eval_every: int = 1
    first_round: int = 1

    def evaluates(self, round_index: int) -> bool:
        return round_index % self.eval_every == 0 or round_index == self.rounds


@dataclass
class _Collecting:
    """Replies expected and received for the current step (training or evaluation)."""

    expected: set[int] = field(default_factory=set)
    answered: set[int] = field(default_factory=set)
    payloads: list[Any] = field(default_factory=list)

    def add(self, payload: ClientBatch) -> None:
        ids = set(np.asarray(payload.client_ids).tolist())
        fresh = ids & (self.expected - self.answered)
        if fresh != ids:
            log.warning("ignoring a reply from clients not expected in this step: %s", sorted(ids - fresh)[:10])
            return
        self.answered |= ids
        self.payloads.append(payload)

    @property
    def complete(self) -> bool:
        return self.answered >= self.expected


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
    ) -> None:
        self.model = model
        self.plan = plan
        self.num_clients = num_clients
        self.sampler = sampler
        self.aggregator = aggregator
        self.metrics = metrics
        self.checkpointer = checkpointer
        self.observer: RoundObserver = observer or NullObserver()
        self.clients: dict[int, int] = {}
        self.round = plan.first_round - 1
        self.training = _Collecting()
        self.evaluating = _Collecting()
        self.finished = False
        self.last_metrics: dict[str, float] = {}
        self._participants = np.empty(0, dtype=np.int64)

    @handles(MessageKind.JOIN, emits=[MessageKind.TRAIN, MessageKind.FINISH])
    def on_join(self, message: Message) -> Iterator[Message]:
        info: JoinInfo = message.payload
        self.clients.update(zip(info.client_ids.tolist(), info.num_examples.tolist(), strict=True))
        if len(self.clients) >= self.num_clients and self.round < self.plan.first_round:
            yield from self._next_round(message.time)

    @handles(MessageKind.UPDATE, emits=[MessageKind.TRAIN, MessageKind.EVALUATE, MessageKind.FINISH])
    def on_update(self, message: Message) -> Iterator[Message]:
        if message.round != self.round:
            log.warning("dropping an update for round %d during round %d", message.round, self.round)
            return
        self.training.add(message.payload)
        if not self.training.complete:
            return
        self.model = self.aggregator.aggregate(self.model, self.training.payloads)
        self.training = _Collecting()
        if self.plan.evaluates(self.round):
            yield self._broadcast(MessageKind.EVALUATE, sorted(self.clients), message.time)
            self.evaluating = _Collecting(expected=set(self.clients))
        else:
            yield from self._next_round(message.time)

    @handles(MessageKind.METRICS, emits=[MessageKind.TRAIN, MessageKind.FINISH])
    def on_metrics(self, message: Message) -> Iterator[Message]:
        if message.round != self.round:
            return
        self.evaluating.add(message.payload)
        if not self.evaluating.complete:
            return
        self.last_metrics = self.metrics.combine(self.evaluating.payloads)
        participants = len(self._participants)
        self.evaluating = _Collecting()
        if self.checkpointer is not None:
            self.checkpointer.save(self.round, self.model)
        self.observer.on_round(RoundRecord(self.round, self.last_metrics, participants, message.time))
        yield from self._next_round(message.time)

    def _next_round(self, now: float) -> Iterator[Message]:
        if self.round >= self.plan.rounds:
            self.finished = True
            yield Message(MessageKind.FINISH, SERVER, tuple(sorted(self.clients)), self.round, None, now)
            return
        self.round += 1
        sampled = self.sampler.sample(self.round, np.fromiter(self.clients, dtype=np.int64))
        self._participants = sampled
        self.training = _Collecting(expected=set(sampled.tolist()))
        yield self._broadcast(MessageKind.TRAIN, sampled.tolist(), now)

    def _broadcast(self, kind: MessageKind, receivers: list[int], now: float) -> Message:
        return Message(kind, SERVER, tuple(receivers), self.round, self.model, now)
