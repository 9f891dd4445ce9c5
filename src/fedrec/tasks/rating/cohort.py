"""Local training of biased MF for a whole cohort of clients in batched tensor operations.

Semantics are those of separate clients: each client starts from the received item side and its own
private user state, shuffles its own examples (see ``shuffle``), takes minibatch steps with its own
optimizer on its own copy of the rows it trains, and reports the change. Only the execution is shared:
step t of every client runs in one set of tensor operations. ``sequential`` is the per-client reference.
"""

from __future__ import annotations

import torch
from torch import Tensor

from fedrec.engine.optim import CohortOptimizer
from fedrec.engine.plan import (
    CohortPlan,
    client_updates,
    epoch_steps,
    local_steps,
    plan_cohort,
    row_updates,
    stacked_layout,
    start_params,
)
from fedrec.engine.types import CohortData, CohortResult, LocalTraining
from fedrec.models.mf import predict
from fedrec.payloads import GlobalModel

ITEM_TABLES = ("item_emb", "item_bias")
USER_PARAMS = ("user_emb", "user_bias")


def train_mf_cohort(
    data: CohortData,
    user_emb: Tensor,
    user_bias: Tensor,
    model: GlobalModel,
    local: LocalTraining,
    round_index: int,
) -> CohortResult:
    """One round of local training of biased MF for a cohort: each client from the received item side and its own user
    state (``user_emb [C, d]``, ``user_bias [C]``), minibatch steps with its own optimizer, shuffled its own
    way; the clients' updates and new private state."""
    num_items = model.params["item_emb"].shape[0]
    plan = plan_cohort(data.client_ids, data.counts, data.items[:, None], num_items, local.batch_size)
    user_side = {"user_emb": user_emb, "user_bias": user_bias}
    start = start_params(plan, model, user_side, ITEM_TABLES)
    start["global_bias"] = model.params["global_bias"].expand(len(plan.counts)).clone()
    params = {k: v.clone() for k, v in start.items()}
    client_rows, item_rows = torch.arange(len(plan.counts)), torch.from_numpy(plan.row_owner)
    owners = {"global_bias": client_rows, "user_bias": client_rows, "user_emb": client_rows}
    owners |= {"item_bias": item_rows, "item_emb": item_rows}
    optimizer = CohortOptimizer(local.optimizer, params, owners, decayed=set(owners) - {"global_bias"})
    anchors = {k: start[k] for k in (*ITEM_TABLES, "global_bias")}  # the received values of the federated weights
    local.objective.begin_rows(stacked_layout(plan, ITEM_TABLES, ("global_bias",)), model)
    ratings = torch.from_numpy(data.ratings[plan.take]).to(params["item_emb"].dtype)
    owner, example_row = torch.from_numpy(plan.owner), torch.from_numpy(plan.example_rows[:, 0])

    for epoch in range(local.epochs):
        for step, chosen_np in enumerate(epoch_steps(plan, local.seed, round_index, epoch, local.batch_size)):
            chosen = torch.from_numpy(chosen_np)
            active, rows = plan.active(step)
            grads = _mf_gradients(params, owner[chosen], example_row[chosen], ratings[chosen], active, rows, local.l2)
            sizes = {k: (rows if k in ITEM_TABLES else active) for k in grads}
            local.objective.add_gradients(grads, params, anchors, sizes)
            optimizer.step(grads, active, sizes)

    dense = {"global_bias": (params["global_bias"] - start["global_bias"]).unsqueeze(1)}
    row_deltas = row_updates(plan, start, params, ITEM_TABLES)
    uploads = _term_uploads(plan, local, start, params)
    dense |= {k: v for k, v in uploads.items() if k.endswith("global_bias")}
    row_deltas.values.update({k: v for k, v in uploads.items() if not k.endswith("global_bias")})
    updates = client_updates(plan, row_deltas, dense)
    return CohortResult(updates, params["user_emb"], params["user_bias"])


def _term_uploads(
    plan: CohortPlan, local: LocalTraining, start: dict[str, Tensor], end: dict[str, Tensor]
) -> dict[str, Tensor]:
    """The client term's uploads (SCAFFOLD's control changes), the global bias's as ``[clients, 1]``."""
    per_row = local_steps(plan, local.epochs, ITEM_TABLES, ("global_bias",))
    shaped = {k: (v.unsqueeze(1) if k == "global_bias" else v) for k, v in start.items()}
    ended = {k: (v.unsqueeze(1) if k == "global_bias" else v) for k, v in end.items()}
    names = (*ITEM_TABLES, "global_bias")
    return local.objective.finish_rows({k: shaped[k] for k in names}, {k: ended[k] for k in names}, per_row)


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
