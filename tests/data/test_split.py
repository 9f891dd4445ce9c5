"""The per-user holdout: seeded, disjoint, covering, and of the documented size."""

import numpy as np

from fedrec.data.movielens import load_ml100k
from fedrec.data.ratings import per_user_holdout


def _pairs(r):  # type: ignore[no-untyped-def]
    return set((r.users * 10_000 + r.items).tolist())


def test_split_is_disjoint_covering_and_per_user_sized() -> None:
    ratings = load_ml100k()
    split = per_user_holdout(ratings, 0.2, seed=0)
    train, test = _pairs(split.train), _pairs(split.test)
    assert not train & test and train | test == _pairs(ratings)
    per_user = np.bincount(ratings.users)
    assert np.array_equal(np.bincount(split.test.users, minlength=943), np.rint(0.2 * per_user).astype(int))
    assert np.bincount(split.train.users, minlength=943).min() >= 1


def test_split_is_deterministic_per_seed() -> None:
    ratings = load_ml100k()
    a, b = per_user_holdout(ratings, 0.2, seed=1), per_user_holdout(ratings, 0.2, seed=1)
    assert _pairs(a.test) == _pairs(b.test)
    assert _pairs(a.test) != _pairs(per_user_holdout(ratings, 0.2, seed=2).test)
