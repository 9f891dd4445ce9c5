"""What secure aggregation hands the aggregator: a noisy sum (under DP) or a weighted mean (FedAvg)."""

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
        """Empty: the sum names no client."""
        return np.zeros(0, dtype=np.int64)


@dataclass(frozen=True)
class SecureMean:
    """The example-weighted mean update of a cohort, as secure aggregation recovers it (FedAvg's weighting
    done inside the masked sum): no client's own update, only what the cohort's updates average to.

    ``dense``: name -> ``[*shape]`` mean delta of each dense parameter (weighted by examples);
    ``rows``: name -> ``[r, *row_shape]`` mean delta of each of the ``r`` rows some client trained, at
    ``index`` (int64 ``[r]``), each weighted by ``row_weight`` (``[r]``, the summed row weights);
    ``examples``: the cohort's total example count."""

    dense: dict[str, Tensor]
    index: Tensor
    row_weight: Tensor
    rows: dict[str, Tensor]
    examples: float

    @property
    def client_ids(self) -> np.ndarray:  # the mean names no client
        """Empty: the mean names no client."""
        return np.zeros(0, dtype=np.int64)
