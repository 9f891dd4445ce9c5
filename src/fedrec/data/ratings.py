"""Explicit-feedback interactions as flat numpy arrays, and the per-user split into train and test."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Ratings:
    """Ratings with dense 0-based user and item indices; ``user_ids``/``item_ids`` give the original ids."""

    name: str
    users: np.ndarray  # int64 [n], index into user_ids
    items: np.ndarray  # int64 [n], index into item_ids
    values: np.ndarray  # float32 [n]
    timestamps: np.ndarray  # int64 [n]
    user_ids: np.ndarray  # int64 [num_users], original ids
    item_ids: np.ndarray  # int64 [num_items], original ids
    item_titles: tuple[str, ...]
    rating_range: tuple[float, float]

    @property
    def num_users(self) -> int:
        return len(self.user_ids)

    @property
    def num_items(self) -> int:
        return len(self.item_ids)

    def __len__(self) -> int:
        return len(self.values)

    def subset(self, mask: np.ndarray) -> Ratings:
        return Ratings(
            self.name,
            self.users[mask],
            self.items[mask],
            self.values[mask],
            self.timestamps[mask],
            self.user_ids,
            self.item_ids,
            self.item_titles,
            self.rating_range,
        )


@dataclass(frozen=True)
class RatingSplit:
    train: Ratings
    test: Ratings


def per_user_holdout(ratings: Ratings, test_fraction: float, seed: int) -> RatingSplit:
    """Hold out ``round(test_fraction * n_u)`` of each user's ratings, chosen uniformly at random, as test.

    Pure and seeded: the same (ratings, fraction, seed) always gives the same split. Every user keeps at
    least one training rating, so every client has something to train on.
    """
    if not 0.0 <= test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in [0, 1), got {test_fraction}")
    keys = np.random.default_rng([seed, 0x7E57]).random(len(ratings))
    order = np.lexsort((keys, ratings.users))
    counts = np.bincount(ratings.users, minlength=ratings.num_users)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    sorted_users = ratings.users[order]
    rank = np.arange(len(order)) - starts[sorted_users]
    n_test = np.minimum(np.rint(test_fraction * counts).astype(np.int64), np.maximum(counts - 1, 0))
    is_test = np.zeros(len(ratings), dtype=bool)
    is_test[order] = rank < n_test[sorted_users]
    return RatingSplit(train=ratings.subset(~is_test), test=ratings.subset(is_test))
