"""The per-client reference for ``cohort``: one client at a time, with autograd and ``torch.optim``.

This is what a device runs when it hosts a single client, and the yardstick the cohort path is tested
against: the same seeded round run both ways must give the same updates.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from fedrec.engine.objective import correct_gradients
from fedrec.engine.types import CohortData, CohortResult, LocalTraining
from fedrec.models.mf import BiasedMF
from fedrec.payloads import ClientUpdates, GlobalModel, RowDeltas, StackedRows
from fedrec.rng import shuffle_keys
from fedrec.tasks.rating.cohort import ITEM_TABLES
from fedrec.tasks.rating.step import mf_optimizer, mf_step


def train_mf_client(
    client_id: int,
    items: np.ndarray,
    ratings: np.ndarray,
    user_emb: Tensor,
    user_bias: Tensor,
    model: GlobalModel,
    local: LocalTraining,
    round_index: int,
) -> tuple[ClientUpdates, Tensor, Tensor]:
    """Train one client; returns its update and its new private (user_emb [d], user_bias [])."""
    row_item, example_row = np.unique(items, return_inverse=True)
    rows = torch.from_numpy(row_item)
    item_side = {name: model.params[name][rows] for name in ITEM_TABLES}
    item_side["global_bias"] = model.params["global_bias"]
    net = BiasedMF({"user_emb": user_emb.unsqueeze(0), "user_bias": user_bias.reshape(1)}, item_side)
    optimizer = mf_optimizer(net, local.optimizer)
    target = torch.from_numpy(ratings).to(net.item_emb.dtype)
    example_rows = torch.from_numpy(example_row)
    user = torch.zeros(len(items), dtype=torch.int64)
    positions = np.arange(len(items))
    anchors = GlobalModel({k: v.detach().clone() for k, v in item_side.items()})
    weights: dict[str, Tensor] = {"item_emb": net.item_emb, "item_bias": net.item_bias, "global_bias": net.global_bias}
    clients = np.array([client_id])

    def term() -> Tensor:
        return local.objective.penalty(clients, weights, anchors)

    table_rows = StackedRows(np.full(len(row_item), client_id), row_item)
    local.objective.begin_rows(
        {"item_emb": table_rows, "item_bias": table_rows, "global_bias": StackedRows(clients)}, model
    )

    def correct() -> None:  # the term's gradient on the autograd gradients (SCAFFOLD's g + c - c_i)
        correct_gradients(local.objective, weights)

    steps = 0
    for epoch in range(local.epochs):
        keys = shuffle_keys(local.seed, round_index, epoch, np.full(len(items), client_id), positions)
        order = torch.from_numpy(np.argsort(keys, kind="stable"))
        for batch in torch.split(order, local.batch_size):
            mf_step(net, optimizer, user[batch], example_rows[batch], target[batch], local.l2, term, correct)
            steps += 1
    with torch.no_grad():
        as_rows = {"item_emb": lambda t: t, "item_bias": lambda t: t, "global_bias": lambda t: t.reshape(1, 1)}
        began = {k: as_rows[k](v) for k, v in anchors.params.items()}
        ended = {k: as_rows[k](w.detach()) for k, w in weights.items()}
        counts = {k: torch.full((len(v),), steps) for k, v in began.items()}
        uploads = local.objective.finish_rows(began, ended, counts)  # SCAFFOLD's control changes
        update = ClientUpdates(
            client_ids=np.array([client_id]),
            num_examples=torch.tensor([float(len(items))]),
            dense={"global_bias": (net.global_bias - item_side["global_bias"]).reshape(1, 1)}
            | {k: v for k, v in uploads.items() if k.endswith("global_bias")},
            rows=RowDeltas(
                owner=torch.zeros(len(row_item), dtype=torch.int64),
                index=rows,
                weight=torch.from_numpy(np.bincount(example_row).astype(np.float32)),
                values={
                    "item_emb": net.item_emb - item_side["item_emb"],
                    "item_bias": net.item_bias - item_side["item_bias"],
                }
                | {k: v for k, v in uploads.items() if not k.endswith("global_bias")},
            ),
        )
        return update, net.user_emb[0].detach().clone(), net.user_bias[0].detach().clone()


def train_mf_sequentially(
    data: CohortData,
    user_emb: Tensor,
    user_bias: Tensor,
    model: GlobalModel,
    local: LocalTraining,
    round_index: int,
) -> CohortResult:
    """Each client of ``data`` trained on its own, one after the other."""
    ends = np.cumsum(data.counts)
    updates, embs, biases = [], [], []
    for k, client_id in enumerate(data.client_ids.tolist()):
        span = slice(int(ends[k] - data.counts[k]), int(ends[k]))
        update, emb, bias = train_mf_client(
            client_id,
            data.items[span],
            data.ratings[span],
            user_emb[k],
            user_bias[k],
            model,
            local,
            round_index,
        )
        updates.append(update)
        embs.append(emb)
        biases.append(bias)
    return CohortResult(ClientUpdates.concat(updates), torch.stack(embs), torch.stack(biases))
