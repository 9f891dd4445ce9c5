"""The centralized baseline: the same model, data and split, trained on all training ratings pooled."""

from __future__ import annotations

import numpy as np
import torch

from fedrec.config import RunConfig
from fedrec.data.ratings import RatingSplit
from fedrec.experiment.parts import optimizer_settings
from fedrec.experiment.recorder import RunRecorder
from fedrec.models.mf import BiasedMF, init_item_side, init_user_side
from fedrec.runtime.parts import RoundRecord
from fedrec.tasks.mf_step import mf_optimizer, mf_step


def train_centralized(config: RunConfig, split: RatingSplit, recorder: RunRecorder | None = None) -> BiasedMF:
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
    low, high = split.test.rating_range
    pred = net(torch.from_numpy(split.test.users), torch.from_numpy(split.test.items)).clamp(low, high)
    err = (pred - torch.from_numpy(split.test.values)).double()
    return {"test_rmse": float(np.sqrt(float((err**2).mean()))), "test_mae": float(err.abs().mean())}
