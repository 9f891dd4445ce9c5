"""Top-k recommendations for a user from a trained run.

The scoring is what a user's device computes: its private embedding and bias against the global item
table it downloaded. ``Recommender.load`` reads both from a run folder (the simulation kept every
device's state in ``checkpoint/clients.pt``); a real device holds only its own row and the item table.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from fedrec.config import load_config
from fedrec.data.ratings import RatingSplit
from fedrec.errors import FedrecError
from fedrec.experiment.parts import load_split
from fedrec.experiment.run_folder import CLIENTS_CHECKPOINT, SERVER_CHECKPOINT, RunFolder
from fedrec.models.mf import predict


@dataclass(frozen=True)
class Recommendation:
    item_id: int
    title: str
    predicted_rating: float


def score_items(user_emb: Tensor, user_bias: Tensor, item_side: dict[str, Tensor], low: float, high: float) -> Tensor:
    """Predicted rating of every item for one user: the device-side computation."""
    raw = predict(item_side["global_bias"], user_bias, user_emb, item_side["item_bias"], item_side["item_emb"])
    return raw.clamp(low, high)


class Recommender:
    def __init__(self, item_side: dict[str, Tensor], users: dict[str, Tensor], split: RatingSplit) -> None:
        self.item_side = item_side
        self.client_ids = users["client_ids"].numpy()
        self.user_emb = users["user_emb"]
        self.user_bias = users["user_bias"]
        self.split = split

    @classmethod
    def load(cls, run_dir: Path) -> Recommender:
        folder = RunFolder(run_dir)
        config_path = run_dir / "config.yaml"
        if not config_path.is_file():
            raise FedrecError(
                f"{run_dir} is not a fedrec run folder (no config.yaml); pass the folder `fedrec run` printed"
            )
        config = load_config(config_path)
        if config.task != "rating":
            raise FedrecError(f"fedrec recommend serves rating runs so far; {run_dir} is a {config.task} run")
        server = folder.load_tensors(SERVER_CHECKPOINT)
        users = folder.load_tensors(CLIENTS_CHECKPOINT)
        return cls({k: server[k] for k in ("item_emb", "item_bias", "global_bias")}, users, load_split(config))

    def recommend(self, user_id: int, k: int = 10, exclude_seen: bool = True) -> list[Recommendation]:
        if k <= 0:
            raise FedrecError(f"k must be at least 1, got {k}")
        ratings = self.split.train
        index = np.searchsorted(ratings.user_ids, user_id)
        if index >= len(ratings.user_ids) or ratings.user_ids[index] != user_id:
            low, high = ratings.user_ids.min(), ratings.user_ids.max()
            raise FedrecError(f"user {user_id} is not in {ratings.name}; valid user ids are {low}..{high}")
        row = int(np.searchsorted(self.client_ids, index + 1))
        if row >= len(self.client_ids) or self.client_ids[row] != index + 1:
            raise FedrecError(f"user {user_id} took no part in this run, so there is no model of their taste")
        scores = score_items(self.user_emb[row], self.user_bias[row], self.item_side, *ratings.rating_range)
        if exclude_seen:
            seen = np.concatenate(
                [ratings.items[ratings.users == index], self.split.test.items[self.split.test.users == index]]
            )
            scores[torch.from_numpy(seen)] = -torch.inf
        top = torch.topk(scores, min(k, int(torch.isfinite(scores).sum())))
        return [
            Recommendation(int(ratings.item_ids[i]), ratings.item_titles[i], float(s))
            for s, i in zip(top.values.tolist(), top.indices.tolist(), strict=True)
        ]
