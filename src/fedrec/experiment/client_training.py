"""The clients' side of a run from its config: local training settings and the client algorithm's term."""

from __future__ import annotations

import numpy as np

from fedrec.algorithms.fedprox import FedProx
from fedrec.algorithms.scaffold import ScaffoldClient
from fedrec.config import FedAvgClients, FedProxClients, RunConfig, TrainingConfig
from fedrec.config.federation import PluginClientTerm
from fedrec.engine.objective import LocalObjective, PlainObjective
from fedrec.engine.optim import OptimizerSettings
from fedrec.engine.types import LocalTraining, MFShape
from fedrec.errors import ConfigError
from fedrec.registry import CLIENT_TERMS


def optimizer_settings(train: TrainingConfig) -> OptimizerSettings:
    """A client's optimizer (or the centralized one) from a training section."""
    return OptimizerSettings(
        kind=train.optimizer, lr=train.lr, momentum=train.momentum, weight_decay=train.weight_decay
    )


def local_training(config: RunConfig, client_ids: np.ndarray | None = None) -> LocalTraining:
    """The clients' local training; given the hosted ``client_ids``, with the client algorithm's term (a
    recommender's kernels apply it; the classifiers take ``objective`` apart)."""
    t = config.train
    term = objective(config, client_ids) if client_ids is not None else PlainObjective()
    return LocalTraining(t.epochs, t.batch_size, optimizer_settings(t), config.seed, l2=t.l2, objective=term)


def mf_shape(config: RunConfig) -> MFShape:
    """The recommender's embedding shape: ``model.dim`` factors from N(0, ``model.init_std``^2)."""
    return MFShape(config.model.dim, config.model.init_std)


def objective(config: RunConfig, client_ids: np.ndarray) -> LocalObjective:
    """The client's half of the configured algorithm (the baselines train plainly)."""
    algorithm = config.federation.algorithm
    if config.mode != "federated" or isinstance(algorithm, FedAvgClients):
        return PlainObjective()
    if isinstance(algorithm, FedProxClients):
        return FedProx(algorithm.mu)
    if isinstance(algorithm, PluginClientTerm):
        return CLIENT_TERMS.get(algorithm.kind).build(algorithm.read_options(), np.sort(client_ids))
    return ScaffoldClient(client_ids, config.train.lr)


def every_client_holds_data(config: RunConfig, sizes: np.ndarray, what: str) -> None:
    """Refuses a split that leaves a client empty (a silent smaller federation, or a crash mid-run)."""
    empty = int((sizes == 0).sum())
    if empty:
        s = config.split
        raise ConfigError(
            f"split.kind {s.kind} leaves {empty} of split.clients={s.clients} clients without {what} of "
            f"{config.data.name}; lower split.clients (only {len(sizes) - empty} hold any)"
        )
