"""SCAFFOLD: control variates correct each client's drift towards its own optimum.

Karimireddy et al., "SCAFFOLD: Stochastic Controlled Averaging for Federated Learning", ICML 2020, with the
paper's cheaper control update (option II). The server holds a control ``c`` per weight, which travels in
the model under ``control.<name>``; client i holds its own ``c_i``, which never leaves it. Each local SGD
step follows ``g_i(y) - c_i + c``, written here as the loss term ``<y, c - c_i>`` whose gradient it is.
After K steps of learning rate lr the client sets ``c_i+ = c_i - c + (x - y) / (K lr)`` and uploads
``y - x`` and ``c_i+ - c_i``; the server moves x as FedAvg does and ``c`` by the sum of the control
changes over all N clients (``|S|/N`` times their mean). Local training must be plain SGD for the
``(x - y) / (K lr)`` estimate to mean what it says; the config enforces it.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
import torch
from torch import Tensor

from fedrec.payloads import ClientUpdates, GlobalModel

CONTROL = "control."


class Aggregator(Protocol):
    def aggregate(self, model: GlobalModel, updates: list[ClientUpdates]) -> GlobalModel: ...


def with_controls(model: GlobalModel) -> GlobalModel:
    """The initial model with a zero server control beside every weight."""
    zeros = {CONTROL + k: torch.zeros_like(v) for k, v in model.params.items() if not k.startswith(CONTROL)}
    return model.replace({**model.params, **zeros})


class ScaffoldClient:
    """The client half, for the clients one host holds; their controls stay here."""

    def __init__(self, client_ids: np.ndarray, lr: float) -> None:
        self.client_ids = np.sort(np.asarray(client_ids, dtype=np.int64))
        self.lr = lr
        self.controls: dict[str, Tensor] = {}  # name -> [len(client_ids), *shape]

    def state_dict(self) -> dict[str, Tensor]:
        """Each client's own control ``c_i`` (``[clients, *shape]`` per weight): it never leaves the device."""
        return dict(self.controls)

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        self.controls = dict(state)

    def _rows(self, clients: np.ndarray) -> Tensor:
        return torch.from_numpy(np.searchsorted(self.client_ids, clients))

    def _own(self, name: str, like: Tensor) -> Tensor:
        if name not in self.controls:
            self.controls[name] = torch.zeros(len(self.client_ids), *like.shape, dtype=like.dtype)
        return self.controls[name]

    def penalty(self, clients: np.ndarray, weights: dict[str, Tensor], model: GlobalModel) -> Tensor:
        rows = self._rows(clients[: len(next(iter(weights.values())))])
        total = torch.zeros(())
        for name, w in weights.items():
            server = model.params[CONTROL + name]
            correction = server - self._own(name, server)[rows]
            total = total + (w * correction).sum()
        return total

    def add_gradients(
        self, grads: dict[str, Tensor], params: dict[str, Tensor], anchors: dict[str, Tensor], active: dict[str, int]
    ) -> None:
        """Not for the recommenders' row-sparse kernels yet (the task specs refuse SCAFFOLD there)."""
        raise NotImplementedError("SCAFFOLD's row-aware controls for embedding tables are not implemented")

    def uploads(
        self,
        clients: np.ndarray,
        model: GlobalModel,
        start: dict[str, Tensor],
        end: dict[str, Tensor],
        steps: np.ndarray,
    ) -> dict[str, Tensor]:
        rows = self._rows(clients)
        out = {}
        for name, x in start.items():
            server = model.params[CONTROL + name]
            own = self._own(name, server)
            k = torch.from_numpy(np.maximum(steps, 1)).to(x.dtype).reshape(-1, *([1] * (x.dim() - 1)))
            fresh = own[rows] - server + (x - end[name]) / (k * self.lr)
            out[CONTROL + name] = fresh - own[rows]
            own[rows] = fresh
        return out


class ScaffoldServer:
    """The server half: the weights move as ``inner`` (FedAvg with any server optimizer) moves them, and
    each control by the sum of the clients' control changes over all ``num_clients`` clients."""

    def __init__(self, inner: Aggregator, num_clients: int) -> None:
        self.inner, self.num_clients = inner, num_clients

    def state_dict(self) -> dict[str, Any]:
        """The inner aggregator's state (the server controls travel in the model, and are saved with it)."""
        inner = getattr(self.inner, "state_dict", None)
        return {"inner": inner() if callable(inner) else {}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        load = getattr(self.inner, "load_state_dict", None)
        if callable(load):
            load(state["inner"])

    def aggregate(self, model: GlobalModel, updates: list[ClientUpdates]) -> GlobalModel:
        batch = ClientUpdates.concat(sorted(updates, key=lambda u: int(u.client_ids.min())))
        weights = {k: v for k, v in batch.dense.items() if not k.startswith(CONTROL)}
        moved = self.inner.aggregate(model, [ClientUpdates(batch.client_ids, batch.num_examples, weights, batch.rows)])
        params = dict(moved.params)
        for name, change in batch.dense.items():
            if name.startswith(CONTROL):
                params[name] = model.params[name] + change.sum(0).to(model.params[name].dtype) / self.num_clients
        return moved.replace(params)
