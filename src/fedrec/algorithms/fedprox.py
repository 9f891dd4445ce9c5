"""FedProx: every client minimises its loss plus ``(mu / 2) * ||w - w_global||^2``.

Li et al., "Federated Optimization in Heterogeneous Networks", MLSys 2020. The term pulls a client that takes
many steps on skewed data back towards the model it received, which bounds how far clients drift apart.
It is a client objective term only: the server side is FedAvg's, or any server optimizer's (FedProx with
FedAdam is a configuration). For stacked weights (one row per client) the sum over rows gives each client
exactly its own term's gradient, ``mu * (w_c - w_global)``.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from fedrec.engine.objective import PlainObjective
from fedrec.payloads import GlobalModel


class FedProx(PlainObjective):  # no state and no uploads: only the loss term and its gradient differ
    """FedProx's client term (Li et al., "Federated Optimization in Heterogeneous Networks", MLSys 2020): ``(mu / 2) |w
    - w_g|^2`` over the federated weights a client trains, w_g the model it received. Uploads nothing beside the
    delta."""

    def __init__(self, mu: float) -> None:
        self.mu = mu

    def penalty(self, clients: np.ndarray, weights: dict[str, Tensor], model: GlobalModel) -> Tensor:
        total = torch.zeros(())
        for name, w in weights.items():
            total = total + ((w - model.params[name]) ** 2).sum()
        return 0.5 * self.mu * total

    def add_gradients(
        self, grads: dict[str, Tensor], params: dict[str, Tensor], anchors: dict[str, Tensor], active: dict[str, int]
    ) -> None:
        """``mu * (w - w_received)`` on each trained row. Row-aware: a client holds copies of the table rows it
        trains only; a row it does not hold stays at the received value, where the term and its gradient are
        zero, so leaving those rows out is exact."""
        for name, anchor in anchors.items():
            n = active[name]
            grads[name][:n] += self.mu * (params[name][:n].detach() - anchor[:n])
