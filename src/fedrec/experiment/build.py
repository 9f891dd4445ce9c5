"""Builds the pieces of a run from its config, by registry look-up: task data, task, metrics, server parts.

The task-specific parts come from the task's ``TaskSpec`` (``fedrec.registry.TASKS``); the aggregator from
``fedrec.registry.AGGREGATORS``. Nothing here names a task.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fedrec.algorithms.registry import AggregatorSpec
from fedrec.algorithms.scaffold import ScaffoldServer, with_controls
from fedrec.algorithms.server_opt import ServerOptimizer, ServerOptimizerSettings, ServerStep
from fedrec.algorithms.validation import UpdateCheck
from fedrec.config import RunConfig, SyncPolicy, TraceDevices, UniformDevices
from fedrec.config.devices import PluginDevices
from fedrec.config.federation import PluginPolicy, PluginServerStep, ServerOptimizerConfig
from fedrec.errors import ConfigError
from fedrec.experiment.build_privacy import dp_aggregator
from fedrec.experiment.client_training import local_training, mf_shape, objective, optimizer_settings
from fedrec.experiment.task_spec import TaskSpec
from fedrec.experiment.task_specs.classification import ClientSplit
from fedrec.payloads import GlobalModel
from fedrec.privacy.accountant import PrivacyLedger
from fedrec.registry import AGGREGATORS, DEVICES, POLICIES, SERVER_OPTIMIZERS, TASKS
from fedrec.runtime.devices import DeviceProfiles, Heterogeneity, TraceError, draw_profiles, read_trace
from fedrec.runtime.protocols import Aggregator, MetricCombiner
from fedrec.runtime.rounds.base import RoundPolicy
from fedrec.runtime.rounds.fedbuff import BufferedAsync
from fedrec.runtime.rounds.participation import ParticipationWeights
from fedrec.runtime.rounds.sync import SyncRounds
from fedrec.runtime.sampling import ClientSampler
from fedrec.tasks.base import Task

__all__ = ["ClientSplit", "local_training", "mf_shape", "objective", "optimizer_settings"]

TaskData = Any  # what the task's spec loads: a RatingSplit, LeaveOneOut, ClientSplit, GraphSplit, ...


def task_spec(config: RunConfig) -> TaskSpec:
    """The ``TaskSpec`` registered as ``config.task``; raises ``ConfigError`` if what is registered is not one."""
    spec = TASKS.get(config.task)
    if not isinstance(spec, TaskSpec):
        raise ConfigError(f"task {config.task!r} is registered as a {type(spec).__name__}, not a TaskSpec: register "
                          "an instance of a fedrec.experiment.task_spec.TaskSpec subclass")  # fmt: skip
    return spec


def load_task_data(config: RunConfig) -> TaskData:
    """The whole task data of the simulation (``TaskSpec.load``)."""
    return task_spec(config).load(config)


def num_clients(config: RunConfig, data: TaskData) -> int:
    """How many clients the task's data makes (users, or the split's parts)."""
    return task_spec(config).num_clients(data)


def build_task(config: RunConfig, data: TaskData, client_ids: np.ndarray) -> Task:
    """The task of ``client_ids`` (one host's clients) on ``data``, as the task's spec builds it."""
    return task_spec(config).build(config, data, client_ids)


def metrics_for(config: RunConfig, data: TaskData | None = None) -> MetricCombiner:
    """The task's metric combiner; given the task data, it may bound the sums it accepts."""
    return task_spec(config).metrics(config, data)


def update_check(config: RunConfig) -> UpdateCheck:
    """The server's check of incoming updates: the task bounds how many rows one example touches."""
    return UpdateCheck(rows_per_example=task_spec(config).rows_per_example(config))


def initial_model(config: RunConfig, task: Task) -> GlobalModel:
    """The global model before round 1; with SCAFFOLD, a zero server control beside every weight."""
    model: GlobalModel = task.initial_model()
    return with_controls(model) if config.federation.algorithm.kind == "scaffold" else model


def aggregator(config: RunConfig, num_clients: int, spent: PrivacyLedger | None = None) -> Aggregator:
    """The registered ``federation.aggregator`` with the configured server optimizer (FedOpt); SCAFFOLD also
    moves its controls; user-level DP clips, sums and noises before the server optimizer (DP-FedAvg)."""
    f = config.federation
    server_opt = server_step(f.server_optimizer)
    if spent is not None:
        return dp_aggregator(config, spent, num_clients, server_opt)
    spec: AggregatorSpec = AGGREGATORS.get(f.aggregator)
    built = spec.build(spec.read_options(f.aggregator_options), server_opt)
    return ScaffoldServer(built, num_clients) if f.algorithm.kind == "scaffold" else built


def server_step(chosen: ServerOptimizerConfig) -> ServerStep:
    """The server optimizer the ``federation.server_optimizer`` section names: built in, or a plug-in's."""
    if isinstance(chosen, PluginServerStep):
        return SERVER_OPTIMIZERS.get(chosen.kind).build(chosen.read_options())
    values = chosen.model_dump()
    settings = {k: v for k, v in values.items() if k in ("kind", "lr", "beta1", "beta2", "tau")}
    return ServerOptimizer(ServerOptimizerSettings(**settings))


def algorithm_name(config: RunConfig) -> str:
    """What the summary calls the run's algorithm: ``fedavg``, ``fedprox+fedadam``, ``scaffold+fedavgm``, ..."""
    f = config.federation
    kind, algorithm = f.server_optimizer.kind, f.algorithm.kind
    server = {"sgd": "fedavg", "momentum": "fedavgm"}.get(kind, f"fed{kind}")
    if algorithm == "fedavg":
        return server
    return algorithm if server == "fedavg" else f"{algorithm}+{server}"


def device_profiles(config: RunConfig, client_ids: np.ndarray) -> DeviceProfiles:
    """Every client's device in virtual time, as the ``devices`` section says."""
    d, epochs = config.devices, config.train.epochs
    if isinstance(d, PluginDevices):
        return DEVICES.get(d.kind).build(d.read_options(), np.sort(client_ids), config.seed, epochs)
    if isinstance(d, TraceDevices):
        try:
            return read_trace(Path(d.trace).expanduser(), client_ids, epochs)
        except TraceError as error:
            raise ConfigError(str(error)) from None
    if isinstance(d, UniformDevices):
        return DeviceProfiles.uniform(client_ids, d.examples_per_s, d.down_bytes_per_s, epochs, d.up_bytes_per_s)
    spread = Heterogeneity(
        d.examples_per_s,
        d.speed_spread,
        d.down_bytes_per_s,
        d.up_bytes_per_s,
        d.bandwidth_spread,
        d.availability,
        d.mean_online_s,
    )
    return draw_profiles(client_ids, spread, config.seed, epochs)


@dataclass(frozen=True)
class _PolicyContext:
    num_clients: int
    clients_per_round: int
    seed: int


def round_policy(config: RunConfig, num_clients: int) -> RoundPolicy:
    """The configured round policy: synchronous rounds, FedBuff or a plug-in's (with FedAU weights if
    ``participation_cap``)."""
    f, chosen = config.federation, config.federation.policy
    weights = ParticipationWeights(f.participation_cap)
    if isinstance(chosen, SyncPolicy):
        return SyncRounds(chosen.deadline_s, chosen.quorum, chosen.over_selection, weights)
    sampler = ClientSampler(config.seed, f.clients_per_round, f.client_fraction)
    if isinstance(chosen, PluginPolicy):
        context = _PolicyContext(num_clients, sampler.size(num_clients), config.seed)
        return POLICIES.get(chosen.kind).build(chosen.read_options(), context, weights)
    concurrency = chosen.concurrency or sampler.size(num_clients)
    buffer = min(chosen.buffer_size, concurrency)
    return BufferedAsync(concurrency, buffer, chosen.max_staleness, chosen.staleness_exponent, weights)
