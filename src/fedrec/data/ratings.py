"""Explicit-feedback interactions as flat numpy arrays, and the per-user split into train and test."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fedrec.data.catalogue import Catalogue


@dataclass(frozen=True)
class Ratings:
    """Interactions with dense 0-based user and item indices into the dataset's catalogue.

    ``rows`` is each interaction's row in the source file: the seeded splits draw one number per source row,
    so a process that read only some users' rows splits them exactly as the whole dataset would be split.
    """

    catalogue: Catalogue
    users: np.ndarray  # int64 [n], index into catalogue.user_ids
    items: np.ndarray  # int64 [n], index into catalogue.item_ids
    values: np.ndarray  # float32 [n]
    timestamps: np.ndarray  # int64 [n], -1 where the dataset has none
    rows: np.ndarray  # int64 [n], row in the source file

    @classmethod
    def empty(cls, catalogue: Catalogue) -> Ratings:
        """No interaction at all: what a server holds."""
        none = np.empty(0, dtype=np.int64)
        return cls(catalogue, none, none, np.empty(0, dtype=np.float32), none, none)

    @property
    def name(self) -> str:
        """The dataset's name."""
        return self.catalogue.name

    @property
    def user_ids(self) -> np.ndarray:
        """The original user id of each user index."""
        return self.catalogue.user_ids

    @property
    def item_ids(self) -> np.ndarray:
        """The original item id of each item index."""
        return self.catalogue.item_ids

    @property
    def item_titles(self) -> tuple[str, ...]:
        """Each item's title ('' where the data has none)."""
        return self.catalogue.item_titles

    @property
    def rating_range(self) -> tuple[float, float]:
        """``(lowest, highest)`` rating the scale allows."""
        return self.catalogue.rating_range

    @property
    def num_users(self) -> int:
        """Users (rows of the user side), whether or not they rated here."""
        return self.catalogue.num_users

    @property
    def num_items(self) -> int:
        """Items (rows of the item tables), whether or not they are rated here."""
        return self.catalogue.num_items

    def __len__(self) -> int:
        return len(self.values)

    def subset(self, mask: np.ndarray) -> Ratings:
        """The ratings where ``mask`` (bool ``[n]``) holds, with the same users and items."""
        return Ratings(
            self.catalogue,
            self.users[mask],
            self.items[mask],
            self.values[mask],
            self.timestamps[mask],
            self.rows[mask],
        )

    def row_keys(self, generator: np.random.Generator) -> np.ndarray:
        """One uniform number per interaction: the generator's draw for its source row."""
        keys: np.ndarray = generator.random(self.catalogue.source_rows)[self.rows]
        return keys


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
    keys = ratings.row_keys(np.random.default_rng([seed, 0x7E57]))
    order = np.lexsort((keys, ratings.users))
    counts = np.bincount(ratings.users, minlength=ratings.num_users)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    sorted_users = ratings.users[order]
    rank = np.arange(len(order)) - starts[sorted_users]
    n_test = np.minimum(np.rint(test_fraction * counts).astype(np.int64), np.maximum(counts - 1, 0))
    is_test = np.zeros(len(ratings), dtype=bool)
    is_test[order] = rank < n_test[sorted_users]
    return RatingSplit(train=ratings.subset(~is_test), test=ratings.subset(is_test))


def merge_duplicates(users: np.ndarray, items: np.ndarray, timestamps: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Positions of the interactions to keep when a (user, item) pair comes more than once: the latest one
    by timestamp, and among equal (or absent) timestamps the last in the file. One pair is one interaction,
    so it can never be both in a user's training data and in their test data. Kept in their given order."""
    order = np.lexsort((rows, timestamps, items, users))
    pairs_end = np.r_[(np.diff(users[order]) != 0) | (np.diff(items[order]) != 0), True]
    return np.sort(order[pairs_end])
