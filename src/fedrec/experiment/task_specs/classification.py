"""The classification task's spec: labelled examples (images, tables) divided among clients by a splitter
(``task: classification``).

The split is a function of every example (a Dirichlet draw over all labels, Adult's encoding from the whole
training set), so a cluster's server and every client process parse the whole dataset to reproduce it; the
server then keeps only the shapes and the client count, a client process only its clients' examples.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from fedrec.config import RunConfig
from fedrec.data.labelled import Labelled, TrainTest, load_adult, load_fashion_mnist
from fedrec.data.splitters import dirichlet_split, iid_split, natural_split, shard_split, split_like
from fedrec.engine.accuracy import AccuracyMetrics
from fedrec.errors import ConfigError
from fedrec.experiment.client_training import every_client_holds_data, local_training, objective
from fedrec.experiment.task_spec import NO_CLIENTS, TaskSpec
from fedrec.models.classifiers import make_classifier
from fedrec.tasks.classification.task import ClassificationTask


@dataclass(frozen=True)
class ClientSplit:
    """Labelled data divided among clients: client c holds ``train_parts[c - 1]`` and ``test_parts[c - 1]``."""

    data: TrainTest
    train_parts: list[np.ndarray]
    test_parts: list[np.ndarray]

    @property
    def num_clients(self) -> int:
        """Clients the split made."""
        return len(self.train_parts)


def load_client_split(config: RunConfig) -> ClientSplit:
    """The dataset divided by ``split``: each client tested on its own label distribution. Raises
    ``ConfigError`` when the split leaves a client without examples."""
    data = load_fashion_mnist() if config.data.name == "fashion-mnist" else load_adult()
    s, seed = config.split, config.seed
    if s.kind == "natural":
        train_parts, names = natural_split(data.train.attributes[s.attribute], s.min_size)
        test_groups = data.test.attributes[s.attribute]
        known = [n for n in names if n != "other"]
        test_parts = [np.flatnonzero(test_groups == n) for n in known]
        if len(known) < len(names):
            test_parts.append(np.flatnonzero(~np.isin(test_groups, known)))
        return ClientSplit(data, train_parts, test_parts)

    labels = data.train.labels
    if s.kind == "iid":
        train_parts = iid_split(len(labels), s.clients, seed)
    elif s.kind == "shards":
        train_parts = shard_split(labels, s.clients, s.classes_per_client, seed)
    else:
        try:
            train_parts = dirichlet_split(labels, s.clients, s.alpha, seed)
        except ValueError as error:
            raise ConfigError(f"{error}: raise split.alpha or lower split.clients") from None
    every_client_holds_data(config, np.array([len(part) for part in train_parts]), "training examples")
    # each client is tested on its own label distribution: personalized models are measured where they live
    return ClientSplit(data, train_parts, split_like(labels, train_parts, data.test.labels, seed))


def hosted_examples(split: ClientSplit, client_ids: np.ndarray) -> ClientSplit:
    """``split`` with only the examples of ``client_ids``; every other client keeps an empty share."""
    train, train_parts = _keep_parts(split.data.train, split.train_parts, client_ids)
    test, test_parts = _keep_parts(split.data.test, split.test_parts, client_ids)
    return ClientSplit(TrainTest(split.data.name, train, test), train_parts, test_parts)


def _keep_parts(data: Labelled, parts: list[np.ndarray], client_ids: np.ndarray) -> tuple[Labelled, list[np.ndarray]]:
    hosted = np.isin(np.arange(1, len(parts) + 1), client_ids)
    kept = [part if host else NO_CLIENTS for part, host in zip(parts, hosted, strict=True)]
    rows = np.unique(np.concatenate(kept)) if kept else NO_CLIENTS
    attributes = {name: values[rows] for name, values in data.attributes.items()}
    restricted = Labelled(data.features[rows], data.labels[rows], data.classes, attributes)
    return restricted, [np.searchsorted(rows, part) for part in kept]


class ClassificationSpec(TaskSpec):
    """The classification task (Fashion-MNIST, UCI Adult): IID, Dirichlet, shard or natural splits among clients;
    logistic regression, an MLP or a CNN."""

    personal_layers = True
    baselines = True
    datasets = ("fashion-mnist", "uci-adult")
    modes: ClassVar[frozenset[str]] = frozenset({"federated", "centralized", "local"})
    client_algorithms: ClassVar[frozenset[str]] = frozenset({"fedavg", "fedprox", "scaffold"})

    def problem(self, config: RunConfig) -> str | None:
        kind = config.split.kind
        if kind in ("random", "louvain"):
            return f"split.kind {kind} divides a graph; for {config.data.name} use iid, dirichlet, shards or natural"
        if kind == "natural" and config.data.name != "uci-adult":
            return "the natural split needs an attribute: use it with data.name uci-adult"
        return None

    def load(self, config: RunConfig) -> ClientSplit:
        return load_client_split(config)

    def client_data(self, config: RunConfig, client_ids: np.ndarray) -> ClientSplit:
        return hosted_examples(load_client_split(config), np.sort(np.asarray(client_ids, dtype=np.int64)))

    def num_clients(self, data: ClientSplit) -> int:
        return data.num_clients

    def count_clients(self, config: RunConfig) -> int:
        """A seeded splitter makes ``split.clients`` parts; only a natural split needs the data."""
        if config.split.kind != "natural":
            return config.split.clients
        return self.num_clients(self.server_data(config))

    def build(self, config: RunConfig, data: ClientSplit, client_ids: np.ndarray) -> ClassificationTask:
        train = data.data.train
        module = make_classifier(
            config.model.classifier, train.features.shape[1:], len(train.classes), config.model.hidden[0]
        )
        federated = config.mode == "federated"
        try:
            return ClassificationTask(
                train,
                data.data.test,
                data.train_parts,
                data.test_parts,
                client_ids,
                module,
                local_training(config),
                config.federation.execution,
                objective(config, client_ids),
                tuple(config.federation.local_layers) if federated else (),
                config.federation.ditto_lambda if federated else None,
            )
        except ValueError as error:
            raise ConfigError(f"federation.local_layers: {error}") from None

    def metrics(self, config: RunConfig, data: Any) -> AccuracyMetrics:
        return AccuracyMetrics()


SPEC = ClassificationSpec()
