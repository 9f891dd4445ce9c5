"""Each splitter covers every example exactly once, is deterministic, and has its defining property."""

import numpy as np
import pytest

from fedrec.data.splitters import dirichlet_split, iid_split, natural_split, shard_split, split_like

LABELS = np.random.default_rng(0).integers(0, 10, size=5_000)


def _partition(parts: list[np.ndarray], n: int) -> None:
    joined = np.concatenate(parts)
    assert len(joined) == n and np.array_equal(np.sort(joined), np.arange(n)), "covering and disjoint"


def test_iid() -> None:
    parts = iid_split(5_000, 7, seed=1)
    _partition(parts, 5_000)
    assert {len(p) for p in parts} <= {714, 715}
    assert all(np.array_equal(a, b) for a, b in zip(parts, iid_split(5_000, 7, seed=1), strict=True))
    assert not np.array_equal(parts[0], iid_split(5_000, 7, seed=2)[0])


@pytest.mark.parametrize("alpha", [0.1, 0.5, 100.0])
def test_dirichlet_label_skew_grows_as_alpha_shrinks(alpha: float) -> None:
    parts = dirichlet_split(LABELS, 20, alpha, seed=3)
    _partition(parts, len(LABELS))
    assert all(np.array_equal(a, b) for a, b in zip(parts, dirichlet_split(LABELS, 20, alpha, seed=3), strict=True))
    top_share = np.mean([np.bincount(LABELS[p], minlength=10).max() / len(p) for p in parts])
    if alpha == 0.1:
        assert top_share > 0.5, "with alpha 0.1 most of a client's data is one class"
    if alpha == 100.0:
        assert top_share < 0.2, "with a large alpha every client looks like the whole"


def test_dirichlet_rejects_bad_alpha() -> None:
    with pytest.raises(ValueError, match="alpha must be positive"):
        dirichlet_split(LABELS, 3, 0.0, seed=0)


def test_shards_give_each_client_at_most_k_classes() -> None:
    labels = np.repeat(np.arange(10), 500)
    parts = shard_split(labels, 10, 2, seed=4)
    _partition(parts, len(labels))
    assert max(len(np.unique(labels[p])) for p in parts) <= 2


def test_natural_split_pools_small_groups() -> None:
    groups = np.array(["a"] * 50 + ["b"] * 30 + ["c"] * 2 + ["d"] * 1)
    parts, names = natural_split(groups, min_size=10)
    assert names == ["a", "b", "other"] and [len(p) for p in parts] == [50, 30, 3]
    _partition(parts, len(groups))


def test_split_like_gives_each_client_its_training_label_mix() -> None:
    rng = np.random.default_rng(0)
    train, test = rng.integers(0, 5, 20_000), rng.integers(0, 5, 5_000)
    parts = dirichlet_split(train, 8, 0.2, 0)
    tested = split_like(train, parts, test, 0)
    assert sorted(np.concatenate(tested).tolist()) == list(range(len(test))), "every test example, once"
    for part, mine in zip(parts, tested, strict=True):
        share_train = np.bincount(train[part], minlength=5) / np.bincount(train, minlength=5)
        share_test = np.bincount(test[mine], minlength=5) / np.bincount(test, minlength=5)
        assert np.allclose(share_train, share_test, atol=0.01)
    assert [t.tolist() for t in split_like(train, parts, test, 0)] == [t.tolist() for t in tested]


def test_dirichlet_that_cannot_fill_every_client_says_so_without_naming_settings() -> None:
    with pytest.raises(ValueError, match=r"no Dirichlet\(0.01\) draw in 1000 gives each of 80 clients 1 examples"):
        dirichlet_split(LABELS[:100] % 2, 80, 0.01, seed=0)
