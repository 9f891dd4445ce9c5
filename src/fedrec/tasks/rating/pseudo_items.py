"""Pseudo-items: each client also trains items it never rated, with virtual ratings, so that the rows it
uploads are not exactly the items it rated.

Lin, Pan, Ming et al., "FedRec: Federated Recommendation with Explicit Feedback", IEEE Intelligent Systems
2021: a client samples unrated items afresh every round and assigns each its own average rating ("user
averaging" filling). The price is accuracy (the virtual ratings are noise to the item side); the audit
measures how much the attack and the RMSE each lose.
"""

from __future__ import annotations

import numpy as np

from fedrec.engine.types import CohortData
from fedrec.rng import mix


def with_pseudo_items(data: CohortData, num_items: int, ratio: float, seed: int, round_index: int) -> CohortData:
    """``data`` plus ``ceil(ratio * count)`` distinct unrated items per client rated at the client's mean."""
    n = len(data.client_ids)
    owner = np.repeat(np.arange(n), data.counts)
    wanted = np.ceil(ratio * data.counts).astype(np.int64)
    draws = 2 * wanted + 8  # enough candidates that, after rated and repeated items go, ``wanted`` remain
    cand_owner = np.repeat(np.arange(n), draws)
    nth = np.arange(int(draws.sum())) - np.repeat(np.cumsum(draws) - draws, draws)
    # each client's own draws (a hash of seed, round, client, n), whatever cohort or host it trains in
    cand_item = (mix(seed, round_index, data.client_ids[cand_owner], nth, 0x95E) % np.uint64(num_items)).astype(
        np.int64
    )
    code = cand_owner * num_items + cand_item
    rated = owner * num_items + data.items.astype(np.int64)
    code = code[~np.isin(code, rated)]
    code = np.unique(code)  # sorted: by owner, then item; the order within a client is reshuffled in training
    cand_owner = code // num_items
    rank = np.arange(len(code)) - np.searchsorted(cand_owner, cand_owner)
    keep = rank < wanted[cand_owner]
    pseudo_owner, pseudo_item = cand_owner[keep], (code % num_items)[keep]
    means = np.bincount(owner, weights=data.ratings, minlength=n) / np.maximum(data.counts, 1)
    all_owner = np.concatenate([owner, pseudo_owner])
    order = np.argsort(all_owner, kind="stable")
    items = np.concatenate([data.items, pseudo_item.astype(data.items.dtype)])[order]
    ratings = np.concatenate([data.ratings, means[pseudo_owner].astype(data.ratings.dtype)])[order]
    counts = np.bincount(all_owner, minlength=n)
    return CohortData(data.client_ids, counts, items, ratings)
