"""Top-k recommendations from a trained run: ``Recommender.load(run).recommend(user, k)``.

The scoring is what a user's device computes (``device``): its private parameters against the item table
it downloaded. ``load`` reads both from a run folder (the simulation kept every device's state in
``checkpoint/clients.pt``); a real device holds only its own row and the item table. A user who took part
in no round is served by fitting their own parameters on the device against the frozen table; a known user
whose device never trained is refused rather than served from an untrained embedding.

Items are ranked by the model's raw score; only the rating shown to the user is clipped to the scale.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from fedrec.checkpoint_check import CheckpointCheck
from fedrec.config import RunConfig, load_config
from fedrec.data.ratings import Ratings
from fedrec.errors import FedrecError, RunFolderError
from fedrec.models.mf import init_item_side, init_user_side
from fedrec.registry import TASKS
from fedrec.run_folder import CLIENTS_CHECKPOINT, SERVER_CHECKPOINT
from fedrec.serving.device import fit_new_user, score_items, top_unseen

ITEM_SIDE = ("item_emb", "item_bias", "global_bias")
USER_SIDE = ("user_emb", "user_bias")


@dataclass(frozen=True)
class Recommendation:
    item_id: int
    title: str
    score: float  # the model's raw score: the list is ranked by it
    predicted_rating: float | None = None  # rating runs: the score clipped to the rating scale, as shown


Interaction = tuple[int, float | None]  # (item id, rating); a ranking run's interactions carry no rating


class Recommender:
    """Top-k recommendations from a finished (or checkpointed) rating or ranking run: the run's item tables, and each
    user's private embedding as the run's clients saved it."""

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
        """The recommender of the run in ``run_dir``; raises ``RunFolderError`` (one line) for a folder that is not a
        served run's, or whose checkpoint does not fit its config."""
        config_path = run_dir / "config.yaml"
        if not config_path.is_file():
            raise FedrecError(
                f"{run_dir} is not a fedrec run folder (no config.yaml); pass the folder `fedrec run` printed"
            )
        config = load_config(config_path)
        if not TASKS.get(config.task).served:  # the task declares it: its runs hold MF's user and item tables
            raise RunFolderError(
                f"{run_dir} is a {config.task} run: it has no users or items to recommend; "
                "fedrec recommend serves runs of task rating or ranking"
            )
        if config.model.kind != "biased_mf":
            raise FedrecError(f"fedrec recommend serves MF runs so far; {run_dir} trained a {config.model.kind} model")
        data = TASKS.get(config.task).load(config)  # the run's data, as its task's spec loads it
        server, users = _checkpoints(run_dir, config, data.train)
        return cls(config, {k: server[k] for k in ITEM_SIDE if k in server}, users, data)

    @property
    def explicit(self) -> bool:
        """Whether the run predicts ratings (rating task) rather than scores (ranking)."""
        return self.config.task == "rating"

    def recommend(self, user_id: int, k: int = 10, exclude_seen: bool = True) -> list[Recommendation]:
        """The ``k`` items with the highest predicted rating (or score) for ``user_id`` (the dataset's own id), without
        the items the user rated in training if ``exclude_seen``. Raises ``RunFolderError`` for an unknown
        user."""
        index = self._user_index(user_id)
        row = int(np.searchsorted(self.client_ids, index + 1))
        if row >= len(self.client_ids) or self.client_ids[row] != index + 1:
            raise FedrecError(f"user {user_id} took no part in this run, so there is no model of their taste")
        user = {name: value[row] for name, value in self.users.items()}
        if self._never_trained(index, user["user_emb"]):
            raise FedrecError(
                f"user {user_id} took part in no training round of this run (their embedding is still the "
                "initial one), so a list would be noise; serve them from items they rated with "
                "--new-user-ratings FILE, or train with more rounds or a larger federation.clients_per_round"
            )
        seen = self.train.items[self.train.users == index]
        if self.held_out is not None:
            seen = np.concatenate([seen, self.held_out.items[self.held_out.users == index]])
        if self.held_out_items is not None:
            seen = np.append(seen, self.held_out_items[index])
        return self._top(user, seen if exclude_seen else np.empty(0, dtype=np.int64), k)

    def recommend_new_user(self, interactions: list[Interaction], k: int = 10) -> list[Recommendation]:
        """Recommendations for a user outside the run, from the items they list (``read_interactions``).

        A rating run needs a rating on the run's scale for every item; a ranking run takes item ids only
        (``None`` ratings). Raises ``FedrecError`` for an empty list, an item listed twice, an unknown item,
        or a rating that is missing, extra or off the scale.
        """
        if not interactions:
            raise FedrecError("the new user's file lists no items; give one a line ('item_id rating' in a rating run)")
        self._check_ratings(interactions)
        ids = np.array([item for item, _ in interactions])
        repeated = np.unique(ids, return_counts=True)
        if (repeated[1] > 1).any():
            raise FedrecError(f"items {repeated[0][repeated[1] > 1][:5].tolist()} are listed twice; list each once")
        catalogue = self.train.item_ids
        where = np.minimum(np.searchsorted(catalogue, ids), len(catalogue) - 1)
        known = catalogue[where] == ids
        if not known.all():
            raise FedrecError(f"item ids {ids[~known][:5].tolist()} are not in {self.train.name}")
        ratings = [rating for _, rating in interactions if rating is not None]
        values = torch.tensor(ratings, dtype=torch.float32) if self.explicit else None
        l2 = self.config.train.l2
        user = fit_new_user(self.items, torch.from_numpy(where), values, l2, seed=self.config.seed)
        return self._top(user, where, k)

    def _check_ratings(self, interactions: list[Interaction]) -> None:
        low, high = self.train.rating_range
        for item, rating in interactions:
            if not self.explicit and rating is not None:
                raise FedrecError(
                    f"item {item} has a rating, but this run learned from interactions (task ranking); "
                    "list item ids only"
                )
            if self.explicit and rating is None:
                raise FedrecError(f"item {item} has no rating; this rating run needs 'item_id rating' on every line")
            if rating is not None and not low <= rating <= high:  # also refuses nan
                scale = f"{self.train.name}'s scale {low:g}-{high:g}"
                raise FedrecError(f"item {item}: rating {rating:g} is outside {scale}")

    def _top(self, user: dict[str, Tensor], seen: np.ndarray, k: int) -> list[Recommendation]:
        if k <= 0:
            raise FedrecError(f"k must be at least 1, got {k}")
        scores = score_items(user, self.items)
        broken = int(scores.isnan().sum())
        if broken:
            raise FedrecError(
                f"the model scores {broken} items as NaN for this user: its training diverged; "
                "train again, for example with a lower train.lr"
            )
        top = top_unseen(scores, torch.from_numpy(seen), k)
        return [self._shown(i, float(scores[i])) for i in top.tolist()]

    def _shown(self, index: int, score: float) -> Recommendation:
        low, high = self.train.rating_range
        rating = min(max(score, low), high) if self.explicit else None
        return Recommendation(int(self.train.item_ids[index]), self.train.item_titles[index], score, rating)

    def _never_trained(self, index: int, user_emb: Tensor) -> bool:
        """A user's private state is still what ``init_user_side`` gave it: their device never trained."""
        model = self.config.model
        start = init_user_side(self.train.num_users, model.dim, model.init_std, self.config.seed)["user_emb"]
        return bool(torch.equal(user_emb, start[index].to(user_emb.dtype)))

    def _user_index(self, user_id: int) -> int:
        ids = self.train.user_ids
        index = int(np.searchsorted(ids, user_id))
        if index >= len(ids) or ids[index] != user_id:
            raise FedrecError(
                f"user {user_id} is not in {self.train.name}; valid user ids are {ids.min()}..{ids.max()}"
            )
        return index


def _checkpoints(run_dir: Path, config: RunConfig, train: Ratings) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """The run's item side (``server.pt``) and its clients' (``clients.pt``), refused unless they hold the
    tensors of this run's model, with its shapes and dtypes (not necessarily finite: a diverged model is said
    as such when it is served)."""
    fix = "train the run again, or restore the run folder from a backup"
    model, rating = config.model, config.task == "rating"
    items = init_item_side(train.num_items, model.dim, model.init_std, 0.0, config.seed)
    server = CheckpointCheck(run_dir / SERVER_CHECKPOINT, fix=fix)
    saved_items = server.load()
    server.tensors(saved_items, {k: v for k, v in items.items() if rating or k != "global_bias"}, "its model",
                   extra=True, finite=False)  # fmt: skip
    clients = CheckpointCheck(run_dir / CLIENTS_CHECKPOINT, fix=fix)
    users = clients.load()
    ids = clients.field(users, "client_ids", Tensor, "its tensor client_ids")
    if ids.dtype != torch.int64 or ids.dim() != 1 or len(ids) == 0 or ids[0] < 1 or ids[-1] > train.num_users \
            or (len(ids) > 1 and not bool((ids[1:] > ids[:-1]).all())):  # fmt: skip
        raise clients.refuse(f"is damaged: its client ids are not increasing ids from 1 to {train.num_users}")
    user_side = init_user_side(len(ids), model.dim, model.init_std, config.seed)
    expected = {"client_ids": ids, **{k: v for k, v in user_side.items() if rating or k != "user_bias"}}
    clients.tensors(users, expected, "its clients' private state", extra=True, finite=False)
    return saved_items, users


def read_interactions(path: Path) -> list[Interaction]:
    """A new user's file: one ``item_id [rating]`` per line (comma or space separated; # comments).

    Raises ``FedrecError`` naming the line for one that is not an integer id and an optional finite number,
    and for an item listed twice.
    """
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not a text file"
        raise FedrecError(f"cannot read {path}: {reason}") from None
    first_line: dict[int, int] = {}
    interactions = []
    for number, line in enumerate(lines, 1):
        fields = line.split("#")[0].replace(",", " ").split()
        if not fields:
            continue
        item, rating = _parse_line(path, number, fields)
        if item in first_line:
            again = f"item {item} is listed twice (also line {first_line[item]})"
            raise FedrecError(f"{path}:{number}: {again}; list it once")
        first_line[item] = number
        interactions.append((item, rating))
    return interactions


def _parse_line(path: Path, number: int, fields: list[str]) -> Interaction:
    try:
        if len(fields) > 2:
            raise ValueError
        item, rating = int(fields[0]), float(fields[1]) if len(fields) == 2 else None
    except ValueError:
        raise FedrecError(f"{path}:{number}: expected 'item_id rating', got {' '.join(fields)!r}") from None
    if rating is not None and not math.isfinite(rating):
        raise FedrecError(f"{path}:{number}: rating {fields[1]!r} is not a number; give a rating on the run's scale")
    return item, rating
