"""What a user's device computes: scores from its own parameters and the item table it downloaded, and,
for a user who took part in no round, a fit of their own parameters against the frozen item table.

Nothing here knows where the item table came from (a run folder, a server, a cache on the device).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def score_items(user: dict[str, Tensor], items: dict[str, Tensor]) -> Tensor:
    """Score of every item: [global offset] + [user bias] + item bias + <user vector, item vector>."""
    score = items["item_emb"] @ user["user_emb"] + items["item_bias"]
    if "global_bias" in items:
        score = score + items["global_bias"]
    if "user_bias" in user:
        score = score + user["user_bias"]
    return score


def top_unseen(scores: Tensor, seen: Tensor, k: int) -> Tensor:
    """Indices of the ``k`` highest-scoring items outside ``seen``, best first.

    ``scores`` [items] are the model's raw scores: ranking a transformed score (a prediction clipped to the
    rating scale) would tie every item above the scale's top and order them arbitrarily. Ties go to the lower
    index (a stable sort), so the top ``k`` is always a prefix of the top ``k + 1``. NaN ranks last (a
    descending sort would put it first).
    """
    candidates = torch.ones(len(scores), dtype=torch.bool)
    candidates[seen] = False
    unseen = torch.nonzero(candidates).flatten()
    ranked = scores[unseen].nan_to_num(nan=-torch.inf, posinf=torch.inf, neginf=-torch.inf)
    order = torch.sort(ranked, descending=True, stable=True).indices
    return unseen[order[:k]]


def fit_new_user(
    items: dict[str, Tensor],
    item_index: Tensor,
    ratings: Tensor | None,
    l2: float,
    steps: int = 300,
    lr: float = 0.05,
    seed: int = 0,
) -> dict[str, Tensor]:
    """Fit a new user's private parameters with the item table frozen (federated reconstruction).

    With ratings (a rating model): least squares on the user's ratings. Without (a ranking model): BPR
    against items drawn at random from those the user did not interact with.
    """
    generator = torch.Generator().manual_seed(seed)
    dim = items["item_emb"].shape[1]
    user = nn.Parameter(torch.randn(dim, generator=generator) * 0.01)
    bias = nn.Parameter(torch.zeros(()))
    explicit = ratings is not None and "global_bias" in items
    optimizer = torch.optim.Adam([user, bias] if explicit else [user], lr=lr)
    emb, item_bias = items["item_emb"].detach(), items["item_bias"].detach()
    unseen = torch.ones(emb.shape[0], dtype=torch.bool)
    unseen[item_index] = False
    candidates = torch.nonzero(unseen).flatten()
    for _ in range(steps):
        optimizer.zero_grad()
        if explicit:
            assert ratings is not None
            pred = items["global_bias"] + bias + item_bias[item_index] + emb[item_index] @ user
            loss = ((pred - ratings) ** 2).mean() + l2 * (user @ user + bias**2)
        else:
            neg = candidates[torch.randint(len(candidates), (len(item_index),), generator=generator)]
            diff = (emb[item_index] - emb[neg]) @ user + item_bias[item_index] - item_bias[neg]
            loss = nn.functional.softplus(-diff).mean() + l2 * (user @ user)
        loss.backward()  # type: ignore[no-untyped-call]
        optimizer.step()
    fitted = {"user_emb": user.detach()}
    if explicit:
        fitted["user_bias"] = bias.detach()
    return fitted
