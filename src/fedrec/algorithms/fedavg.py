"""FedAvg: the global model moves by the example-weighted mean of the clients' deltas.

McMahan et al., "Communication-Efficient Learning of Deep Networks from Decentralized Data", AISTATS 2017.
For row-sparse tables (item embeddings) each row moves by the weighted mean of the deltas of the clients
that trained it, weighted by how many of their examples touched it; rows nobody trained stay put.
The mean delta goes through a server optimizer (``server_opt``): plain steps of ``server_lr`` (1.0 is plain
FedAvg), or FedOpt's momentum, Adam, Yogi and Adagrad, by configuration and not by subclassing.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from fedrec.algorithms.server_opt import ServerOptimizer, ServerOptimizerSettings, ServerStep
from fedrec.payloads import ClientUpdates, GlobalModel, scatter_rows
from fedrec.privacy.sums import SecureMean


def mean_dense(deltas: Tensor, weights: Tensor) -> Tensor:
    """``sum_k w_k delta_k / sum_k w_k`` for deltas stacked as ``[n, *shape]``."""
    w = weights.to(deltas.dtype).reshape(-1, *([1] * (deltas.dim() - 1)))
    return (w * deltas).sum(0) / w.sum()


def fedavg_dense(value: Tensor, deltas: Tensor, weights: Tensor, server_lr: float = 1.0) -> Tensor:
    """Plain FedAvg of one dense parameter: ``value + server_lr * mean delta``."""
    return value + server_lr * mean_dense(deltas, weights)


def fedavg_rows(table: Tensor, index: Tensor, deltas: Tensor, weights: Tensor, server_lr: float = 1.0) -> Tensor:
    """Move each row of ``table`` by the weighted mean of the deltas addressed to it."""
    mean, _ = mean_rows(table, index, deltas, weights)
    return table + server_lr * mean.to(table.dtype)


def mean_rows(table: Tensor, index: Tensor, deltas: Tensor, weights: Tensor) -> tuple[Tensor, Tensor]:
    """Each row's weighted mean delta (zero where nobody trained it) and the mask of rows trained."""
    w = weights.to(deltas.dtype)
    total = scatter_rows(index, w, table.shape[0])
    summed = scatter_rows(index, deltas * w.reshape(-1, *([1] * (deltas.dim() - 1))), table.shape[0])
    touched = total > 0
    mean = torch.zeros_like(summed)
    mean[touched] = summed[touched] / total[touched].reshape(-1, *([1] * (deltas.dim() - 1)))
    return mean, touched


class FedAvg:
    """FedAvg with a server optimizer (``server_opt``; plain steps of ``server_lr`` by default). Its state is the
    server optimizer's (moments, step count)."""

    def __init__(self, server_lr: float = 1.0, server_opt: ServerStep | None = None) -> None:
        self.server_opt = server_opt or ServerOptimizer(ServerOptimizerSettings("sgd", server_lr))

    def state_dict(self) -> dict[str, Any]:
        return {"server_opt": self.server_opt.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.server_opt.load_state_dict(state["server_opt"])

    def aggregate(self, model: GlobalModel, updates: list[ClientUpdates] | list[SecureMean]) -> GlobalModel:
        """The next version from the clients' ``updates`` (in any order), or from the cohort's mean as secure
        aggregation recovers it (one ``SecureMean``)."""
        if len(updates) == 1 and isinstance(updates[0], SecureMean):
            return self._apply_mean(model, updates[0])
        plain = [u for u in updates if isinstance(u, ClientUpdates)]
        if len(plain) != len(updates):
            raise TypeError("FedAvg aggregates ClientUpdates, or one SecureMean on its own")
        ordered = sorted(plain, key=lambda u: int(u.client_ids.min()))  # arrival order must not matter
        batch = ClientUpdates.concat(ordered)
        params = dict(model.params)
        step = self.server_opt.step
        for name, deltas in batch.dense.items():
            params[name] = step(name, params[name], mean_dense(deltas, batch.num_examples))
        rows = batch.rows
        for name, deltas in rows.values.items():
            mean, touched = mean_rows(params[name], rows.index, deltas, rows.weight)
            params[name] = step(name, params[name], mean, touched)
        return model.replace(params)

    def _apply_mean(self, model: GlobalModel, mean: SecureMean) -> GlobalModel:
        params = dict(model.params)
        step = self.server_opt.step
        for name, delta in mean.dense.items():
            params[name] = step(name, params[name], delta)
        for name, values in mean.rows.items():
            table = params[name]
            full = torch.zeros((table.shape[0], *values.shape[1:]), dtype=values.dtype)
            full[mean.index] = values
            touched = torch.zeros(table.shape[0], dtype=torch.bool)
            touched[mean.index] = True
            params[name] = step(name, table, full, touched)
        return model.replace(params)
