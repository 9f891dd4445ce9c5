"""FedAvg: the global model moves by the example-weighted mean of the clients' deltas.

McMahan et al., "Communication-Efficient Learning of Deep Networks from Decentralized Data", AISTATS 2017.
For row-sparse tables (item embeddings) each row moves by the weighted mean of the deltas of the clients
that trained it, weighted by how many of their examples touched it; rows nobody trained stay put.
``server_lr`` scales the step (1.0 is plain FedAvg).
"""

from __future__ import annotations

import torch
from torch import Tensor

from fedrec.payloads import ClientUpdates, GlobalModel


def fedavg_dense(value: Tensor, deltas: Tensor, weights: Tensor, server_lr: float = 1.0) -> Tensor:
    """``value + server_lr * sum_k w_k delta_k / sum_k w_k`` for deltas stacked as ``[n, *value.shape]``."""
    w = weights.to(deltas.dtype).reshape(-1, *([1] * value.dim()))
    return value + server_lr * (w * deltas).sum(0) / weights.sum().to(deltas.dtype)


def fedavg_rows(table: Tensor, index: Tensor, deltas: Tensor, weights: Tensor, server_lr: float = 1.0) -> Tensor:
    """Move each row of ``table`` by the weighted mean of the deltas addressed to it."""
    w = weights.to(deltas.dtype)
    total = torch.zeros(table.shape[0], dtype=deltas.dtype).index_add_(0, index, w)
    summed = torch.zeros_like(table, dtype=deltas.dtype).index_add_(
        0, index, deltas * w.reshape(-1, *([1] * (deltas.dim() - 1)))
    )
    touched = total > 0
    mean = torch.zeros_like(summed)
    mean[touched] = summed[touched] / total[touched].reshape(-1, *([1] * (deltas.dim() - 1)))
    return table + server_lr * mean.to(table.dtype)


class FedAvg:
    def __init__(self, server_lr: float = 1.0) -> None:
        self.server_lr = server_lr

    def aggregate(self, model: GlobalModel, updates: list[ClientUpdates]) -> GlobalModel:
        ordered = sorted(updates, key=lambda u: int(u.client_ids.min()))  # arrival order must not matter
        batch = ClientUpdates.concat(ordered)
        params = dict(model.params)
        for name, deltas in batch.dense.items():
            params[name] = fedavg_dense(params[name], deltas, batch.num_examples, self.server_lr)
        rows = batch.rows
        for name, deltas in rows.values.items():
            params[name] = fedavg_rows(params[name], rows.index, deltas, rows.weight, self.server_lr)
        return model.replace(params)
