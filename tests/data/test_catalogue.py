"""Catalogues, loading only some users' rows, and the duplicate rule, on the real files and a small fake one."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from fedrec.data import movielens
from fedrec.data.catalogue import CATALOGUE_FILE
from fedrec.data.download import cache_root
from fedrec.data.implicit import leave_one_out
from fedrec.data.movielens import load, load_catalogue, load_users
from fedrec.data.ratings import Ratings, merge_duplicates, per_user_holdout
from fedrec.data.registry import DATASETS, DataFile, DatasetSpec


def _rows_of(ratings: Ratings, users: np.ndarray) -> list[tuple[int, int, float]]:
    keep = np.isin(ratings.users, users)
    return sorted(
        zip(ratings.users[keep].tolist(), ratings.items[keep].tolist(), ratings.values[keep].tolist(), strict=True)
    )


@pytest.mark.parametrize(("name", "split"), [("ml-100k", "holdout"), ("lastfm-2k", "leave-one-out")])
def test_a_client_process_splits_its_users_as_the_whole_dataset_is_split(name: str, split: str) -> None:
    clients = np.array([1, 2, 300, 301, 942])
    mine, whole = load_users(name, clients), load(name)
    assert set(np.unique(mine.users).tolist()) == set((clients - 1).tolist()), "only the hosted users' rows"
    assert (mine.num_users, mine.num_items) == (whole.num_users, whole.num_items), "the same catalogue"
    users = clients - 1
    if split == "holdout":
        a, b = per_user_holdout(whole, 0.2, 3), per_user_holdout(mine, 0.2, 3)
        assert _rows_of(a.train, users) == _rows_of(b.train, users)
        assert _rows_of(a.test, users) == _rows_of(b.test, users)
    else:
        a_loo, b_loo = leave_one_out(whole, 3), leave_one_out(mine, 3)
        assert _rows_of(a_loo.train, users) == _rows_of(b_loo.train, users)
        assert np.array_equal(a_loo.test_items[users], b_loo.test_items[users])
        assert np.array_equal(a_loo.eval_negatives[users], b_loo.eval_negatives[users])
        assert (b_loo.test_items[np.setdiff1d(np.arange(mine.num_users), users)] == -1).all()


@pytest.mark.parametrize(
    ("name", "users", "items", "single"),
    [("ml-100k", 943, 1682, 0), ("ml-latest-small", 610, 9724, 0), ("lastfm-2k", 1892, 17632, 8)],
)
def test_the_catalogue_of_the_real_datasets(name: str, users: int, items: int, single: int) -> None:
    catalogue = load(name).catalogue
    assert (catalogue.num_users, catalogue.num_items, catalogue.single_interaction_users) == (users, items, single)
    assert catalogue.duplicates_merged == 0, "the official files give every (user, item) pair once"
    stored = load_catalogue(name)
    assert np.array_equal(stored.item_ids, catalogue.item_ids) and stored.item_titles == catalogue.item_titles
    assert stored.rating_range == catalogue.rating_range and stored.source_rows == catalogue.source_rows


def test_a_machine_with_only_the_catalogue_needs_no_rating(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = DATASETS["ml-100k"]
    load("ml-100k")  # derives and stores the catalogue in the session's cache
    only = tmp_path / "cache" / spec.folder
    only.mkdir(parents=True)
    shutil.copy(cache_root() / spec.folder / CATALOGUE_FILE, only / CATALOGUE_FILE)
    monkeypatch.setenv("FEDREC_DATA_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("FEDREC_DATA_MIRROR", str(tmp_path / "empty-mirror"))
    catalogue = load_catalogue("ml-100k")
    assert (catalogue.num_users, catalogue.num_items, catalogue.item_titles[0]) == (943, 1682, "Toy Story (1995)")
    assert sorted(p.name for p in only.iterdir()) == [CATALOGUE_FILE], "no rating file was fetched"


def test_a_stale_catalogue_is_derived_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    load("ml-100k")
    path = cache_root() / DATASETS["ml-100k"].folder / CATALOGUE_FILE
    path.write_text(path.read_text().replace('u.data": "06416e', 'u.data": "ffffff'))
    assert load_catalogue("ml-100k").num_users == 943
    assert 'u.data": "06416e' in path.read_text()


def test_merge_keeps_the_latest_interaction_then_the_last_in_the_file() -> None:
    users = np.array([0, 0, 1, 0, 1, 2])
    items = np.array([5, 5, 5, 6, 5, 5])
    stamps = np.array([100, 200, 100, 50, 100, -1])
    keep = merge_duplicates(users, items, stamps, np.arange(6))
    # (0, 5): row 1 is the latest; (1, 5): rows 2 and 4 tie in time, row 4 is the later in the file
    assert keep.tolist() == [1, 3, 4, 5]


@pytest.fixture
def fake_dataset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A dataset in the ML-100K format whose file repeats (user, item) pairs, registered like a real one."""
    mirror = tmp_path / "mirror"
    (mirror / "fake").mkdir(parents=True)
    lines = ["1\t10\t3\t100", "1\t10\t5\t200", "2\t10\t4\t100", "1\t20\t2\t50", "2\t10\t1\t100", "3\t30\t4\t10"]
    (mirror / "fake" / "u.data").write_text("\n".join(lines) + "\n")
    (mirror / "fake" / "u.item").write_text("10|Ten\n20|Twenty\n30|Thirty\n")
    files = (DataFile("fake/u.data", "u.data", ""), DataFile("fake/u.item", "u.item", ""))
    spec = DatasetSpec("fake", "a test dataset", "", "fake", files, "none")
    monkeypatch.setitem(DATASETS, "fake", spec)
    monkeypatch.setitem(movielens.PARSERS, "fake", movielens.PARSERS["ml-100k"])
    monkeypatch.setenv("FEDREC_DATA_MIRROR", str(mirror))
    monkeypatch.setenv("FEDREC_DATA_DIR", str(tmp_path / "cache"))
    return "fake"


def test_duplicate_pairs_are_merged_at_load_time(fake_dataset: str) -> None:
    ratings = load(fake_dataset)
    pairs = {(int(u), int(i)): float(v) for u, i, v in zip(ratings.users, ratings.items, ratings.values, strict=True)}
    assert pairs == {(0, 0): 5.0, (0, 1): 2.0, (1, 0): 1.0, (2, 2): 4.0}, "the latest rating of each pair"
    assert ratings.catalogue.duplicates_merged == 2 and ratings.catalogue.single_interaction_users == 2
    assert len(load_users(fake_dataset, np.array([1]))) == 2, "a client process merges its own rows alike"
    loo = leave_one_out(ratings, 0, 1)
    assert np.bincount(loo.train.users, minlength=3).tolist() == [1, 0, 0], "users 2 and 3 keep nothing"
    held = set(zip(range(3), loo.test_items.tolist(), strict=True))
    assert not held & set(zip(loo.train.users.tolist(), loo.train.items.tolist(), strict=True)), "no pair in both"
