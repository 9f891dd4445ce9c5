"""The values every task's local training shares: how a client trains, a cohort's examples, its result.

A cohort is the clients that received the same model in one round; the engine trains them together in batched
tensor operations or one at a time (``Execution``), with the same numbers either way.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np
from torch import Tensor

from fedrec.engine.objective import LocalObjective, PlainObjective
from fedrec.engine.optim import OptimizerSettings
from fedrec.payloads import ClientUpdates

Execution = Literal["cohort", "sequential"]
"""``cohort``: the clients of a cohort train in one set of batched tensor operations; ``sequential``: one at a
time, the per-client reference the cohort path is tested against."""


@dataclass(frozen=True)
class MFShape:
    """An embedding model's shape: ``dim`` factors per user and item, initialised from N(0, ``init_std``^2)."""

    dim: int
    init_std: float


@dataclass(frozen=True)
class LocalTraining:
    """How each client trains in a round: ``epochs`` over its examples in minibatches of ``batch_size`` with its
    own optimizer, shuffled from ``seed``; ``l2`` penalises the biases and embeddings each example uses; the
    client algorithm's ``objective`` (FedProx's proximal term) is added to every step's loss."""

    epochs: int
    batch_size: int
    optimizer: OptimizerSettings
    seed: int
    l2: float = 0.0
    objective: LocalObjective = field(default_factory=PlainObjective)

    def plain(self, epochs: int | None = None) -> LocalTraining:
        """The same training with no client term (fine-tuning a personal copy), for ``epochs`` if given."""
        return replace(self, epochs=self.epochs if epochs is None else epochs, objective=PlainObjective())


@dataclass(frozen=True)
class CohortData:
    """The training examples of a cohort, grouped by client in the order of ``client_ids``."""

    client_ids: np.ndarray  # [C]
    counts: np.ndarray  # [C] examples per client
    items: np.ndarray  # [n] item index of each example
    ratings: np.ndarray  # [n]


@dataclass(frozen=True)
class CohortResult:
    updates: ClientUpdates
    user_emb: Tensor  # [C, d], new private state, in the order of updates.client_ids
    user_bias: Tensor  # [C]
    personal: dict[str, Tensor] = field(default_factory=dict)  # [C, ...] weights that stay on the client
