"""The other datasets parse, through the real loader, to their documented statistics."""

import numpy as np
import pytest

from fedrec.data import load
from fedrec.errors import DataError


def test_ml_latest_small() -> None:
    r = load("ml-latest-small")
    assert (len(r), r.num_users, r.num_items) == (100_836, 610, 9_724)
    assert np.bincount(r.users).min() == 20 and r.rating_range == (0.5, 5.0)
    assert sorted(set(r.values.tolist())) == [x / 2 for x in range(1, 11)]
    assert r.item_titles[0] == "Toy Story (1995)" and r.timestamps.min() > 800_000_000


def test_ml1m_derived_copy() -> None:
    r = load("ml-1m-derived")
    assert (len(r), r.num_users, r.num_items) == (1_000_209, 6_040, 3_706)
    assert np.bincount(r.values.astype(int))[1:].tolist() == [56_174, 107_557, 261_197, 348_971, 226_310]
    counts = np.bincount(r.users)
    assert (counts.min(), counts.max(), counts[0]) == (20, 2_314, 53)
    assert (r.timestamps == -1).all(), "this copy has no timestamps"


def test_lastfm_play_counts() -> None:
    r = load("lastfm-2k")
    assert (len(r), r.num_users, r.num_items) == (92_834, 1_892, 17_632)
    assert r.item_titles[0] == "MALICE MIZER" and r.values.min() >= 1


def test_official_ml1m_needs_its_ratings_file() -> None:
    with pytest.raises(DataError, match="ratings.dat is missing from the mirror"):
        load("ml-1m")
