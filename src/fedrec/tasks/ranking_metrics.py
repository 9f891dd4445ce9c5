"""Top-k metrics from the rank of each held-out item (0 is the top)."""

from __future__ import annotations

import torch
from torch import Tensor


def rank_of_first(scores: Tensor) -> Tensor:
    """Rank of column 0 within each row: how many other candidates score strictly higher.

    Ties count against the held-out item (half of them, so a constant model ranks it in the middle).
    """
    target = scores[:, :1]
    higher = (scores[:, 1:] > target).sum(1)
    ties = (scores[:, 1:] == target).sum(1)
    return higher + ties // 2


def hit(rank: Tensor, k: int) -> Tensor:
    return (rank < k).double()


def ndcg(rank: Tensor, k: int) -> Tensor:
    """One relevant item: 1 / log2(rank + 2) inside the top k, else 0."""
    return torch.where(rank < k, 1.0 / torch.log2(rank.double() + 2.0), torch.zeros((), dtype=torch.float64))
