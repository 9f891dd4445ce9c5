"""What secure aggregation hands the DP aggregator: a sum that already carries its noise."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from torch import Tensor


@dataclass(frozen=True)
class NoisySum:
    """The sum of clipped updates with its noise already in it (as secure aggregation delivers it under DP:
    each client added its share of the noise before masking)."""

    sums: dict[str, Tensor]  # name -> full-shape tensor

    @property
    def client_ids(self) -> np.ndarray:  # the sum names no client
        return np.zeros(0, dtype=np.int64)
