"""The centralized baseline: the same model, data and split, trained on all training ratings pooled."""

from __future__ import annotations

import numpy as np
import torch

from fedrec.config import RunConfig
from fedrec.data.implicit import LeaveOneOut
from fedrec.data.ratings import RatingSplit
from fedrec.experiment.client_training import mf_shape, optimizer_settings
from fedrec.experiment.recorder import RunRecorder
from fedrec.experiment.task_specs.ranking import ranking_training
from fedrec.models.mf import BiasedMF, init_item_side, init_user_side
from fedrec.payloads import GlobalModel
from fedrec.runtime.protocols import RoundRecord
from fedrec.tasks.ranking.negatives import ATTEMPTS, is_positive
from fedrec.tasks.ranking.sequential import ranking_loss
from fedrec.tasks.ranking.task import RankingMetrics, RankingTask
from fedrec.tasks.rating.step import mf_optimizer, mf_step


def train_centralized(config: RunConfig, split: RatingSplit, recorder: RunRecorder | None = None) -> BiasedMF:
    """The centralized baseline: the same biased MF trained on every user's pooled training ratings (``centralized``
    section), reporting each epoch's test figures to ``recorder``."""
    c = config.centralized
    low, high = split.train.rating_range
    net = BiasedMF(
        init_user_side(split.train.num_users, config.model.dim, config.model.init_std, config.seed),
        init_item_side(split.train.num_items, config.model.dim, config.model.init_std, (low + high) / 2, config.seed),
    )
    optimizer = mf_optimizer(net, optimizer_settings(c))
    users, items = torch.from_numpy(split.train.users), torch.from_numpy(split.train.items)
    target = torch.from_numpy(split.train.values)
    generator = torch.Generator().manual_seed(config.seed)
    for epoch in range(1, c.epochs + 1):
        for batch in torch.split(torch.randperm(len(target), generator=generator), c.batch_size):
            mf_step(net, optimizer, users[batch], items[batch], target[batch], c.l2)
        if recorder is not None and (epoch % config.federation.eval_every == 0 or epoch == c.epochs):
            recorder.on_round(RoundRecord(epoch, evaluate_centralized(net, split), split.train.num_users, 0.0))
    return net


@torch.no_grad()
def evaluate_centralized(net: BiasedMF, split: RatingSplit) -> dict[str, float]:
    """Test RMSE and MAE of ``net`` on the split's test ratings."""
    low, high = split.test.rating_range
    pred = net(torch.from_numpy(split.test.users), torch.from_numpy(split.test.items)).clamp(low, high)
    err = (pred - torch.from_numpy(split.test.values)).double()
    return {"test_rmse": float(np.sqrt(float((err**2).mean()))), "test_mae": float(err.abs().mean())}


def train_centralized_ranking(config: RunConfig, data: LeaveOneOut, recorder: RunRecorder | None = None) -> RankingTask:
    """The same MF and loss trained on all users' interactions pooled; evaluated by the same protocol."""
    c = config.centralized
    ids = np.arange(1, data.train.num_users + 1)
    task = RankingTask(data, ids, mf_shape(config), ranking_training(config), "cohort")
    model = task.initial_model()
    emb, bias = (torch.nn.Parameter(model.params[k].clone()) for k in ("item_emb", "item_bias"))
    users = torch.nn.Parameter(task.user_emb.clone())
    settings = optimizer_settings(c)
    optimizer = settings.torch_optimizer([{"params": [users, emb, bias], "weight_decay": settings.weight_decay}])
    train = data.train
    positive_keys = np.unique(train.users * train.num_items + train.items)
    rng = np.random.default_rng([config.seed, 0xCE])
    k = config.ranking.num_negatives
    for epoch in range(1, c.epochs + 1):
        negatives = _unseen(rng, train.users, (len(train), k), train.num_items, positive_keys)
        for batch in torch.split(torch.from_numpy(rng.permutation(len(train))), c.batch_size):
            u, pos, neg = torch.from_numpy(train.users)[batch], torch.from_numpy(train.items)[batch], negatives[batch]
            optimizer.zero_grad()
            loss = ranking_loss(users[u], emb[pos], bias[pos], emb[neg], bias[neg], config.ranking.loss, c.l2)
            loss.backward()  # type: ignore[no-untyped-call]
            optimizer.step()
        if recorder is not None and (epoch % config.federation.eval_every == 0 or epoch == c.epochs):
            task.user_emb = users.detach().clone()
            trained = GlobalModel({"item_emb": emb.detach(), "item_bias": bias.detach()}, task.row_sparse)
            metrics = RankingMetrics().combine([task.evaluate(ids, trained)])
            recorder.on_round(RoundRecord(epoch, metrics, len(ids), 0.0))
    task.user_emb = users.detach().clone()
    task.final_model = GlobalModel({"item_emb": emb.detach(), "item_bias": bias.detach()}, task.row_sparse)
    return task


def _unseen(
    rng: np.random.Generator, users: np.ndarray, shape: tuple[int, int], items: int, seen: np.ndarray
) -> torch.Tensor:
    draw = rng.integers(0, items, size=shape)
    for _ in range(ATTEMPTS):
        clash = is_positive(users[:, None] * items + draw, seen)
        if not clash.any():
            break
        draw[clash] = rng.integers(0, items, size=int(clash.sum()))
    return torch.from_numpy(draw)
