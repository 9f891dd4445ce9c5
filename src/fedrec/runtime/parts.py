"""The interfaces through which the server and the client hosts use the parts they are given.

The runtime knows no tensors: models, updates and metric sums are opaque objects here; the algorithms and
the tasks implement these protocols.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np


@dataclass(frozen=True)
class JoinInfo:
    """Payload of JOIN: the clients a host speaks for and how many training examples each holds."""

    client_ids: np.ndarray
    num_examples: np.ndarray

    @property
    def nbytes(self) -> int:
        return int(self.client_ids.nbytes + self.num_examples.nbytes)


class ClientBatch(Protocol):
    """A payload that carries one entry per client (updates, metric sums)."""

    @property
    def client_ids(self) -> np.ndarray: ...


class UpdateCheck(Protocol):
    """Validates an incoming update against the current model; returns why it is refused, or None."""

    def problem(self, update: Any, model: Any, registered: dict[int, int]) -> str | None: ...


class Aggregator(Protocol):
    def aggregate(self, model: Any, updates: list[Any]) -> Any: ...


class MetricCombiner(Protocol):
    def combine(self, sums: list[Any]) -> dict[str, float]: ...


class Checkpointer(Protocol):
    def save(self, round_index: int, model: Any) -> None: ...


class ClientTrainer(Protocol):
    """What a client host asks of its task: train or evaluate the given clients on a received model."""

    def num_examples(self, client_ids: np.ndarray) -> np.ndarray: ...

    def train(self, client_ids: np.ndarray, model: Any, round_index: int) -> Any: ...

    def evaluate(self, client_ids: np.ndarray, model: Any) -> Any: ...


@dataclass(frozen=True)
class RoundRecord:
    """What the server reports after an evaluated round."""

    round: int
    metrics: dict[str, float]
    num_participants: int
    virtual_time_s: float


class RoundObserver(Protocol):
    def on_round(self, record: RoundRecord) -> None: ...


class NullObserver:
    def on_round(self, record: RoundRecord) -> None:
        return None
