"""Local training of biased MF for a whole cohort of clients in batched tensor operations.

Semantics are those of separate clients: each client starts from the received item side and its own
private user state, shuffles its own examples (see ``shuffle``), takes minibatch steps with its own
optimizer on its own copy of the rows it trains, and reports the change. Only the execution is shared:
step t of every client runs in one set of tensor operations. ``mf_sequential`` is the per-client reference.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from fedrec.models.mf import predict
from fedrec.payloads import ClientUpdates, GlobalModel, RowDeltas
from fedrec.tasks.cohort_optim import CohortOptimizer, OptimizerSettings
from fedrec.tasks.shuffle import shuffle_keys

ITEM_TABLES = ("item_emb", "item_bias")
USER_PARAMS = ("user_emb", "user_bias")


@dataclass(frozen=True)
class LocalTraining:
    epochs: int
    batch_size: int
    optimizer: OptimizerSettings
    seed: int
    l2: float = 0.0  # per-example penalty on the biases and embeddings each example uses


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


def train_mf_cohort(
    data: CohortData,
    user_emb: Tensor,
    user_bias: Tensor,
    model: GlobalModel,
    local: LocalTraining,
    round_index: int,
) -> CohortResult:
    batches = np.maximum(1, -(-data.counts // local.batch_size))
    order = np.lexsort((data.client_ids, -batches))  # clients with more batches first: active ones form a prefix
    data, user_emb, user_bias, batches = (
        _reorder(data, order),
        user_emb[order],
        user_bias[order],
        batches[order],
    )
    owner = np.repeat(np.arange(len(data.counts)), data.counts)
    position = np.arange(len(owner)) - np.repeat(np.cumsum(data.counts) - data.counts, data.counts)

    num_items = model.params["item_emb"].shape[0]
    local_key, example_row = np.unique(owner * num_items + data.items, return_inverse=True)
    row_owner, row_item = local_key // num_items, local_key % num_items
    row_end = np.searchsorted(row_owner, np.arange(len(data.counts)), side="right")

    start = {
        "global_bias": model.params["global_bias"].expand(len(data.counts)).clone(),
        "user_bias": user_bias.clone(),
        "user_emb": user_emb.clone(),
        "item_bias": model.params["item_bias"][torch.from_numpy(row_item)].clone(),
        "item_emb": model.params["item_emb"][torch.from_numpy(row_item)].clone(),
    }
    params = {k: v.clone() for k, v in start.items()}
    client_rows, item_rows = torch.arange(len(data.counts)), torch.from_numpy(row_owner)
    owners = {"global_bias": client_rows, "user_bias": client_rows, "user_emb": client_rows}
    owners |= {"item_bias": item_rows, "item_emb": item_rows}
    optimizer = CohortOptimizer(local.optimizer, params, owners, decayed=set(owners) - {"global_bias"})
    ratings = torch.from_numpy(data.ratings).to(params["item_emb"].dtype)

    for epoch in range(local.epochs):
        keys = shuffle_keys(local.seed, round_index, epoch, data.client_ids[owner], position)
        rank = np.empty(len(owner), dtype=np.int64)
        rank[np.lexsort((keys, owner))] = position
        step_of = rank // local.batch_size
        schedule = np.lexsort((rank, owner, step_of))
        bounds = np.searchsorted(step_of[schedule], np.arange(int(batches[0]) + 1))
        for step in range(int(batches[0])):
            chosen = schedule[bounds[step] : bounds[step + 1]]
            active = int((batches > step).sum())
            rows = int(row_end[active - 1])
            grads = _mf_gradients(
                params,
                torch.from_numpy(owner[chosen]),
                torch.from_numpy(example_row[chosen]),
                ratings[torch.from_numpy(chosen)],
                active,
                rows,
                local.l2,
            )
            optimizer.step(grads, active, {k: (rows if k in ITEM_TABLES else active) for k in grads})

    weight = torch.from_numpy(np.bincount(example_row, minlength=len(row_owner)).astype(np.float32))
    updates = ClientUpdates(
        client_ids=data.client_ids,
        num_examples=torch.from_numpy(data.counts.astype(np.float32)),
        dense={"global_bias": (params["global_bias"] - start["global_bias"]).unsqueeze(1)},
        rows=RowDeltas(
            owner=item_rows,
            index=torch.from_numpy(row_item),
            weight=weight,
            values={k: params[k] - start[k] for k in ITEM_TABLES},
        ),
    )
    return CohortResult(updates, params["user_emb"], params["user_bias"])


def _mf_gradients(
    params: dict[str, Tensor],
    client: Tensor,
    row: Tensor,
    rating: Tensor,
    active: int,
    active_rows: int,
    l2: float,
) -> dict[str, Tensor]:
    """Gradients of each client's batch-mean objective ``(pred - r)^2 + l2 * (b_u^2 + b_i^2 + |p_u|^2 + |q_i|^2)``
    for the active prefix of the rows."""
    bu, u, bi, v = (
        params["user_bias"][client],
        params["user_emb"][client],
        params["item_bias"][row],
        params["item_emb"][row],
    )
    err = predict(params["global_bias"][client], bu, u, bi, v) - rating
    scale = 2.0 / torch.bincount(client, minlength=active).to(err.dtype)[client]
    w = (scale * err).unsqueeze(1)
    reg = (scale * l2).unsqueeze(1)
    dim = u.shape[1]
    return {
        "global_bias": torch.zeros(active, dtype=err.dtype).index_add_(0, client, w[:, 0]),
        "user_bias": torch.zeros(active, dtype=err.dtype).index_add_(0, client, w[:, 0] + reg[:, 0] * bu),
        "user_emb": torch.zeros(active, dim, dtype=err.dtype).index_add_(0, client, w * v + reg * u),
        "item_bias": torch.zeros(active_rows, dtype=err.dtype).index_add_(0, row, w[:, 0] + reg[:, 0] * bi),
        "item_emb": torch.zeros(active_rows, dim, dtype=err.dtype).index_add_(0, row, w * u + reg * v),
    }


def _reorder(data: CohortData, order: np.ndarray) -> CohortData:
    starts = np.cumsum(data.counts) - data.counts
    counts = data.counts[order]
    take = np.repeat(starts[order], counts) + (np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts))
    return CohortData(data.client_ids[order], counts, data.items[take], data.ratings[take])
