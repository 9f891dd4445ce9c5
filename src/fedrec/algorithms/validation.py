"""Checks every incoming update before it may touch the model.

A client may be broken or hostile: an update whose clients are unknown, whose tensors have the wrong
names, shapes or dtypes, hold NaN or infinity, address rows outside the table or the same row twice, or
claim more examples than the client joined with, is refused with the reason, and the model is untouched.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import torch
from torch import Tensor

from fedrec.payloads import ClientUpdates, GlobalModel, MetricSums


class Registry(Protocol):
    """The clients that joined (the server's registry): batched membership and example counts."""

    def known(self, ids: np.ndarray) -> np.ndarray: ...

    def counts_of(self, ids: np.ndarray) -> np.ndarray: ...


class UpdateCheck:
    def problem(self, update: object, model: GlobalModel, registered: Registry) -> str | None:
        if isinstance(update, MetricSums):
            return _metrics_problem(update, registered)
        if not isinstance(update, ClientUpdates):
            return f"expected client updates, got {type(update).__name__}"
        return _clients_problem(update.client_ids, registered) or _update_problem(update, model, registered)


def _clients_problem(ids: np.ndarray, registered: Registry) -> str | None:
    if len(ids) == 0 or len(np.unique(ids)) != len(ids):
        return "no client ids, or the same client twice"
    unknown = ids[~registered.known(ids)]
    return f"clients {unknown[:5].tolist()} never joined" if len(unknown) else None


def _update_problem(update: ClientUpdates, model: GlobalModel, registered: Registry) -> str | None:
    n = len(update.client_ids)
    claimed = torch.from_numpy(registered.counts_of(update.client_ids)).double()
    counts = update.num_examples
    if counts.shape != (n,) or not _finite(counts) or bool((counts <= 0).any()) or bool((counts > claimed).any()):
        return "num_examples must be one positive count per client, at most what the client joined with"
    dense_names = set(model.params) - model.row_sparse
    if set(update.dense) != dense_names or set(update.rows.values) != set(model.row_sparse):
        return f"expected tensors {sorted(dense_names)} and rows of {sorted(model.row_sparse)}"
    for name, delta in update.dense.items():
        problem = _tensor_problem(name, delta, (n, *model.params[name].shape), model.params[name].dtype)
        if problem:
            return problem
    return _rows_problem(update, model, n)


def _rows_problem(update: ClientUpdates, model: GlobalModel, n: int) -> str | None:
    rows = update.rows
    length = rows.index.shape[0] if rows.index.dim() == 1 else -1
    if length < 0 or rows.owner.shape != (length,) or rows.weight.shape != (length,):
        return "row owner, index and weight must be vectors of one length"
    if rows.owner.dtype != torch.int64 or rows.index.dtype != torch.int64:
        return "row owner and index must be int64"
    if length and (int(rows.owner.min()) < 0 or int(rows.owner.max()) >= n):
        return "a row names an owner outside the update's clients"
    if not _finite(rows.weight) or bool((rows.weight <= 0).any()):
        return "row weights must be positive and finite"
    for name, values in rows.values.items():
        table = model.params[name]
        if length and (int(rows.index.min()) < 0 or int(rows.index.max()) >= table.shape[0]):
            return f"a row index is outside {name} (0..{table.shape[0] - 1})"
        problem = _tensor_problem(name, values, (length, *table.shape[1:]), table.dtype)
        if problem:
            return problem
    if length and len(torch.unique(rows.owner * (1 << 32) + rows.index)) != length:
        return "a client sent the same row twice"
    return None


def _tensor_problem(name: str, value: Tensor, shape: tuple[int, ...], dtype: torch.dtype) -> str | None:
    if tuple(value.shape) != shape or value.dtype != dtype:
        return f"{name} has shape {tuple(value.shape)} {value.dtype}, expected {shape} {dtype}"
    if not _finite(value):
        return f"{name} holds NaN or infinite values"
    return None


def _metrics_problem(sums: MetricSums, registered: Registry) -> str | None:
    problem = _clients_problem(sums.client_ids, registered)
    if problem:
        return problem
    for name, values in sums.sums.items():
        per_client = values.dim() in (1, 2) and values.shape[0] == len(sums.client_ids)
        if not per_client or not _finite(values) or bool((values < 0).any()):
            return f"metric sum {name} must be one finite, non-negative value (or row) per client"
    return None


def _finite(value: Tensor) -> bool:
    return bool(torch.isfinite(value).all()) if value.is_floating_point() else True
