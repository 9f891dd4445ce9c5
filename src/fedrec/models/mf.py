"""Biased matrix factorization: r(u, i) = mu + b_u + b_i + <p_u, q_i>  (Koren, Bell & Volinsky, 2009).

The model knows nothing of federation: the functions here take whichever rows the caller gathered.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def predict(global_bias: Tensor, user_bias: Tensor, user_emb: Tensor, item_bias: Tensor, item_emb: Tensor) -> Tensor:
    """Row-aligned predictions: every argument has one row per (user, item) pair (or broadcasts)."""
    return global_bias + user_bias + item_bias + (user_emb * item_emb).sum(-1)


def init_item_side(num_items: int, dim: int, init_std: float, global_bias: float, seed: int) -> dict[str, Tensor]:
    """The item tables of biased MF: ``item_emb [num_items, dim]`` from N(0, init_std^2), ``item_bias [num_items]``
    zero, and ``global_bias`` (a 0-d tensor), from ``seed``."""
    generator = torch.Generator().manual_seed(seed)
    return {
        "item_emb": torch.randn(num_items, dim, generator=generator) * init_std,
        "item_bias": torch.zeros(num_items),
        "global_bias": torch.tensor([global_bias]),
    }


def init_user_side(num_users: int, dim: int, init_std: float, seed: int) -> dict[str, Tensor]:
    """Initial private state of every user; a user's row depends only on (seed, user index)."""
    generator = torch.Generator().manual_seed(seed + 1_000_003)
    return {
        "user_emb": torch.randn(num_users, dim, generator=generator) * init_std,
        "user_bias": torch.zeros(num_users),
    }


class BiasedMF(nn.Module):
    """All of a biased MF's parameters in one module (the centralized baseline, a single client's copy)."""

    def __init__(self, user_side: dict[str, Tensor], item_side: dict[str, Tensor]) -> None:
        super().__init__()
        self.user_emb = nn.Parameter(user_side["user_emb"].clone())
        self.user_bias = nn.Parameter(user_side["user_bias"].clone())
        self.item_emb = nn.Parameter(item_side["item_emb"].clone())
        self.item_bias = nn.Parameter(item_side["item_bias"].clone())
        self.global_bias = nn.Parameter(item_side["global_bias"].clone())

    def forward(self, users: Tensor, items: Tensor) -> Tensor:
        return predict(
            self.global_bias,
            self.user_bias[users],
            self.user_emb[users],
            self.item_bias[items],
            self.item_emb[items],
        )

    def penalty(self, users: Tensor, items: Tensor) -> Tensor:
        """Mean over the pairs of the squared norms of the biases and embeddings each pair uses."""
        norms = self.user_bias[users] ** 2 + self.item_bias[items] ** 2
        norms = norms + (self.user_emb[users] ** 2).sum(-1) + (self.item_emb[items] ** 2).sum(-1)
        return norms.mean()
