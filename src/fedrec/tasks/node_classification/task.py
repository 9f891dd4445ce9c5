"""Federated node classification (FS-G style): each client trains the shared GNN on its own subgraph.

Local training is full-batch on the client's subgraph, one client after another (graphs of different
shapes do not stack; the issue's fallback to the sequential path). Dropout draws from a generator seeded
by (seed, round, client), so a client's update does not depend on the order clients run in.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn
from torch.func import functional_call

from fedrec.data.graphs import ClientGraph
from fedrec.engine.accuracy import label_counts
from fedrec.engine.objective import (
    LocalObjective,
    PlainObjective,
    check_same_clients,
    load_objective_state,
    module_weights,
    objective_state,
)
from fedrec.engine.types import LocalTraining
from fedrec.payloads import ClientUpdates, GlobalModel, MetricSums
from fedrec.rng import mix
from fedrec.tasks.base import Task


class NodeClassificationTask(Task):
    """Graph clients one host holds: each holds a subgraph (its nodes, their edges and features) and trains a GNN on
    its own training nodes; only weight deltas leave it."""

    def __init__(
        self,
        graphs: list[ClientGraph],
        client_ids: np.ndarray,
        module: nn.Module,
        local: LocalTraining,
        objective: LocalObjective | None = None,
        classes: int | None = None,
    ) -> None:
        """``classes``: how many labels the whole graph has (default: the largest label among ``graphs`` + 1;
        a client process that holds only its own subgraphs is told)."""
        self.client_ids = np.sort(np.asarray(client_ids, dtype=np.int64))
        self.graphs = {int(c): graphs[c - 1] for c in self.client_ids}
        self.module, self.local = module, local
        self.classes = classes if classes is not None else int(max(int(g.y.max()) for g in graphs)) + 1
        self.objective: LocalObjective = objective or PlainObjective()
        self.names = [name for name, _ in module.named_parameters()]

    def initial_model(self) -> GlobalModel:
        torch.manual_seed(self.local.seed)
        for layer in self.module.modules():
            reset = getattr(layer, "reset_parameters", None)
            if callable(reset) and layer is not self.module:
                reset()
        return GlobalModel({k: v.detach().clone() for k, v in self.module.named_parameters()})

    def num_examples(self, client_ids: np.ndarray) -> np.ndarray:
        return np.array([int(self.graphs[int(c)].train_mask.sum()) for c in client_ids], dtype=np.int64)

    def train(self, client_ids: np.ndarray, model: GlobalModel, round_index: int) -> ClientUpdates:
        updates = [self._train_one(int(c), model, round_index) for c in client_ids]
        return ClientUpdates.concat(updates)

    def _train_one(self, client: int, model: GlobalModel, round_index: int) -> ClientUpdates:
        graph = self.graphs[client]
        start = module_weights(model, self.names)
        weights: dict[str, Tensor] = {k: nn.Parameter(v.clone()) for k, v in start.items()}
        settings = self.local.optimizer
        ids, steps = np.array([client]), 0
        optimizer = settings.torch_optimizer(
            [{"params": list(weights.values()), "weight_decay": settings.weight_decay}]
        )
        torch.manual_seed(int(mix(self.local.seed, round_index, client)[0] % (1 << 62)))
        self.module.train()
        for _ in range(self.local.epochs):
            optimizer.zero_grad()
            out = functional_call(self.module, weights, (graph.x, graph.edge_index))
            if int(graph.train_mask.sum()):
                loss = nn.functional.cross_entropy(out[graph.train_mask], graph.y[graph.train_mask])
                loss = loss + self.objective.penalty(ids, {k: w.unsqueeze(0) for k, w in weights.items()}, model)
                loss.backward()  # type: ignore[no-untyped-call]
                optimizer.step()
                steps += 1
        end = {k: w.detach().unsqueeze(0) for k, w in weights.items()}
        first = {k: v.unsqueeze(0) for k, v in start.items()}
        dense = {k: end[k] - first[k] for k in weights}
        dense |= self.objective.uploads(ids, model, first, end, np.array([steps]))
        return ClientUpdates(np.array([client]), torch.tensor([float(max(1, int(graph.train_mask.sum())))]), dense)

    @torch.no_grad()
    def evaluate(self, client_ids: np.ndarray, model: GlobalModel) -> MetricSums:
        """Test and validation counts of each client's own nodes, predicted on its own subgraph."""
        self.module.eval()
        graphs = [self.graphs[int(c)] for c in client_ids]
        weights = module_weights(model, self.names)
        predicted = [functional_call(self.module, weights, (g.x, g.edge_index)).argmax(1) for g in graphs]
        sums: dict[str, Tensor] = {}
        for split in ("test", "val"):
            masks = [getattr(g, f"{split}_mask") for g in graphs]
            owner = torch.repeat_interleave(torch.arange(len(graphs)), torch.tensor([int(m.sum()) for m in masks]))
            chosen = torch.cat([p[m] for p, m in zip(predicted, masks, strict=True)])
            truth = torch.cat([g.y[m] for g, m in zip(graphs, masks, strict=True)])
            sums |= label_counts(chosen, truth, owner, len(graphs), self.classes, split)
        return MetricSums(np.asarray(client_ids, dtype=np.int64), sums)

    def private_state(self) -> dict[str, Tensor]:
        return {"client_ids": torch.from_numpy(self.client_ids), **objective_state(self.objective)}

    def load_private_state(self, state: dict[str, Tensor]) -> None:
        check_same_clients(state, self.client_ids)
        load_objective_state(self.objective, state)
