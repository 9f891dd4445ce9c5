"""The classification task: each client trains a shared classifier on its own labelled examples.

The cohort path stacks one copy of the weights per client and runs step t of every client at once under
``torch.func.vmap`` on a padded ``[clients, batch]`` block; the sequential path trains one client at a time
with ``torch.optim``. Evaluation runs on the clients (their share of the test data); only counts travel.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn
from torch.func import functional_call, vmap

from fedrec.data.labelled import Labelled
from fedrec.payloads import ClientUpdates, GlobalModel, MetricSums
from fedrec.tasks.accuracy import label_counts
from fedrec.tasks.cohort import epoch_steps, plan_cohort
from fedrec.tasks.cohort_optim import CohortOptimizer
from fedrec.tasks.mf_cohort import LocalTraining
from fedrec.tasks.objective import LocalObjective, PlainObjective, module_weights
from fedrec.tasks.rating import Execution
from fedrec.tasks.shuffle import shuffle_keys


class ClassificationTask:
    def __init__(
        self,
        train: Labelled,
        test: Labelled,
        train_parts: list[np.ndarray],
        test_parts: list[np.ndarray],
        client_ids: np.ndarray,
        module: nn.Module,
        local: LocalTraining,
        execution: Execution,
        objective: LocalObjective | None = None,
    ) -> None:
        self.client_ids = np.sort(np.asarray(client_ids, dtype=np.int64))
        self.train_x, self.train_y = torch.from_numpy(train.features), torch.from_numpy(train.labels)
        self.test_x, self.test_y = torch.from_numpy(test.features), torch.from_numpy(test.labels)
        self.train_parts = {int(c): train_parts[c - 1] for c in self.client_ids}
        self.test_parts = {int(c): test_parts[c - 1] for c in self.client_ids}
        self.module, self.local, self.execution = module, local, execution
        self.classes = len(train.classes)
        self.objective: LocalObjective = objective or PlainObjective()
        self.names = [name for name, _ in module.named_parameters()]

    def initial_model(self) -> GlobalModel:
        torch.manual_seed(self.local.seed)
        for layer in self.module.modules():
            if isinstance(layer, nn.Linear | nn.Conv2d):
                layer.reset_parameters()
        return GlobalModel({k: v.detach().clone() for k, v in self.module.named_parameters()})

    def num_examples(self, client_ids: np.ndarray) -> np.ndarray:
        return np.array([len(self.train_parts[int(c)]) for c in client_ids], dtype=np.int64)

    def train(self, client_ids: np.ndarray, model: GlobalModel, round_index: int) -> ClientUpdates:
        run = self._cohort if self.execution == "cohort" else self._sequential
        return run(np.asarray(client_ids, dtype=np.int64), model, round_index)

    def _examples(self, client_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        parts = [self.train_parts[int(c)] for c in client_ids]
        return np.concatenate(parts), np.array([len(p) for p in parts], dtype=np.int64)

    def _cohort(self, client_ids: np.ndarray, model: GlobalModel, round_index: int) -> ClientUpdates:
        examples, counts = self._examples(client_ids)
        local = self.local
        plan = plan_cohort(client_ids, counts, np.zeros((len(examples), 1), dtype=np.int64), 1, local.batch_size)
        clients = len(plan.counts)
        weights = module_weights(model, self.names)
        start = {k: v.expand(clients, *v.shape).clone() for k, v in weights.items()}
        params = {k: v.clone().requires_grad_() for k, v in start.items()}
        owners = {k: torch.arange(clients) for k in params}
        optimizer = CohortOptimizer(local.optimizer, params, owners, decayed=set(params))
        rows = torch.from_numpy(examples[plan.take])

        def logits(weights: dict[str, Tensor], x: Tensor) -> Tensor:
            out: Tensor = functional_call(self.module, weights, (x,))
            return out

        batched = vmap(logits)
        for epoch in range(local.epochs):
            for step, chosen in enumerate(epoch_steps(plan, local.seed, round_index, epoch, local.batch_size)):
                active, _ = plan.active(step)
                slot = np.arange(len(chosen)) - np.searchsorted(plan.owner[chosen], plan.owner[chosen])
                grid = (torch.from_numpy(plan.owner[chosen]), torch.from_numpy(slot))
                index = torch.zeros(active, local.batch_size, dtype=torch.int64).index_put_(grid, rows[chosen])
                mask = torch.zeros(active, local.batch_size).index_put_(grid, torch.tensor(1.0))
                out = batched({k: v[:active] for k, v in params.items()}, self.train_x[index])
                loss = nn.functional.cross_entropy(out.flatten(0, 1), self.train_y[index].flatten(), reduction="none")
                total = ((loss.view(active, -1) * mask).sum(1) / mask.sum(1)).sum()
                total = total + self.objective.penalty(
                    plan.client_ids, {k: v[:active] for k, v in params.items()}, model
                )
                grads = dict(zip(params, torch.autograd.grad(total, list(params.values())), strict=True))
                optimizer.step(grads, active, dict.fromkeys(grads, active))
        end = {k: v.detach() for k, v in params.items()}
        dense = {k: end[k] - start[k] for k in params}
        dense |= self.objective.uploads(plan.client_ids, model, start, end, plan.batches * local.epochs)
        return ClientUpdates(plan.client_ids, torch.from_numpy(plan.counts.astype(np.float32)), dense)

    def _sequential(self, client_ids: np.ndarray, model: GlobalModel, round_index: int) -> ClientUpdates:
        updates = []
        for client in client_ids.tolist():
            part = self.train_parts[client]
            start = module_weights(model, self.names)
            weights: dict[str, Tensor] = {k: nn.Parameter(v.clone()) for k, v in start.items()}
            settings = self.local.optimizer
            ids, steps = np.array([client]), 0
            optimizer = settings.torch_optimizer(
                [{"params": list(weights.values()), "weight_decay": settings.weight_decay}]
            )
            for epoch in range(self.local.epochs):
                keys = shuffle_keys(
                    self.local.seed, round_index, epoch, np.full(len(part), client), np.arange(len(part))
                )
                order = torch.from_numpy(part[np.argsort(keys, kind="stable")])
                for batch in torch.split(order, self.local.batch_size):
                    optimizer.zero_grad()
                    out = functional_call(self.module, weights, (self.train_x[batch],))
                    loss = nn.functional.cross_entropy(out, self.train_y[batch])
                    loss = loss + self.objective.penalty(ids, {k: w.unsqueeze(0) for k, w in weights.items()}, model)
                    loss.backward()  # type: ignore[no-untyped-call]
                    optimizer.step()
                    steps += 1
            end = {k: w.detach().unsqueeze(0) for k, w in weights.items()}
            dense = {k: end[k] - start[k].unsqueeze(0) for k in weights}
            first = {k: v.unsqueeze(0) for k, v in start.items()}
            dense |= self.objective.uploads(ids, model, first, end, np.array([steps]))
            updates.append(ClientUpdates(np.array([client]), torch.tensor([float(len(part))]), dense))
        return ClientUpdates.concat(updates)

    def private_state(self) -> dict[str, Tensor]:
        """Nothing of these clients is private beyond their data: every weight is shared."""
        return {"client_ids": torch.from_numpy(self.client_ids)}

    @torch.no_grad()
    def evaluate(self, client_ids: np.ndarray, model: GlobalModel) -> MetricSums:
        parts = [self.test_parts[int(c)] for c in client_ids]
        index = torch.from_numpy(np.concatenate(parts))
        owner = torch.from_numpy(np.repeat(np.arange(len(parts)), [len(p) for p in parts]))
        weights = module_weights(model, self.names)
        chunks = [functional_call(self.module, weights, (self.test_x[c],)) for c in torch.split(index, 4096)]
        predicted = torch.cat([c.argmax(1) for c in chunks]) if chunks else torch.empty(0, dtype=torch.int64)
        sums = label_counts(predicted, self.test_y[index], owner, len(parts), self.classes, "test")
        return MetricSums(np.asarray(client_ids, dtype=np.int64), sums)
