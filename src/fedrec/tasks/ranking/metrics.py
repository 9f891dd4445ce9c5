"""Top-k metrics from the rank of each held-out item (0 is the top)."""

from __future__ import annotations

import torch
from torch import Tensor


def rank_of(scores: Tensor, column: Tensor) -> Tensor:
    """Rank of ``scores[i, column[i]]`` within row i: how many other entries score strictly higher.

    Ties count against the held-out item (half of them, so a constant model ranks it in the middle). A NaN
    score (a diverged model) ranks last: NaN compares false with everything, which would make it the top.
    """
    target = scores.gather(1, column.unsqueeze(1))
    higher = (scores > target).sum(1)
    ties = (scores == target).sum(1) - 1  # the held-out item ties with itself
    return torch.where(target.squeeze(1).isnan(), scores.shape[1] - 1, higher + ties // 2)


def rank_of_first(scores: Tensor) -> Tensor:
    """Rank of column 0 within each row (the held-out item among its sampled negatives)."""
    return rank_of(scores, torch.zeros(len(scores), dtype=torch.int64))


def hit(rank: Tensor, k: int) -> Tensor:
    """1.0 where the held-out item ranks within the top ``k`` (``rank`` 0-based), else 0.0."""
    return (rank < k).double()


def ndcg(rank: Tensor, k: int) -> Tensor:
    """One relevant item: 1 / log2(rank + 2) inside the top k, else 0."""
    return torch.where(rank < k, 1.0 / torch.log2(rank.double() + 2.0), torch.zeros((), dtype=torch.float64))
