"""Typed payloads that carry tensors between workers: the global model, client updates, metric sums.

Each payload reports ``nbytes``, what it occupies on the wire, so traffic can be counted the same way in
simulation and over a network. Payloads that speak for several clients carry one entry per client.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor


def _tensor_bytes(tensors: dict[str, Tensor]) -> int:
    return sum(t.numel() * t.element_size() for t in tensors.values())


@dataclass(frozen=True)
class GlobalModel:
    """The federated parameters. Tables named in ``row_sparse`` are updated by rows."""

    params: dict[str, Tensor]
    row_sparse: frozenset[str] = frozenset()

    @property
    def nbytes(self) -> int:
        """Bytes of the model's tensors (what a broadcast carries per receiver)."""
        return _tensor_bytes(self.params)

    def replace(self, params: dict[str, Tensor]) -> GlobalModel:
        """The same model with ``params`` (the row-sparse names kept)."""
        return GlobalModel(params, self.row_sparse)


@dataclass(frozen=True)
class RowDeltas:
    """Changes to rows of row-sparse tables: entry j changes row ``index[j]`` for client ``owner[j]``.

    ``weight[j]`` is how many of the owner's examples touched that row (its FedAvg weight for the row).
    """

    owner: Tensor  # int64 [L], position in ClientUpdates.client_ids
    index: Tensor  # int64 [L]
    weight: Tensor  # float32 [L]
    values: dict[str, Tensor]  # name -> [L, *row_shape]

    @property
    def nbytes(self) -> int:
        # owner is implied by the sender on the wire; index, weight and values are sent
        """Bytes of the rows, their owners, indices, weights and values."""
        return int(self.index.numel() * 4 + self.weight.numel() * 4 + _tensor_bytes(self.values))

    def with_values(self, values: dict[str, Tensor]) -> RowDeltas:
        """The same rows (owners, indices, weights) carrying other values, ``[L, *row_shape]`` each."""
        return RowDeltas(self.owner, self.index, self.weight, values)


def scatter_rows(index: Tensor, values: Tensor, num_rows: int, owner: Tensor | None = None, clients: int = 0) -> Tensor:
    """The one scatter of row deltas into full tables: ``values`` ``[L, *row_shape]`` added at rows ``index``
    into a zero table ``[num_rows, *row_shape]``; with ``owner`` (``[L]``, in ``range(clients)``), into one
    table per client, ``[clients, num_rows, *row_shape]``. Rows addressed twice add up."""
    if owner is None:
        return torch.zeros(num_rows, *values.shape[1:], dtype=values.dtype).index_add_(0, index, values)
    tables = torch.zeros(clients, num_rows, *values.shape[1:], dtype=values.dtype)
    return tables.index_put_((owner, index), values, accumulate=True)


def _empty_rows() -> RowDeltas:
    return RowDeltas(torch.empty(0, dtype=torch.int64), torch.empty(0, dtype=torch.int64), torch.empty(0), {})


@dataclass(frozen=True)
class StackedRows:
    """Whose each row of a cohort's stacked copy of a weight is: ``clients`` int64 ``[rows]``; ``items`` int64
    ``[rows]``, the table row each copies (None for a weight every client holds whole, one row per client);
    ``controlled`` bool ``[rows]``, the rows a client term with per-client state may correct and keep state for
    (None: all; the ranking task's sampled negatives are not, being new rows each round)."""

    clients: np.ndarray
    items: np.ndarray | None = None
    controlled: np.ndarray | None = None


@dataclass(frozen=True)
class ClientUpdates:
    """Updates of one or more clients: dense deltas ``[n, *shape]`` and row deltas for sparse tables."""

    client_ids: np.ndarray  # int64 [n]
    num_examples: Tensor  # float32 [n]
    dense: dict[str, Tensor]
    rows: RowDeltas = field(default_factory=_empty_rows)

    @property
    def nbytes(self) -> int:
        """Bytes the updates carry."""
        return int(self.num_examples.numel() * 4 + _tensor_bytes(self.dense) + self.rows.nbytes)

    def select(self, positions: np.ndarray) -> ClientUpdates:
        """The updates of the clients at ``positions`` (in that order): a batch split by arrival time."""
        keep = torch.from_numpy(np.asarray(positions, dtype=np.int64))
        new_position = torch.full((len(self.client_ids),), -1, dtype=torch.int64)
        new_position[keep] = torch.arange(len(keep))
        mine = new_position[self.rows.owner] >= 0
        rows = RowDeltas(
            new_position[self.rows.owner[mine]],
            self.rows.index[mine],
            self.rows.weight[mine],
            {k: v[mine] for k, v in self.rows.values.items()},
        )
        dense = {k: v[keep] for k, v in self.dense.items()}
        return ClientUpdates(self.client_ids[positions], self.num_examples[keep], dense, rows)

    def reweighted(self, factor: np.ndarray) -> ClientUpdates:
        """Every client's aggregation weight (its example count, and its rows' weights) times its ``factor``."""
        f = torch.from_numpy(np.asarray(factor, dtype=np.float64))
        rows = RowDeltas(
            self.rows.owner, self.rows.index, self.rows.weight * f[self.rows.owner].to(self.rows.weight.dtype),
            self.rows.values,
        )  # fmt: skip
        return ClientUpdates(self.client_ids, self.num_examples * f.to(self.num_examples.dtype), self.dense, rows)

    def discounted(self, factor: np.ndarray) -> ClientUpdates:
        """Every client's deltas scaled by its ``factor`` (FedBuff's staleness discount), weights kept."""
        f = torch.from_numpy(np.asarray(factor, dtype=np.float64))

        def scale(v: Tensor, owner: Tensor) -> Tensor:
            return v * f[owner].to(v.dtype).reshape(-1, *([1] * (v.dim() - 1)))

        every = torch.arange(len(self.client_ids))
        dense = {k: scale(v, every) for k, v in self.dense.items()}
        rows = RowDeltas(
            self.rows.owner,
            self.rows.index,
            self.rows.weight,
            {k: scale(v, self.rows.owner) for k, v in self.rows.values.items()},
        )
        return ClientUpdates(self.client_ids, self.num_examples, dense, rows)

    def non_finite(self) -> np.ndarray:
        """bool ``[n]``: the clients whose deltas, counts or row weights hold NaN or infinity (a device whose
        training diverged). Secure aggregation must leave them out before encoding, where they would vanish
        into the sum unseen."""
        bad = ~torch.isfinite(self.num_examples.double())
        for delta in self.dense.values():
            if delta.is_floating_point() and delta.numel():
                bad |= ~torch.isfinite(delta.reshape(delta.shape[0], -1)).all(1)
        rows_bad = ~torch.isfinite(self.rows.weight.double())
        for values in self.rows.values.values():
            if values.is_floating_point() and values.numel():
                rows_bad |= ~torch.isfinite(values.reshape(values.shape[0], -1)).all(1)
        bad[self.rows.owner[rows_bad]] = True
        return bad.numpy()

    @staticmethod
    def concat(parts: list[ClientUpdates]) -> ClientUpdates:
        """One batch of the ``parts`` (their clients in order); the row owners are renumbered."""
        if len(parts) == 1:
            return parts[0]
        offsets = np.cumsum([0] + [len(p.client_ids) for p in parts[:-1]])
        rows = RowDeltas(
            owner=torch.cat([p.rows.owner + int(o) for p, o in zip(parts, offsets, strict=True)]),
            index=torch.cat([p.rows.index for p in parts]),
            weight=torch.cat([p.rows.weight for p in parts]),
            values={k: torch.cat([p.rows.values[k] for p in parts]) for k in parts[0].rows.values},
        )
        return ClientUpdates(
            client_ids=np.concatenate([p.client_ids for p in parts]),
            num_examples=torch.cat([p.num_examples for p in parts]),
            dense={k: torch.cat([p.dense[k] for p in parts]) for k in parts[0].dense},
            rows=rows,
        )


@dataclass(frozen=True)
class MetricSums:
    """Per-client sums of evaluation quantities (e.g. squared error, count); only sums leave a client."""

    client_ids: np.ndarray
    sums: dict[str, Tensor]  # name -> float64 [n]

    @property
    def nbytes(self) -> int:
        """Bytes the sums carry."""
        return _tensor_bytes(self.sums)

    def total(self, name: str) -> float:
        """The sum of ``name`` over every client."""
        return float(self.sums[name].sum())

    def select(self, positions: np.ndarray) -> MetricSums:
        """The sums of the clients at ``positions``."""
        keep = torch.from_numpy(np.asarray(positions, dtype=np.int64))
        return MetricSums(self.client_ids[positions], {k: v[keep] for k, v in self.sums.items()})
