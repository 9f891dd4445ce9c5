"""Implicit feedback: every interaction is a positive; the leave-one-out split and evaluation negatives."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fedrec.data.ratings import Ratings


@dataclass(frozen=True)
class LeaveOneOut:
    """Each user's held-out item, and 99 (or ``num_negatives``) items the user never interacted with."""

    train: Ratings
    test_items: np.ndarray  # [num_users] item index held out for each user (-1 for users not loaded)
    eval_negatives: np.ndarray  # [num_users, num_negatives] (-1 for users not loaded)
    by_time: bool  # True when the held-out item is the latest interaction, False when drawn at random

    @classmethod
    def empty(cls, train: Ratings, num_negatives: int) -> LeaveOneOut:
        """No user's data: what a server holds."""
        missing = np.full(train.num_users, -1, dtype=np.int64)
        negatives = np.full((train.num_users, num_negatives), -1, dtype=np.int64)
        return cls(train, missing, negatives, train.catalogue.has_timestamps)


def leave_one_out(ratings: Ratings, seed: int, num_negatives: int = 99) -> LeaveOneOut:
    """Hold out each user's latest interaction (a seeded random one where timestamps are absent).

    Ties in time are broken at random, with the seed. The evaluation negatives of user u are drawn from
    the items u never interacted with, by u's own seeded generator, so a client can draw them itself. A user
    with a single interaction keeps nothing to train on; the ranking task does not evaluate such users.
    ``ratings`` may hold only some users' interactions: each is split as in the whole dataset.
    """
    by_time = ratings.catalogue.has_timestamps
    noise = ratings.row_keys(np.random.default_rng([seed, 0x100]))
    stamps = ratings.timestamps if by_time else np.zeros(len(ratings), dtype=np.int64)
    order = np.lexsort((noise, stamps, ratings.users))
    last = np.r_[ratings.users[order][1:] != ratings.users[order][:-1], True]
    held = order[last]
    test_items = np.full(ratings.num_users, -1, dtype=np.int64)
    test_items[ratings.users[held]] = ratings.items[held]
    is_test = np.zeros(len(ratings), dtype=bool)
    is_test[held] = True
    negatives = sample_unseen(ratings, seed, num_negatives)
    return LeaveOneOut(ratings.subset(~is_test), test_items, negatives, by_time)


def fewest_unseen(ratings: Ratings) -> int:
    """The number of items the most active user never interacted with: the most evaluation negatives every
    user can be given."""
    distinct = np.unique(ratings.users * ratings.num_items + ratings.items) // ratings.num_items
    return ratings.num_items - int(np.bincount(distinct, minlength=ratings.num_users).max())


def sample_unseen(ratings: Ratings, seed: int, count: int) -> np.ndarray:
    """``count`` distinct items per user present in ``ratings``, none of which the user interacted with (one
    setup pass); -1 for the users absent from ``ratings``."""
    order = np.argsort(ratings.users, kind="stable")
    bounds = np.searchsorted(ratings.users[order], np.arange(ratings.num_users + 1))
    items = ratings.items[order]
    every = np.arange(ratings.num_items)
    out = np.full((ratings.num_users, count), -1, dtype=np.int64)
    for user in np.unique(ratings.users).tolist():
        unseen = np.setdiff1d(every, items[bounds[user] : bounds[user + 1]])
        out[user] = np.random.default_rng([seed, 0x4E6, user]).choice(unseen, size=count, replace=False)
    return out
