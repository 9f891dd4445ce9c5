"""Top-k recommendations from a trained run: ``Recommender.load(run).recommend(user, k)``.

The scoring is what a user's device computes (``device``): its private parameters against the item table
it downloaded. ``load`` reads both from a run folder (the simulation kept every device's state in
``checkpoint/clients.pt``); a real device holds only its own row and the item table. A user who took part
in no round is served by fitting their own parameters on the device against the frozen table.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from fedrec.config import RunConfig, load_config
from fedrec.data.ratings import Ratings
from fedrec.errors import FedrecError
from fedrec.experiment.parts import load_task_data
from fedrec.experiment.run_folder import CLIENTS_CHECKPOINT, SERVER_CHECKPOINT, RunFolder
from fedrec.serving.device import fit_new_user, score_items

ITEM_SIDE = ("item_emb", "item_bias", "global_bias")
USER_SIDE = ("user_emb", "user_bias")


@dataclass(frozen=True)
class Recommendation:
    item_id: int
    title: str
    score: float


class Recommender:
    def __init__(self, config: RunConfig, items: dict[str, Tensor], users: dict[str, Tensor], data: object) -> None:
        self.config = config
        self.items = items
        self.client_ids = users["client_ids"].numpy()
        self.users = {k: users[k] for k in USER_SIDE if k in users}
        self.train: Ratings = data.train  # type: ignore[attr-defined]
        self.held_out: Ratings | None = getattr(data, "test", None)
        self.held_out_items: np.ndarray | None = getattr(data, "test_items", None)

    @classmethod
    def load(cls, run_dir: Path) -> Recommender:
        config_path = run_dir / "config.yaml"
        if not config_path.is_file():
            raise FedrecError(
                f"{run_dir} is not a fedrec run folder (no config.yaml); pass the folder `fedrec run` printed"
            )
        config = load_config(config_path)
        if config.model.kind != "biased_mf":
            raise FedrecError(f"fedrec recommend serves MF runs so far; {run_dir} trained a {config.model.kind} model")
        folder = RunFolder(run_dir)
        server = folder.load_tensors(SERVER_CHECKPOINT)
        users = folder.load_tensors(CLIENTS_CHECKPOINT)
        return cls(config, {k: server[k] for k in ITEM_SIDE if k in server}, users, load_task_data(config))

    @property
    def explicit(self) -> bool:
        return self.config.task == "rating"

    def recommend(self, user_id: int, k: int = 10, exclude_seen: bool = True) -> list[Recommendation]:
        index = self._user_index(user_id)
        row = int(np.searchsorted(self.client_ids, index + 1))
        if row >= len(self.client_ids) or self.client_ids[row] != index + 1:
            raise FedrecError(f"user {user_id} took no part in this run, so there is no model of their taste")
        user = {name: value[row] for name, value in self.users.items()}
        seen = self.train.items[self.train.users == index]
        if self.held_out is not None:
            seen = np.concatenate([seen, self.held_out.items[self.held_out.users == index]])
        if self.held_out_items is not None:
            seen = np.append(seen, self.held_out_items[index])
        return self._top(user, seen if exclude_seen else np.empty(0, dtype=np.int64), k)

    def recommend_new_user(self, interactions: list[tuple[int, float]], k: int = 10) -> list[Recommendation]:
        """Recommendations for a user outside the run, from (item id, rating) pairs they supply."""
        if not interactions:
            raise FedrecError("the new user's file lists no items; give one 'item_id rating' pair per line")
        ids = np.array([item for item, _ in interactions])
        catalogue = self.train.item_ids
        where = np.minimum(np.searchsorted(catalogue, ids), len(catalogue) - 1)
        known = catalogue[where] == ids
        if not known.all():
            raise FedrecError(f"item ids {ids[~known][:5].tolist()} are not in {self.train.name}")
        values = torch.tensor([value for _, value in interactions], dtype=torch.float32) if self.explicit else None
        l2 = self.config.train.l2
        user = fit_new_user(self.items, torch.from_numpy(where), values, l2, seed=self.config.seed)
        return self._top(user, where, k)

    def _top(self, user: dict[str, Tensor], seen: np.ndarray, k: int) -> list[Recommendation]:
        if k <= 0:
            raise FedrecError(f"k must be at least 1, got {k}")
        scores = score_items(user, self.items)
        if self.explicit:
            scores = scores.clamp(*self.train.rating_range)
        scores[torch.from_numpy(seen)] = -torch.inf
        top = torch.topk(scores, min(k, int(torch.isfinite(scores).sum())))
        return [
            Recommendation(int(self.train.item_ids[i]), self.train.item_titles[i], float(s))
            for s, i in zip(top.values.tolist(), top.indices.tolist(), strict=True)
        ]

    def _user_index(self, user_id: int) -> int:
        ids = self.train.user_ids
        index = int(np.searchsorted(ids, user_id))
        if index >= len(ids) or ids[index] != user_id:
            raise FedrecError(
                f"user {user_id} is not in {self.train.name}; valid user ids are {ids.min()}..{ids.max()}"
            )
        return index


def read_interactions(path: Path) -> list[tuple[int, float]]:
    """A new user's file: one ``item_id [rating]`` per line (comma or space separated; # comments)."""
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise FedrecError(f"cannot read {path}: {exc.strerror}") from None
    pairs = []
    for number, line in enumerate(lines, 1):
        fields = line.split("#")[0].replace(",", " ").split()
        if not fields:
            continue
        try:
            pairs.append((int(fields[0]), float(fields[1]) if len(fields) > 1 else 1.0))
        except ValueError:
            raise FedrecError(f"{path}:{number}: expected 'item_id rating', got {line.strip()!r}") from None
    return pairs
