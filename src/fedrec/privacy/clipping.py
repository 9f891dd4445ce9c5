"""Clipping a client's whole update (every parameter it uploads) to an L2 norm, for a cohort at once."""

from __future__ import annotations

import torch
from torch import Tensor

from fedrec.payloads import ClientUpdates


def update_norms(updates: ClientUpdates) -> Tensor:
    """Each client's L2 norm over its dense deltas and all its row deltas, float64 ``[n]``."""
    n = len(updates.client_ids)
    squares = torch.zeros(n, dtype=torch.float64)
    for deltas in updates.dense.values():
        squares += deltas.double().reshape(n, -1).pow(2).sum(1)
    rows = updates.rows
    for values in rows.values.values():
        per_row = values.double().reshape(len(rows.owner), -1).pow(2).sum(1)
        squares.index_add_(0, rows.owner, per_row)
    return squares.sqrt()


def clip_updates(updates: ClientUpdates, clip_norm: float) -> ClientUpdates:
    """Every client's update scaled by ``min(1, clip_norm / norm)``: no client's norm exceeds ``clip_norm``."""
    norms = update_norms(updates)
    factor = torch.clamp(clip_norm / norms.clamp_min(1e-30), max=1.0)
    return updates.discounted(factor.numpy())
