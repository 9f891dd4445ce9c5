"""Local training of NCF models for ranking: a whole cohort at once, and the per-client reference.

The cohort path lays step t of every active client out as a padded ``[clients, batch]`` block, each client
using its own copy of the shared weights (stacked along the first axis), and lets autograd differentiate
the sum of the clients' batch-mean losses, whose gradient for each client's copy is that client's own.
The sequential path trains one client at a time with ``torch.optim``; both must agree.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from fedrec.engine.objective import correct_gradients
from fedrec.engine.optim import CohortOptimizer
from fedrec.engine.plan import (
    client_updates,
    epoch_steps,
    local_steps,
    plan_cohort,
    row_updates,
    stacked_layout,
    start_params,
)
from fedrec.engine.types import CohortData, CohortResult
from fedrec.models.ncf import ncf_scores
from fedrec.payloads import ClientUpdates, GlobalModel, RowDeltas, StackedRows
from fedrec.rng import shuffle_keys
from fedrec.tasks.ranking.cohort import RANKING_TABLES, RankingTraining, example_items, positives_controlled


def shared_weights(model: GlobalModel) -> list[str]:
    """The NCF weights every client trains whole (the towers); a name with a dot is a client term's, not a
    weight (SCAFFOLD's ``control.<name>`` travels in the model)."""
    return [n for n in model.params if n not in RANKING_TABLES and "." not in n]


def pair_loss(s_pos: Tensor, s_neg: Tensor, loss: str) -> Tensor:
    """Per-example BPR or BCE loss over a positive [..] and its negatives [.., k]."""
    if loss == "bpr":
        return nn.functional.softplus(s_neg - s_pos.unsqueeze(-1)).mean(-1)
    return nn.functional.softplus(-s_pos) + nn.functional.softplus(s_neg).mean(-1)


def penalty(user: Tensor, emb_pos: Tensor, bias_pos: Tensor, emb_neg: Tensor, bias_neg: Tensor) -> Tensor:
    """Squared norms of the user vector and the item rows an example uses (negatives averaged)."""
    own = (user**2).sum(-1) + (emb_pos**2).sum(-1) + bias_pos**2  # user: [..., 1, d]
    return own + ((emb_neg**2).sum(-1) + bias_neg**2).mean(-1)


def train_ncf_cohort(
    kind: str,
    data: CohortData,
    user_emb: Tensor,
    model: GlobalModel,
    spec: RankingTraining,
    round_index: int,
    keys: np.ndarray,
    personal: dict[str, Tensor] | None = None,
) -> CohortResult:
    """``personal`` holds each client's own copy [C, ...] of weights it keeps and never uploads."""
    num_items = model.params["item_emb"].shape[0]
    local, k = spec.local, spec.num_negatives
    plan = plan_cohort(
        data.client_ids,
        data.counts,
        example_items(data, spec, round_index, num_items, keys),
        num_items,
        local.batch_size,
    )
    clients = len(plan.counts)
    own = personal or {}
    shared = shared_weights(model)
    start = start_params(plan, model, {"user_emb": user_emb, **own}, RANKING_TABLES)
    start |= {n: model.params[n].expand(clients, *model.params[n].shape).clone() for n in shared}
    params = {n: v.clone().requires_grad_() for n, v in start.items()}
    owners = {n: torch.arange(clients) for n in ["user_emb", *shared, *own]} | {
        n: torch.from_numpy(plan.row_owner) for n in RANKING_TABLES
    }
    optimizer = CohortOptimizer(local.optimizer, params, owners, decayed=set(owners))
    layout = positives_controlled(stacked_layout(plan, RANKING_TABLES, tuple(shared)), plan)
    local.objective.begin_rows(layout, model)
    owner_np, rows = plan.owner, torch.from_numpy(plan.example_rows)
    for epoch in range(local.epochs):
        for step, chosen in enumerate(epoch_steps(plan, local.seed, round_index, epoch, local.batch_size)):
            active, active_rows = plan.active(step)
            slot = np.arange(len(chosen)) - np.searchsorted(owner_np[chosen], owner_np[chosen])  # place in its batch
            grid = (torch.from_numpy(owner_np[chosen]), torch.from_numpy(slot))
            pos = torch.zeros(active, local.batch_size, dtype=torch.int64).index_put_(grid, rows[chosen, 0])
            neg = torch.zeros(active, local.batch_size, k, dtype=torch.int64)
            neg[grid] = rows[chosen, 1 + epoch * k : 1 + (epoch + 1) * k]
            mask = torch.zeros(active, local.batch_size, dtype=params["item_emb"].dtype).index_put_(
                grid, torch.tensor(1.0, dtype=params["item_emb"].dtype)
            )
            total = _cohort_loss(kind, params, [*shared, *own], active, pos, neg, mask, spec)
            total = total + _term(spec, plan.client_ids[:active], params, start, shared, active, active_rows)
            grads = dict(zip(params, torch.autograd.grad(total, list(params.values())), strict=True))
            sizes = {n: active_rows if n in RANKING_TABLES else active for n in grads}
            local.objective.add_gradients(grads, {n: p.detach() for n, p in params.items()}, {}, sizes)
            optimizer.step(grads, active, sizes)
    with torch.no_grad():
        dense = {n: params[n] - start[n] for n in shared}
        deltas = row_updates(plan, start, {n: p.detach() for n, p in params.items()}, RANKING_TABLES)
        federated = (*RANKING_TABLES, *shared)
        uploads = local.objective.finish_rows(
            {n: start[n] for n in federated}, {n: params[n].detach() for n in federated},
            local_steps(plan, local.epochs, RANKING_TABLES, tuple(shared)),
        )  # fmt: skip
        dense |= {n: v for n, v in uploads.items() if n.removeprefix("control.") in shared}
        deltas.values.update({n: v for n, v in uploads.items() if n.removeprefix("control.") in RANKING_TABLES})
        updates = client_updates(plan, deltas, dense)
        kept = {n: params[n].detach() for n in own}
        return CohortResult(updates, params["user_emb"].detach(), torch.zeros(clients), kept)


def _term(
    spec: RankingTraining,
    clients: np.ndarray,
    params: dict[str, Tensor],
    start: dict[str, Tensor],
    shared: list[str],
    active: int,
    active_rows: int,
) -> Tensor:
    """The client algorithm's term on the federated weights the active clients train (stacked copies: the
    gradient of the sum is each client's own), anchored at the values they received."""
    sizes = {n: active for n in shared} | {n: active_rows for n in RANKING_TABLES}
    weights = {n: params[n][:size] for n, size in sizes.items()}
    anchors = GlobalModel({n: start[n][:size] for n, size in sizes.items()})
    return spec.local.objective.penalty(clients, weights, anchors)


def _cohort_loss(
    kind: str,
    params: dict[str, Tensor],
    shared: list[str],
    active: int,
    pos: Tensor,
    neg: Tensor,
    mask: Tensor,
    spec: RankingTraining,
) -> Tensor:
    user, emb, bias = params["user_emb"][:active], params["item_emb"], params["item_bias"]
    weights = {n: params[n][:active] for n in shared}
    batch, k = pos.shape[1], neg.shape[2]
    s_pos = ncf_scores(kind, weights, user, emb[pos], bias[pos])
    s_neg = ncf_scores(kind, weights, user, emb[neg].reshape(active, batch * k, -1), bias[neg].reshape(active, -1))
    per_example = pair_loss(s_pos, s_neg.reshape(active, batch, k), spec.loss)
    per_example = per_example + spec.local.l2 * penalty(user.unsqueeze(1), emb[pos], bias[pos], emb[neg], bias[neg])
    return ((per_example * mask).sum(1) / mask.sum(1)).sum()


def train_ncf_sequentially(
    kind: str,
    data: CohortData,
    user_emb: Tensor,
    model: GlobalModel,
    spec: RankingTraining,
    round_index: int,
    keys: np.ndarray,
    personal: dict[str, Tensor] | None = None,
) -> CohortResult:
    """The per-client reference of ``train_ncf_cohort``: each client alone, with autograd and ``torch.optim``."""
    num_items = model.params["item_emb"].shape[0]
    refs = example_items(data, spec, round_index, num_items, keys)
    ends = np.cumsum(data.counts)
    own = personal or {}
    updates, users, kept = [], [], []
    for j, client in enumerate(data.client_ids.tolist()):
        span = slice(int(ends[j] - data.counts[j]), int(ends[j]))
        mine = {n: v[j] for n, v in own.items()}
        update, user, state = _train_one(kind, client, refs[span], user_emb[j], model, spec, round_index, mine)
        updates.append(update)
        users.append(user)
        kept.append(state)
    stacked = {n: torch.stack([k[n] for k in kept]) for n in own}
    return CohortResult(ClientUpdates.concat(updates), torch.stack(users), torch.zeros(len(users)), stacked)


def _train_one(
    kind: str,
    client: int,
    refs: np.ndarray,
    user_emb: Tensor,
    model: GlobalModel,
    spec: RankingTraining,
    round_index: int,
    own: dict[str, Tensor],
) -> tuple[ClientUpdates, Tensor, dict[str, Tensor]]:
    row_item, inverse = np.unique(refs, return_inverse=True)
    local, index = torch.from_numpy(inverse.reshape(refs.shape)), torch.from_numpy(row_item)
    shared = shared_weights(model)
    user = nn.Parameter(user_emb.clone().unsqueeze(0))
    emb, bias = (nn.Parameter(model.params[n][index].clone()) for n in RANKING_TABLES)
    weights = {n: nn.Parameter(model.params[n].clone().unsqueeze(0)) for n in shared}
    weights |= {n: nn.Parameter(v.clone().unsqueeze(0)) for n, v in own.items()}
    settings, k = spec.local.optimizer, spec.num_negatives
    anchors = GlobalModel({n: model.params[n][index].clone() for n in RANKING_TABLES} | {
        n: model.params[n].unsqueeze(0).clone() for n in shared})  # fmt: skip
    table_rows = StackedRows(np.full(len(row_item), client), row_item, np.isin(row_item, refs[:, 0]))
    layout = {n: table_rows for n in RANKING_TABLES} | {n: StackedRows(np.array([client])) for n in shared}
    spec.local.objective.begin_rows(layout, model)
    federated: dict[str, Tensor] = {"item_emb": emb, "item_bias": bias, **{n: weights[n] for n in shared}}
    steps = 0
    optimizer = settings.torch_optimizer(
        [{"params": [user, emb, bias, *weights.values()], "weight_decay": settings.weight_decay}]
    )
    for epoch in range(spec.local.epochs):
        order = np.argsort(
            shuffle_keys(spec.local.seed, round_index, epoch, np.full(len(refs), client), np.arange(len(refs))),
            kind="stable",
        )
        for batch in torch.split(torch.from_numpy(order), spec.local.batch_size):
            pos, neg = local[batch, 0].unsqueeze(0), local[batch, 1 + epoch * k : 1 + (epoch + 1) * k].unsqueeze(0)
            optimizer.zero_grad()
            s_pos = ncf_scores(kind, weights, user, emb[pos], bias[pos])
            s_neg = ncf_scores(kind, weights, user, emb[neg].reshape(1, -1, emb.shape[1]), bias[neg].reshape(1, -1))
            value = pair_loss(s_pos, s_neg.reshape(1, len(batch), k), spec.loss)
            value = value + spec.local.l2 * penalty(user.unsqueeze(1), emb[pos], bias[pos], emb[neg], bias[neg])
            term = spec.local.objective.penalty(np.array([client]), {"item_emb": emb, "item_bias": bias, **{
                n: weights[n] for n in shared}}, anchors)  # fmt: skip
            (value.mean() + term).backward()  # type: ignore[no-untyped-call]
            correct_gradients(spec.local.objective, federated)
            steps += 1
            optimizer.step()
    with torch.no_grad():
        rows = RowDeltas(
            torch.zeros(len(row_item), dtype=torch.int64),
            index,
            torch.from_numpy(np.bincount(inverse.reshape(-1), minlength=len(row_item)).astype(np.float32)),
            {"item_emb": emb - model.params["item_emb"][index], "item_bias": bias - model.params["item_bias"][index]},
        )
        dense = {n: weights[n] - model.params[n].unsqueeze(0) for n in shared}
        ended = {n: w.detach() for n, w in federated.items()}
        counts = {n: torch.full((len(w),), steps) for n, w in ended.items()}
        uploads = spec.local.objective.finish_rows(anchors.params, ended, counts)  # SCAFFOLD's control changes
        dense |= {n: v for n, v in uploads.items() if n.removeprefix("control.") in shared}
        rows.values.update({n: v for n, v in uploads.items() if n.removeprefix("control.") in RANKING_TABLES})
        update = ClientUpdates(np.array([client]), torch.tensor([float(len(refs))]), dense, rows)
        return update, user.detach()[0], {n: weights[n].detach()[0] for n in own}
