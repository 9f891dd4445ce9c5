"""Neural collaborative filtering: GMF, MLP and NeuMF (He et al., "Neural Collaborative Filtering", WWW 2017).

Written for stacked parameters: every tensor has a leading axis of A users (their own copies of the shared
weights, as each client holds during local training), scores come out as ``[A, B]`` for B items per user.
The user's vector is split in two halves for NeuMF, the first for the GMF tower and the second for the MLP.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor

NCF_KINDS = ("gmf", "mlp", "neumf")


def towers(kind: str, dim: int) -> tuple[int, int]:
    """Widths of the GMF and MLP parts of a ``dim``-wide embedding."""
    if kind == "gmf":
        return dim, 0
    if kind == "mlp":
        return 0, dim
    return dim // 2, dim - dim // 2


def init_ncf(
    kind: str, num_items: int, dim: int, hidden: tuple[int, ...], init_std: float, seed: int
) -> dict[str, Tensor]:
    """The federated weights of an NCF model (He et al., WWW 2017) of ``kind`` gmf, mlp or neumf: item embeddings
    ``[num_items, dim]`` and the tower's layers of ``hidden`` widths, from ``seed``."""
    generator = torch.Generator().manual_seed(seed)
    gmf, mlp = towers(kind, dim)
    params = {
        "item_emb": torch.randn(num_items, dim, generator=generator) * init_std,
        "item_bias": torch.zeros(num_items),
    }
    if gmf:
        params["gmf_h"] = torch.ones(gmf) + torch.randn(gmf, generator=generator) * init_std
    if mlp:
        width = 2 * mlp
        for layer, out in enumerate(hidden):
            params[f"mlp_w{layer}"] = torch.randn(width, out, generator=generator) * (1.0 / width) ** 0.5
            params[f"mlp_b{layer}"] = torch.zeros(out)
            width = out
        params["mlp_h"] = torch.randn(width, generator=generator) * (1.0 / width) ** 0.5
    return params


def ncf_scores(kind: str, weights: Mapping[str, Tensor], user: Tensor, items: Tensor, item_bias: Tensor) -> Tensor:
    """``user`` [A, d], ``items`` [A, B, d], ``item_bias`` [A, B], weights [A, ...] -> scores [A, B]."""
    gmf, mlp = towers(kind, user.shape[-1])
    score = item_bias
    if gmf:
        score = score + torch.einsum("abd,ad->ab", user[:, None, :gmf] * items[..., :gmf], weights["gmf_h"])
    if mlp:
        x = torch.cat([user[:, None, gmf:].expand(-1, items.shape[1], -1), items[..., gmf:]], dim=-1)
        layer = 0
        while f"mlp_w{layer}" in weights:
            x = torch.relu(
                torch.einsum("abi,aio->abo", x, weights[f"mlp_w{layer}"]) + weights[f"mlp_b{layer}"][:, None]
            )
            layer += 1
        score = score + torch.einsum("abo,ao->ab", x, weights["mlp_h"])
    return score
