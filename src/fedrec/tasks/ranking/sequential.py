"""The per-client reference for ``cohort``: one client at a time, with autograd and ``torch.optim``."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from fedrec.engine.objective import correct_gradients
from fedrec.engine.types import CohortData, CohortResult
from fedrec.payloads import ClientUpdates, GlobalModel, RowDeltas, StackedRows
from fedrec.rng import shuffle_keys
from fedrec.tasks.ranking.cohort import RankingTraining, example_items


def ranking_loss(
    users: Tensor, emb_pos: Tensor, bias_pos: Tensor, emb_neg: Tensor, bias_neg: Tensor, loss: str, l2: float
) -> Tensor:
    """Batch mean of the BPR or BCE loss over each positive and its k negatives, plus the L2 penalty."""
    s_pos = (users * emb_pos).sum(-1) + bias_pos
    s_neg = (users.unsqueeze(1) * emb_neg).sum(-1) + bias_neg
    if loss == "bpr":
        value = nn.functional.softplus(s_neg - s_pos.unsqueeze(1)).mean(1)
    else:
        value = nn.functional.softplus(-s_pos) + nn.functional.softplus(s_neg).mean(1)
    penalty = (users**2).sum(-1) + (emb_pos**2).sum(-1) + bias_pos**2
    penalty = penalty + ((emb_neg**2).sum(-1) + bias_neg**2).mean(1)
    return value.mean() + l2 * penalty.mean()


def train_ranking_sequentially(
    data: CohortData,
    user_emb: Tensor,
    model: GlobalModel,
    spec: RankingTraining,
    round_index: int,
    positive_keys: np.ndarray,
) -> CohortResult:
    """The per-client reference of ``train_ranking_cohort``: each client alone, with autograd and ``torch.optim``,
    drawing the same negatives."""
    num_items = model.params["item_emb"].shape[0]
    refs = example_items(data, spec, round_index, num_items, positive_keys)
    ends = np.cumsum(data.counts)
    updates, embs = [], []
    for k, client in enumerate(data.client_ids.tolist()):
        span = slice(int(ends[k] - data.counts[k]), int(ends[k]))
        update, emb = _train_one(client, refs[span], user_emb[k], model, spec, round_index)
        updates.append(update)
        embs.append(emb)
    return CohortResult(ClientUpdates.concat(updates), torch.stack(embs), torch.zeros(len(embs)))


def _train_one(
    client: int, refs: np.ndarray, user_emb: Tensor, model: GlobalModel, spec: RankingTraining, round_index: int
) -> tuple[ClientUpdates, Tensor]:
    row_item, inverse = np.unique(refs, return_inverse=True)
    local = torch.from_numpy(inverse.reshape(refs.shape))
    index = torch.from_numpy(row_item)
    user = nn.Parameter(user_emb.clone())
    emb = nn.Parameter(model.params["item_emb"][index].clone())
    bias = nn.Parameter(model.params["item_bias"][index].clone())
    settings = spec.local.optimizer
    optimizer = settings.torch_optimizer([{"params": [user, emb, bias], "weight_decay": settings.weight_decay}])
    k, positions = spec.num_negatives, np.arange(len(refs))
    anchors = GlobalModel({"item_emb": emb.detach().clone(), "item_bias": bias.detach().clone()})
    clients, weights = np.array([client]), dict[str, Tensor](item_emb=emb, item_bias=bias)
    table_rows = StackedRows(np.full(len(row_item), client), row_item, np.isin(row_item, refs[:, 0]))
    spec.local.objective.begin_rows({"item_emb": table_rows, "item_bias": table_rows}, model)
    steps = 0
    for epoch in range(spec.local.epochs):
        keys = shuffle_keys(spec.local.seed, round_index, epoch, np.full(len(refs), client), positions)
        for batch in torch.split(torch.from_numpy(np.argsort(keys, kind="stable")), spec.local.batch_size):
            pos, neg = local[batch, 0], local[batch, 1 + epoch * k : 1 + (epoch + 1) * k]
            optimizer.zero_grad()
            users = user.expand(len(batch), -1)
            loss = ranking_loss(users, emb[pos], bias[pos], emb[neg], bias[neg], spec.loss, spec.local.l2)
            loss = loss + spec.local.objective.penalty(clients, weights, anchors)
            loss.backward()  # type: ignore[no-untyped-call]
            correct_gradients(spec.local.objective, weights)
            optimizer.step()
            steps += 1
    with torch.no_grad():
        start_emb, start_bias = model.params["item_emb"][index], model.params["item_bias"][index]
        rows = RowDeltas(
            owner=torch.zeros(len(row_item), dtype=torch.int64),
            index=index,
            weight=torch.from_numpy(np.bincount(inverse.reshape(-1), minlength=len(row_item)).astype(np.float32)),
            values={"item_emb": emb - start_emb, "item_bias": bias - start_bias},
        )
        ended = {"item_emb": emb.detach(), "item_bias": bias.detach()}
        counts = {name: torch.full((len(row_item),), steps) for name in ended}
        rows.values.update(spec.local.objective.finish_rows(anchors.params, ended, counts))  # SCAFFOLD's controls
        update = ClientUpdates(np.array([client]), torch.tensor([float(len(refs))]), {}, rows)
        return update, user.detach().clone()
