"""Counter-based random streams: per-client shuffling and draws that a whole cohort can compute at once.

Each client orders its examples by a counter-based hash of (seed, round, epoch, client, position), so the
order a client sees does not depend on which other clients share its cohort, on the host, or on whether
the cohort path or the sequential path runs it.
"""

from __future__ import annotations

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def _splitmix64(x: np.ndarray) -> np.ndarray:
    z = x + _GOLDEN
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


def mix(*parts: np.ndarray | int) -> np.ndarray:
    """Hash a sequence of integers (scalars or aligned arrays) to uint64."""
    with np.errstate(over="ignore"):
        state = np.zeros(1, dtype=np.uint64)
        for part in parts:
            state = _splitmix64(state ^ np.asarray(part).astype(np.uint64))
    return state


def shuffle_keys(seed: int, round_index: int, epoch: int, client_ids: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """One key per example; sorting a client's examples by key gives that client's shuffled order."""
    return mix(seed, round_index, epoch, client_ids, positions)
