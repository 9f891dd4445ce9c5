"""ML-100K through the real loader parses to its documented statistics."""

import numpy as np

from fedrec.data.movielens import load_ml100k


def test_ml100k_statistics() -> None:
    r = load_ml100k()
    assert (len(r), r.num_users, r.num_items) == (100_000, 943, 1_682)
    assert r.user_ids.tolist() == list(range(1, 944)) and r.item_ids[-1] == 1682
    assert np.bincount(r.values.astype(int))[1:].tolist() == [6_110, 11_370, 27_145, 34_174, 21_201]
    assert np.bincount(r.users).min() == 20
    assert (r.timestamps.min(), r.timestamps.max()) == (874_724_710, 893_286_638)
    assert r.item_titles[0] == "Toy Story (1995)" and r.rating_range == (1.0, 5.0)
    pairs = r.users * r.num_items + r.items
    assert len(np.unique(pairs)) == len(pairs)
