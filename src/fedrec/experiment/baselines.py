"""The two baselines FS-G reports beside a federated run: every client alone ("local") and all data pooled
("global", ``mode: centralized``).

Both reuse the federated task itself. Local: all clients train from the same initial model for the local
epochs the federated run would give them in total (rounds x epochs), in one call, so the cohort path trains
them together; each is evaluated on its own test data. Global: one client that holds every training example
(for graphs, the whole graph with the edges the split cut), trained with the ``centralized`` settings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from fedrec.config import LocalTrainConfig, RunConfig
from fedrec.engine.accuracy import AccuracyMetrics
from fedrec.experiment.build import build_task
from fedrec.experiment.task_specs.classification import ClientSplit
from fedrec.payloads import GlobalModel

if TYPE_CHECKING:  # graph learning pulls in PyTorch Geometric, which the other tasks need not pay for
    from fedrec.experiment.task_specs.node_classification import GraphSplit


def local_baseline(config: RunConfig, data: ClientSplit | GraphSplit) -> tuple[dict[str, float], GlobalModel]:
    """Metrics of every client's own model, and those models stacked (row i is client i + 1)."""
    epochs = config.federation.rounds * config.train.epochs
    alone = config.model_copy(update={"train": config.train.model_copy(update={"epochs": epochs})})
    ids = np.arange(1, data.num_clients + 1)
    task = build_task(alone, data, ids)
    start = task.initial_model()
    updates = task.train(ids, start, 1)
    row = {int(c): i for i, c in enumerate(updates.client_ids)}

    def own_model(client: int) -> GlobalModel:  # a client without training data keeps the initial model
        if client not in row:
            return start
        return GlobalModel({k: v + updates.dense[k][row[client]] for k, v in start.params.items()})

    models = [own_model(int(c)) for c in ids]
    sums = [task.evaluate(np.array([c]), m) for c, m in zip(ids, models, strict=True)]
    stacked = GlobalModel({k: torch.stack([m.params[k] for m in models]) for k in start.params})
    return AccuracyMetrics().combine(sums), stacked


def global_baseline(config: RunConfig, data: ClientSplit | GraphSplit) -> tuple[dict[str, float], GlobalModel]:
    """Metrics and model of the same network trained on everything pooled."""
    c = config.centralized
    settings = {k: getattr(c, k) for k in ("optimizer", "lr", "momentum", "weight_decay", "l2", "batch_size")}
    pooled_config = config.model_copy(update={"train": LocalTrainConfig(epochs=c.epochs, **settings)})
    pooled: ClientSplit | GraphSplit
    if isinstance(data, ClientSplit):
        pooled = ClientSplit(data.data, [np.concatenate(data.train_parts)], [np.concatenate(data.test_parts)])
    else:
        from fedrec.experiment.task_specs.node_classification import GraphSplit

        pooled = GraphSplit([data.whole], data.features, data.classes, data.whole)
    one = np.array([1])
    task = build_task(pooled_config, pooled, one)
    start = task.initial_model()
    update = task.train(one, start, 1)
    model = GlobalModel({k: v + update.dense[k][0] for k, v in start.params.items()})
    return AccuracyMetrics().combine([task.evaluate(one, model)]), model
