"""Participation-aware weights for the updates of clients that answer rarely."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class ParticipationWeights:
    """Weigh an update by the versions since its client last counted, up to ``cap`` (since the start, the
    first time): clients that answer rarely (slow devices, heavy work) then weigh about as much over a run as
    those that answer often. The interval estimate of Wang and Ji, "A Lightweight Method for Tackling Unknown
    Participation Statistics in Federated Averaging" (FedAU), ICLR 2024. ``cap`` 0: every weight is 1."""

    cap: int = 0
    last_counted: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # [max id + 1]

    def state_dict(self) -> dict[str, Any]:
        return {"last_counted": self.last_counted}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.last_counted = np.asarray(state["last_counted"], dtype=np.int64)

    def apply(self, update: Any, version: int) -> Any:
        """``update`` (a batch with ``client_ids`` and ``reweighted``) with each client's weight multiplied by its
        interval, as counted towards ``version``."""
        if not self.cap:
            return update
        ids = np.asarray(update.client_ids, dtype=np.int64)
        if len(self.last_counted) <= ids.max():
            grown = np.zeros(int(ids.max()) + 1, dtype=np.int64)
            grown[: len(self.last_counted)] = self.last_counted
            self.last_counted = grown
        intervals = np.minimum(version - self.last_counted[ids], self.cap).astype(np.float64)
        self.last_counted[ids] = version
        return update.reweighted(np.maximum(intervals, 1.0))
