"""Training negatives, drawn by each client from the items it has not interacted with.

A counter-based hash of (seed, round, epoch, client, position, k, attempt) picks the item, so a client draws
the same negatives whether it trains alone or in a cohort; the server never learns which items a user did
not interact with, beyond what the rows it receives show.
"""

from __future__ import annotations

import numpy as np

from fedrec.rng import mix

ATTEMPTS = 16


def draw_negatives(
    seed: int,
    round_index: int,
    epoch: int,
    client_ids: np.ndarray,
    positions: np.ndarray,
    per_example: int,
    num_items: int,
    positive_keys: np.ndarray,
) -> np.ndarray:
    """``[n, per_example]`` item indices; ``positive_keys`` are sorted ``client_id * num_items + item``."""
    out = np.empty((len(client_ids), per_example), dtype=np.int64)
    for k in range(per_example):
        pick = np.empty(len(client_ids), dtype=np.int64)
        todo = np.arange(len(client_ids))
        for attempt in range(ATTEMPTS):
            draw = (mix(seed, round_index, epoch, client_ids[todo], positions[todo], k, attempt) % num_items).astype(
                np.int64
            )
            pick[todo] = draw
            todo = todo[is_positive(client_ids[todo] * num_items + draw, positive_keys)]
            if len(todo) == 0:
                break
        out[:, k] = pick
    return out


def is_positive(keys: np.ndarray, positive_keys: np.ndarray) -> np.ndarray:
    """Which ``keys`` (``user * num_items + item``) are among the sorted ``positive_keys``."""
    where = np.searchsorted(positive_keys, keys)
    where = np.minimum(where, len(positive_keys) - 1)
    found: np.ndarray = positive_keys[where] == keys
    return found
