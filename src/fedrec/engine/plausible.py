"""Checks of clients' metric sums against what an honest evaluation can produce.

Every combiner reports sums per client; a hostile client could send any finite numbers (an error sum of
10^300 turns a run's RMSE into 10^148). What no evaluation can produce is refused per client: a count that is
not a whole number, a sum of per-example values in [0, bound] that exceeds count x bound.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from fedrec.payloads import MetricSums

_SLACK = 1e-6  # float64 sums of float32 terms


def missing(sums: MetricSums, names: set[str]) -> str | None:
    """Why ``sums`` cannot be combined: a required name absent, or a value that is not one number per client."""
    absent = names - set(sums.sums)
    if absent:
        return f"metric sums lack {sorted(absent)}"
    n = len(sums.client_ids)
    for name in names:
        value = sums.sums[name]
        if value.dim() != 1 or value.shape[0] != n or not value.is_floating_point():
            return f"metric sum {name} must be one float per client"
    return None


def not_a_count(count: Tensor) -> Tensor:
    """bool ``[n]``: counts that are negative, not finite or not whole numbers."""
    return ~torch.isfinite(count) | (count < 0) | (count != torch.round(count))


def exceeds(value: Tensor, limit: Tensor) -> Tensor:
    """bool ``[n]`` (rows of ``value``): a sum above ``limit`` (per client), or below zero."""
    flat = value.double().reshape(value.shape[0], -1)
    ceiling = limit.double().reshape(-1, 1) * (1 + _SLACK) + _SLACK
    return ((flat > ceiling) | (flat < 0)).any(1)


def as_mask(bad: Tensor) -> np.ndarray:
    """bool ``[n]`` numpy mask of a torch bool tensor."""
    mask: np.ndarray = bad.numpy().astype(bool)
    return mask
