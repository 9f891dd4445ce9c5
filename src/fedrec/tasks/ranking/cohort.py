"""Local training of MF for ranking (BPR or BCE with sampled negatives) for a whole cohort at once.

Score s(u, i) = <p_u, q_i> + b_i. Each client draws ``num_negatives`` negatives per positive per epoch
(``negatives``), shuffles its positives, and takes minibatch steps on the batch mean of
BPR: -log sigmoid(s(u, pos) - s(u, neg)), or BCE: -log sigmoid(s(u, pos)) - log sigmoid(-s(u, neg)),
averaged over its negatives, plus ``l2`` times the squared norms of the parameters each example uses.
``ranking_sequential`` is the per-client reference.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
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
from fedrec.payloads import GlobalModel, StackedRows
from fedrec.tasks.ranking.negatives import draw_negatives

RANKING_TABLES = ("item_emb", "item_bias")
Loss = Literal["bpr", "bce"]


@dataclass(frozen=True)
class RankingTraining:
    local: LocalTraining
    loss: Loss = "bpr"
    num_negatives: int = 1


def example_items(
    data: CohortData, spec: RankingTraining, round_index: int, num_items: int, positive_keys: np.ndarray
) -> np.ndarray:
    """``[n, 1 + epochs * num_negatives]``: each positive, then its negatives for every epoch."""
    owner_ids = np.repeat(data.client_ids, data.counts)
    position = np.arange(len(owner_ids)) - np.repeat(np.cumsum(data.counts) - data.counts, data.counts)
    columns = [data.items[:, None]]
    for epoch in range(spec.local.epochs):
        columns.append(
            draw_negatives(
                spec.local.seed, round_index, epoch, owner_ids, position, spec.num_negatives, num_items, positive_keys
            )
        )
    return np.concatenate(columns, axis=1)


def positives_controlled(layout: dict[str, StackedRows], plan: CohortPlan) -> dict[str, StackedRows]:
    """``layout`` with each table row marked controlled where it is one of its client's positives (a row some
    example references in its first column): a client term with per-client state (SCAFFOLD's ``c_i``) keeps
    state for the items a user interacted with, which it trains every round, and not for sampled negatives,
    which are new rows each round."""
    positive = np.zeros(len(plan.row_item), dtype=bool)
    positive[plan.example_rows[:, 0]] = True
    return {
        name: replace(rows, controlled=positive) if rows.items is not None else rows for name, rows in layout.items()
    }


def train_ranking_cohort(
    data: CohortData,
    user_emb: Tensor,
    model: GlobalModel,
    spec: RankingTraining,
    round_index: int,
    positive_keys: np.ndarray,
    freeze_items: bool = False,
) -> CohortResult:
    """``freeze_items`` fits only the users' own embeddings against the received item table (federated
    reconstruction of a user who took part in no round)."""
    num_items = model.params["item_emb"].shape[0]
    refs = example_items(data, spec, round_index, num_items, positive_keys)
    local = spec.local
    plan = plan_cohort(data.client_ids, data.counts, refs, num_items, local.batch_size)
    start = start_params(plan, model, {"user_emb": user_emb}, RANKING_TABLES)
    params = {k: v.clone() for k, v in start.items()}
    owners = {"user_emb": torch.arange(len(plan.counts))}
    owners |= {k: torch.from_numpy(plan.row_owner) for k in RANKING_TABLES}
    optimizer = CohortOptimizer(local.optimizer, params, owners, decayed=set(owners))
    owner, rows = torch.from_numpy(plan.owner), torch.from_numpy(plan.example_rows)
    anchors = {} if freeze_items else {name: start[name] for name in RANKING_TABLES}  # received rows
    layout = positives_controlled(stacked_layout(plan, RANKING_TABLES), plan)
    local.objective.begin_rows({} if freeze_items else layout, model)
    k = spec.num_negatives
    for epoch in range(local.epochs):
        negative_cols = slice(1 + epoch * k, 1 + (epoch + 1) * k)
        for step, chosen_np in enumerate(epoch_steps(plan, local.seed, round_index, epoch, local.batch_size)):
            chosen = torch.from_numpy(chosen_np)
            active, active_rows = plan.active(step)
            grads = ranking_gradients(
                params,
                owner[chosen],
                rows[chosen, 0],
                rows[chosen, negative_cols],
                active,
                active_rows,
                spec.loss,
                local.l2,
            )
            if freeze_items:
                grads = {"user_emb": grads["user_emb"]}
            sizes = {"user_emb": active, "item_emb": active_rows, "item_bias": active_rows}
            local.objective.add_gradients(grads, params, anchors, sizes)
            optimizer.step(grads, active, sizes)
    deltas = row_updates(plan, start, params, RANKING_TABLES)
    tables = {} if freeze_items else {name: params[name] for name in RANKING_TABLES}
    steps = local_steps(plan, local.epochs, RANKING_TABLES)
    deltas.values.update(local.objective.finish_rows(anchors, tables, steps))  # SCAFFOLD's control changes
    return CohortResult(client_updates(plan, deltas), params["user_emb"], torch.zeros(len(plan.counts)))


def ranking_gradients(
    params: dict[str, Tensor],
    client: Tensor,
    pos: Tensor,
    neg: Tensor,
    active: int,
    active_rows: int,
    loss: Loss,
    l2: float,
) -> dict[str, Tensor]:
    """Gradients of each client's batch-mean ranking loss, for the active prefix of the rows."""
    u, emb, bias = params["user_emb"][client], params["item_emb"], params["item_bias"]
    scale = 1.0 / torch.bincount(client, minlength=active).to(u.dtype)[client]
    k = neg.shape[1]
    s_pos = (u * emb[pos]).sum(-1) + bias[pos]
    s_neg = (u.unsqueeze(1) * emb[neg]).sum(-1) + bias[neg]  # [b, k]
    if loss == "bpr":
        g_neg = torch.sigmoid(s_neg - s_pos.unsqueeze(1)) / k  # d/ds_neg of mean_k softplus(s_neg - s_pos)
        g_pos = -g_neg.sum(1)
    else:
        g_pos = -torch.sigmoid(-s_pos)
        g_neg = torch.sigmoid(s_neg) / k
    g_pos, g_neg = g_pos * scale, g_neg * scale.unsqueeze(1)
    reg = 2.0 * l2 * scale
    grad_u = g_pos.unsqueeze(1) * emb[pos] + (g_neg.unsqueeze(2) * emb[neg]).sum(1) + reg.unsqueeze(1) * u
    grad_emb = torch.zeros(active_rows, u.shape[1], dtype=u.dtype)
    grad_emb.index_add_(0, pos, g_pos.unsqueeze(1) * u + reg.unsqueeze(1) * emb[pos])
    grad_emb.index_add_(
        0,
        neg.reshape(-1),
        (g_neg.unsqueeze(2) * u.unsqueeze(1) + (reg / k).reshape(-1, 1, 1) * emb[neg]).reshape(-1, u.shape[1]),
    )
    grad_bias = torch.zeros(active_rows, dtype=u.dtype)
    grad_bias.index_add_(0, pos, g_pos + reg * bias[pos])
    grad_bias.index_add_(0, neg.reshape(-1), (g_neg + (reg / k).unsqueeze(1) * bias[neg]).reshape(-1))
    return {
        "user_emb": torch.zeros(active, u.shape[1], dtype=u.dtype).index_add_(0, client, grad_u),
        "item_emb": grad_emb,
        "item_bias": grad_bias,
    }
