import numpy as np
import pytest

from fedrec.runtime.sampling import ClientSampler

CANDIDATES = np.arange(1, 101)


def test_count_sampling_is_seeded_sorted_and_without_replacement() -> None:
    sampler = ClientSampler(seed=3, count=10)
    first = sampler.sample(1, CANDIDATES)
    assert len(first) == 10 and len(set(first.tolist())) == 10
    assert np.all(np.diff(first) > 0) and set(first.tolist()) <= set(CANDIDATES.tolist())
    assert np.array_equal(first, ClientSampler(seed=3, count=10).sample(1, CANDIDATES[::-1]))
    assert not np.array_equal(first, sampler.sample(2, CANDIDATES))
    assert not np.array_equal(first, ClientSampler(seed=4, count=10).sample(1, CANDIDATES))


def test_fraction_and_default_sizes() -> None:
    assert len(ClientSampler(0, fraction=0.25).sample(1, CANDIDATES)) == 25
    assert len(ClientSampler(0, fraction=0.001).sample(1, CANDIDATES)) == 1
    assert np.array_equal(ClientSampler(0).sample(1, CANDIDATES), CANDIDATES)
    assert len(ClientSampler(0, count=500).sample(1, CANDIDATES)) == 100
    with pytest.raises(ValueError):
        ClientSampler(0, count=1, fraction=0.5)
