"""What leaves a device under DP: the task's update, clipped, and under local DP noised over the whole table.

``PrivateUploads`` wraps a task where the client host expects its trainer, so the task stays unaware: the
host hands it the cohort's updates and sends what comes back. Under user-level DP each client clips its own
update (the server clips again, so a client that skips this cannot raise its sensitivity). Under local DP
each device adds the Gaussian noise itself, to every coordinate of every federated parameter: its upload then
covers the whole item table, because an upload that names only the rated rows would reveal them however
noisy their values.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import numpy as np
import torch

from fedrec.payloads import ClientUpdates, GlobalModel, RowDeltas, scatter_rows
from fedrec.privacy.clipping import clip_updates
from fedrec.privacy.noise import client_gaussian


class Trainer(Protocol):
    """What a client host asks of its task (train, evaluate, count examples); ``PrivateUploads`` wraps one."""

    def num_examples(self, client_ids: np.ndarray) -> np.ndarray:
        """int64 ``[len(client_ids)]``: each client's training examples."""
        ...

    def train(self, client_ids: np.ndarray, model: GlobalModel, round_index: int) -> ClientUpdates:
        """The clients' updates for round ``round_index`` from ``model``."""
        ...

    def evaluate(self, client_ids: np.ndarray, model: GlobalModel) -> Any:
        """The clients' metric sums on ``model``."""
        ...


def whole_tables(updates: ClientUpdates, model: GlobalModel) -> ClientUpdates:
    """Every client's row deltas spread over every row of each table (zeros where it trained nothing)."""
    rows, n = updates.rows, len(updates.client_ids)
    values = {}
    num_rows = 0
    for name, delta in rows.values.items():
        table = model.params[name]
        num_rows = table.shape[0]
        full = scatter_rows(rows.index, delta, num_rows, rows.owner, n)
        values[name] = full.reshape(n * num_rows, *table.shape[1:])
    if not values:
        return updates
    owner = torch.arange(n).repeat_interleave(num_rows)
    index = torch.arange(num_rows).repeat(n)
    spread = RowDeltas(owner, index, torch.ones(n * num_rows), values)
    return ClientUpdates(updates.client_ids, updates.num_examples, updates.dense, spread)


def add_noise(updates: ClientUpdates, std: float, draw: Callable[[int, int], torch.Tensor]) -> ClientUpdates:
    """Every value of every client's (whole-table) update plus noise; ``draw(size, stream)`` gives each
    client's ``[clients, size]`` standard normals."""
    n = len(updates.client_ids)
    names = sorted(updates.dense) + sorted(updates.rows.values)

    def noisy(name: str, t: torch.Tensor) -> torch.Tensor:
        per_client = t.numel() // n  # rows come grouped by client (``whole_tables``)
        noise = draw(per_client, names.index(name)).reshape(t.shape)
        return t + (std * noise).to(t.dtype)

    rows = updates.rows
    noised = rows.with_values({k: noisy(k, v) for k, v in rows.values.items()})
    dense = {k: noisy(k, v) for k, v in updates.dense.items()}
    return ClientUpdates(updates.client_ids, updates.num_examples, dense, noised)


class PrivateUploads(Trainer):
    """A task behind clipping (each client's whole update to L2 norm ``clip_norm``) and, for local DP, Gaussian noise
    of std ``noise_multiplier * clip_norm`` on the device over the whole item table (an upload that named only
    the rated rows would reveal them). ``secure``: noise from the OS, as on a real device."""

    def __init__(
        self, task: Trainer, clip_norm: float, local_noise: float | None = None, seed: int = 0, secure: bool = False
    ) -> None:
        self.task = task
        self.clip_norm = clip_norm
        self.local_noise = local_noise  # noise multiplier each device applies itself (local DP)
        self.seed = seed
        self.secure = secure  # draw noise from the OS (real devices), not from the run's seed

    def num_examples(self, client_ids: np.ndarray) -> np.ndarray:
        return self.task.num_examples(client_ids)

    def evaluate(self, client_ids: np.ndarray, model: GlobalModel) -> Any:
        return self.task.evaluate(client_ids, model)

    def train(self, client_ids: np.ndarray, model: GlobalModel, round_index: int) -> ClientUpdates:
        updates = clip_updates(self.task.train(client_ids, model, round_index), self.clip_norm)
        if self.local_noise is None:
            return updates
        # every client weighs the same: its example count would otherwise leave the device un-noised
        even = ClientUpdates(updates.client_ids, torch.ones(len(updates.client_ids)), updates.dense, updates.rows)
        ids = updates.client_ids

        def draw(size: int, stream: int) -> torch.Tensor:
            return client_gaussian(ids, size, self.seed, round_index, stream, self.secure)

        return add_noise(whole_tables(even, model), self.local_noise * self.clip_norm, draw)
