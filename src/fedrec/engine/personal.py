"""Parameters that stay on the client: personal layers (FedPer; FedBN keeps its normalization layers so).

Arivazhagan et al., "Federated Learning with Personalization Layers", 2019; Li et al., "FedBN: Federated
Learning on Non-IID Features via Local Batch Normalization", ICLR 2021. Each hosted client keeps its own copy
of the named parameters, starting from the first model it receives; they train with the rest of the model
but are never uploaded, so the server's copy of them stays the initial one and nobody averages them.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor


class PersonalLayers:
    """Parameters that stay on each client (FedPer's head, FedBN's normalization; names matching ``prefixes``): they
    train with the rest and never travel. Raises ``ValueError`` for a prefix no parameter has."""

    def __init__(self, client_ids: np.ndarray, all_names: list[str], prefixes: tuple[str, ...]) -> None:
        self.client_ids = np.sort(np.asarray(client_ids, dtype=np.int64))
        self.names = {n for n in all_names if any(n == p or n.startswith(p + ".") for p in prefixes)}
        unmatched = [p for p in prefixes if not any(n == p or n.startswith(p + ".") for n in all_names)]
        if unmatched:
            raise ValueError(f"no parameter is named {unmatched[0]!r}; the model has {', '.join(all_names)}")
        self.store: dict[str, Tensor] = {}  # name -> [hosted clients, *shape]

    def _rows(self, clients: np.ndarray) -> Tensor:
        return torch.from_numpy(np.searchsorted(self.client_ids, clients))

    def start(self, clients: np.ndarray, weights: dict[str, Tensor]) -> dict[str, Tensor]:
        """Stacked starting weights of ``clients``: the received ones, each client's own for personal names."""
        stacked = {k: v.expand(len(clients), *v.shape).clone() for k, v in weights.items()}
        for name in self.names:
            if name not in self.store:
                self.store[name] = weights[name].expand(len(self.client_ids), *weights[name].shape).clone()
            stacked[name] = self.store[name][self._rows(clients)].clone()
        return stacked

    def keep(self, clients: np.ndarray, end: dict[str, Tensor]) -> None:
        """Store the personal parameters ``clients`` ended their training with (stacked ``[clients, *shape]``)."""
        for name in self.names:
            self.store[name][self._rows(clients)] = end[name].detach()

    def shared(self, values: dict[str, Tensor]) -> dict[str, Tensor]:
        """``values`` without the personal parameters (what an update may carry)."""
        return {k: v for k, v in values.items() if k not in self.names}

    def of(self, client: int, weights: dict[str, Tensor]) -> dict[str, Tensor]:
        """One client's weights: the received ones, with its own personal parameters once it has trained."""
        row = int(self._rows(np.array([client]))[0])
        return weights | {k: self.store[k][row] for k in self.names if k in self.store}
