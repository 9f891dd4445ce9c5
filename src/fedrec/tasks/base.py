"""The task protocol: what a client host asks of the task it hosts, whatever the problem.

A task holds its hosted clients' data and private state (a user's embedding, personal layers) and never sends
them anywhere: ``train`` returns only what an update carries, ``evaluate`` only metric sums. The server never
holds a task with clients; it asks a task without clients for the ``initial_model``.

Built-in tasks: ``RatingTask`` (explicit ratings, biased MF), ``RankingTask`` (implicit feedback, MF and NCF),
``ClassificationTask`` (images and tables), ``NodeClassificationTask`` (graphs). An extension implements this
protocol and registers a ``fedrec.experiment.task_spec.TaskSpec`` that builds it.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
from torch import Tensor

from fedrec.payloads import ClientUpdates, GlobalModel, MetricSums


class Task(Protocol):
    """Training and evaluation of the clients one host holds (client ids are 1-based ``int64``)."""

    def initial_model(self) -> GlobalModel:
        """The global model before round 1 (a ``GlobalModel``)."""
        ...

    def num_examples(self, client_ids: np.ndarray) -> np.ndarray:
        """``int64 [len(client_ids)]``: each hosted client's training examples (its FedAvg weight)."""
        ...

    def train(self, client_ids: np.ndarray, model: GlobalModel, round_index: int) -> ClientUpdates:
        """Train the hosted ``client_ids`` from ``model`` for round ``round_index``; a ``ClientUpdates``
        with one entry per client (deltas, not new values)."""
        ...

    def evaluate(self, client_ids: np.ndarray, model: GlobalModel) -> MetricSums:
        """Each client's metric sums on its own test data (a ``MetricSums``)."""
        ...

    def private_state(self) -> dict[str, Tensor]:
        """What the hosted clients keep between rounds (with ``client_ids``), for checkpoints."""
        ...

    def load_private_state(self, state: dict[str, Tensor]) -> None:
        """Resume from ``private_state()``; raises ``RunFolderError`` when it is of other clients."""
        ...
