"""The classification task: each client trains a shared classifier on its own labelled examples.

The cohort path stacks one copy of the weights per client and runs step t of every client at once under
``torch.func.vmap`` on a padded ``[clients, batch]`` block; the sequential path trains one client at a time
with ``torch.optim``. Evaluation runs on the clients (their share of the test data); only counts travel.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor, nn
from torch.func import functional_call, vmap

from fedrec.data.labelled import Labelled
from fedrec.engine.accuracy import label_counts
from fedrec.engine.objective import (
    OBJECTIVE,
    LocalObjective,
    PlainObjective,
    check_same_clients,
    load_objective_state,
    module_weights,
    objective_state,
)
from fedrec.engine.optim import CohortOptimizer
from fedrec.engine.personal import PersonalLayers
from fedrec.engine.plan import CohortPlan, epoch_steps, plan_cohort
from fedrec.engine.types import Execution, LocalTraining
from fedrec.payloads import ClientUpdates, GlobalModel, MetricSums
from fedrec.rng import shuffle_keys
from fedrec.tasks.base import Task

Term = Callable[[dict[str, Tensor]], Tensor]  # an extra loss on the stacked weights being trained


class ClassificationTask(Task):
    """Classification clients (images, tables) one host holds: each trains a copy of the classifier on its own examples
    (a cohort in one batched ``torch.func`` call, or one at a time), keeps its personal layers, and evaluates on
    its own test share."""

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
        local_layers: tuple[str, ...] = (),
        ditto_lambda: float | None = None,
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
        self.personal = PersonalLayers(self.client_ids, self.names, local_layers)
        self._personal_start: dict[str, Tensor] = {}
        # Ditto (Li et al., "Ditto: Fair and Robust Federated Learning Through Personalization", ICML 2021):
        # each client also trains a personal model of its own, pulled towards the global one, and is
        # evaluated with it as well (``personal_*`` metrics)
        self.ditto_lambda = ditto_lambda or 0.0
        self.ditto = PersonalLayers(self.client_ids, self.names, tuple(self.names)) if ditto_lambda else None

    def initial_model(self) -> GlobalModel:
        """The seeded initial weights, without the personal layers: the server never holds those."""
        return GlobalModel(self.personal.shared(self._initial_weights()))

    def _initial_weights(self) -> dict[str, Tensor]:
        torch.manual_seed(self.local.seed)
        for layer in self.module.modules():
            if isinstance(layer, nn.Linear | nn.Conv2d):
                layer.reset_parameters()
        return {k: v.detach().clone() for k, v in self.module.named_parameters()}

    def _received(self, model: GlobalModel) -> dict[str, Tensor]:
        """The model's weights, completed by the initial personal layers (a client's own, until it trains)."""
        if self.personal.names and not self._personal_start:
            self._personal_start = {k: v for k, v in self._initial_weights().items() if k in self.personal.names}
        return module_weights(model, self.names) | self._personal_start

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
        plan = plan_cohort(client_ids, counts, np.zeros((len(examples), 1), dtype=np.int64), 1, self.local.batch_size)
        ids, received = plan.client_ids, self._received(model)
        start = self.personal.start(ids, received)
        end = self._run_cohort(plan, examples, start, round_index, self._objective_term(ids, model))
        if self.ditto is not None:
            own = self.ditto.start(ids, received)
            self.ditto.keep(ids, self._run_cohort(plan, examples, own, round_index, self._ditto_term(received)))
        steps = plan.batches * self.local.epochs
        return self._update(ids, model, start, end, steps, torch.from_numpy(plan.counts.astype(np.float32)))

    def _objective_term(self, ids: np.ndarray, model: GlobalModel) -> Term:
        return lambda w: self.objective.penalty(ids, self.personal.shared(w), model)

    def _ditto_term(self, received: dict[str, Tensor]) -> Term:
        """Ditto's personal objective: the client's loss plus ``(lambda / 2) * ||v - w_global||^2``."""
        lam = self.ditto_lambda
        return lambda w: 0.5 * lam * sum(((v - received[k]) ** 2).sum() for k, v in w.items())  # type: ignore[return-value]

    def _update(
        self, ids: np.ndarray, model: GlobalModel, start: dict[str, Tensor], end: dict[str, Tensor],
        steps: np.ndarray, weights: Tensor,
    ) -> ClientUpdates:  # fmt: skip
        self.personal.keep(ids, end)
        start, end = self.personal.shared(start), self.personal.shared(end)
        dense = {k: end[k] - start[k] for k in end}
        dense |= self.objective.uploads(ids, model, start, end, steps)
        return ClientUpdates(ids, weights, dense)

    def _run_cohort(
        self, plan: CohortPlan, examples: np.ndarray, start: dict[str, Tensor], round_index: int, term: Term
    ) -> dict[str, Tensor]:
        """Every client's local epochs from its row of ``start``, all at once; ``term`` is added to the loss."""
        local = self.local
        params = {k: v.clone().requires_grad_() for k, v in start.items()}
        owners = {k: torch.arange(len(plan.counts)) for k in params}
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
                current = {k: v[:active] for k, v in params.items()}
                out = batched(current, self.train_x[index])
                loss = nn.functional.cross_entropy(out.flatten(0, 1), self.train_y[index].flatten(), reduction="none")
                total = ((loss.view(active, -1) * mask).sum(1) / mask.sum(1)).sum() + term(current)
                grads = dict(zip(params, torch.autograd.grad(total, list(params.values())), strict=True))
                optimizer.step(grads, active, dict.fromkeys(grads, active))
        return {k: v.detach() for k, v in params.items()}

    def _sequential(self, client_ids: np.ndarray, model: GlobalModel, round_index: int) -> ClientUpdates:
        updates = []
        received = self._received(model)
        for client in client_ids.tolist():
            ids = np.array([client])
            start = self.personal.start(ids, received)
            end, steps = self._run_one(client, start, round_index, self._objective_term(ids, model))
            if self.ditto is not None:
                own, _ = self._run_one(client, self.ditto.start(ids, received), round_index, self._ditto_term(received))
                self.ditto.keep(ids, own)
            count = torch.tensor([float(len(self.train_parts[client]))])
            updates.append(self._update(ids, model, start, end, np.array([steps]), count))
        return ClientUpdates.concat(updates)

    def _run_one(
        self, client: int, start: dict[str, Tensor], round_index: int, term: Term
    ) -> tuple[dict[str, Tensor], int]:
        """One client's local epochs with ``torch.optim`` (the reference the cohort path must match)."""
        part, settings = self.train_parts[client], self.local.optimizer
        weights: dict[str, Tensor] = {k: nn.Parameter(v[0].clone()) for k, v in start.items()}
        optimizer = settings.torch_optimizer(
            [{"params": list(weights.values()), "weight_decay": settings.weight_decay}]
        )
        steps = 0
        for epoch in range(self.local.epochs):
            keys = shuffle_keys(self.local.seed, round_index, epoch, np.full(len(part), client), np.arange(len(part)))
            order = torch.from_numpy(part[np.argsort(keys, kind="stable")])
            for batch in torch.split(order, self.local.batch_size):
                optimizer.zero_grad()
                out = functional_call(self.module, weights, (self.train_x[batch],))
                loss = nn.functional.cross_entropy(out, self.train_y[batch])
                loss = loss + term({k: w.unsqueeze(0) for k, w in weights.items()})
                loss.backward()  # type: ignore[no-untyped-call]
                optimizer.step()
                steps += 1
        return {k: w.detach().unsqueeze(0) for k, w in weights.items()}, steps

    def private_state(self) -> dict[str, Tensor]:
        """The clients' personal layers, if any (every other weight is shared)."""
        ditto = {f"ditto.{k}": v for k, v in self.ditto.store.items()} if self.ditto is not None else {}
        own = objective_state(self.objective)
        return {"client_ids": torch.from_numpy(self.client_ids), **self.personal.store, **ditto, **own}

    def load_private_state(self, state: dict[str, Tensor]) -> None:
        """Resume the clients' personal layers, Ditto models and objective state from ``private_state()``."""
        check_same_clients(state, self.client_ids)
        mine = {k: v.clone() for k, v in state.items() if k != "client_ids"}
        self.personal.store = {k: v for k, v in mine.items() if not k.startswith(("ditto.", OBJECTIVE))}
        if self.ditto is not None:
            self.ditto.store = {k[len("ditto.") :]: v for k, v in mine.items() if k.startswith("ditto.")}
        load_objective_state(self.objective, state)

    @torch.no_grad()
    def evaluate(self, client_ids: np.ndarray, model: GlobalModel) -> MetricSums:
        """Counts of each client on its own test data; with Ditto, also (``personal_*``) of its own model."""
        parts = [self.test_parts[int(c)] for c in client_ids]
        index = torch.from_numpy(np.concatenate(parts))
        owner = torch.from_numpy(np.repeat(np.arange(len(parts)), [len(p) for p in parts]))
        weights = self._received(model)
        if self.personal.names:  # each client predicts with its own layers
            predicted = self._predict_each(client_ids, parts, self.personal, weights)
        else:
            chunks = [functional_call(self.module, weights, (self.test_x[c],)) for c in torch.split(index, 4096)]
            predicted = torch.cat([c.argmax(1) for c in chunks]) if chunks else torch.empty(0, dtype=torch.int64)
        sums = label_counts(predicted, self.test_y[index], owner, len(parts), self.classes, "test")
        if self.ditto is not None:
            own = self._predict_each(client_ids, parts, self.ditto, weights)
            sums |= label_counts(own, self.test_y[index], owner, len(parts), self.classes, "personal")
        return MetricSums(np.asarray(client_ids, dtype=np.int64), sums)

    def _predict_each(
        self, client_ids: np.ndarray, parts: list[np.ndarray], own: PersonalLayers, weights: dict[str, Tensor]
    ) -> Tensor:
        chunks = [functional_call(self.module, own.of(int(c), weights), (self.test_x[p],))
                  for c, p in zip(client_ids.tolist(), parts, strict=True) if len(p)]  # fmt: skip
        return torch.cat([c.argmax(1) for c in chunks]) if chunks else torch.empty(0, dtype=torch.int64)
