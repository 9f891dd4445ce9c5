"""The task seam of the composition root: how a run builds one kind of task from its config.

A ``TaskSpec`` is registered by name in ``fedrec.registry.TASKS``. It loads the task data for each side of a run
(the simulation: everything; a cluster's server: no client's examples; a client process: its own clients'),
builds the ``Task`` a client host trains and evaluates (``fedrec.tasks.base.Task``), and the server's metric
combiner; it also declares what it supports, so that the config asks it instead of a central list of rules.

A new task is one ``Task`` class and one ``TaskSpec`` subclass registered under a name; ``task_options`` in the
config is validated by the spec's ``options`` model.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from pydantic import BaseModel, ValidationError

from fedrec.registry import CLIENT_TERMS

if TYPE_CHECKING:
    from fedrec.config import RunConfig
    from fedrec.runtime.protocols import MetricCombiner
    from fedrec.tasks.base import Task

NO_CLIENTS = np.empty(0, dtype=np.int64)


class TaskSpec(ABC):
    """One kind of task: what it supports, and how its data, task and metrics are built from a config.

    Subclasses set the class attributes and implement ``load``, ``num_clients``, ``build`` and ``metrics``.
    """

    datasets: ClassVar[tuple[str, ...]] = ()  # the data.name values it reads; empty: it makes its own data
    modes: ClassVar[frozenset[str]] = frozenset({"federated"})  # federated, centralized, local
    client_algorithms: ClassVar[frozenset[str]] = frozenset({"fedavg"})  # client terms it composes with
    options: ClassVar[type[BaseModel] | None] = None  # the model of its task_options section
    served: ClassVar[bool] = False  # whether ``fedrec recommend`` serves its runs
    finetunes: ClassVar[bool] = False  # train.finetune_epochs: each client fine-tunes a personal copy to evaluate
    personal_layers: ClassVar[bool] = False  # federation.local_layers and ditto_lambda (FedPer/FedBN, Ditto)
    private_uploads: ClassVar[bool] = False  # privacy.dp local and pseudo_items protect its row uploads
    baselines: ClassVar[bool] = False  # fedrec's centralized/local baselines know its data (built-in tasks)

    def problem(self, config: RunConfig) -> str | None:
        """Why this task cannot run ``config`` (beyond the declared sets), or None. The message names the keys
        and the fix."""
        return None

    def config_problem(self, config: RunConfig) -> str | None:
        """The first reason this task refuses ``config``: data, mode, client algorithm, options, own rules."""
        name = config.task
        if self.datasets and config.data.name not in self.datasets:
            return f"task {name} does not fit data.name {config.data.name}: choose one of {', '.join(self.datasets)}"
        if config.mode not in self.modes:
            return f"mode {config.mode} is not supported by task {name}: choose one of {', '.join(sorted(self.modes))}"
        if config.mode != "federated" and not self.baselines:
            return f"mode {config.mode} needs a baseline that knows task {name}'s data; run it with mode federated"
        algorithm = config.federation.algorithm.kind
        if algorithm in CLIENT_TERMS and "fedprox" not in self.client_algorithms:  # a plug-in's loss term
            return f"federation.algorithm {algorithm} is a client loss term, which task {name} does not apply so far"
        if algorithm not in self.client_algorithms and algorithm not in CLIENT_TERMS:
            return (
                f"federation.algorithm {algorithm} is not supported by task {name} so far: "
                f"choose one of {', '.join(sorted(self.client_algorithms))}"
            )
        return self.options_problem(config.task_options) or self.problem(config)

    def options_problem(self, options: dict[str, Any]) -> str | None:
        """Why ``task_options`` do not fit this task's ``options`` model (one line), or None."""
        if self.options is None:
            return f"task_options {sorted(options)} are not read by this task: remove them" if options else None
        try:
            self.options.model_validate(options)
        except ValidationError as exc:
            error = exc.errors()[0]
            where = ".".join(str(p) for p in error["loc"])
            return f"task_options.{where}: {error['msg']}"
        return None

    def read_options(self, config: RunConfig) -> Any:
        """The validated ``task_options`` (an instance of ``options``)."""
        assert self.options is not None, "this task declares no options"
        return self.options.model_validate(config.task_options)

    @abstractmethod
    def load(self, config: RunConfig) -> Any:
        """The whole task data (the simulation's). Raises ``DataError`` or ``ConfigError`` with one line."""

    def client_data(self, config: RunConfig, client_ids: np.ndarray) -> Any:
        """The data of a client process hosting ``client_ids`` (default: the whole data)."""
        return self.load(config)

    def server_data(self, config: RunConfig) -> Any:
        """What a cluster's server reads: the model's shapes and the client count, no client's examples."""
        return self.client_data(config, NO_CLIENTS)

    @abstractmethod
    def num_clients(self, data: Any) -> int:
        """How many clients ``data`` (from any of the loaders) has; they are numbered 1..n."""

    def count_clients(self, config: RunConfig) -> int:
        """How many clients the run has, reading no more than that takes."""
        return self.num_clients(self.server_data(config))

    @abstractmethod
    def build(self, config: RunConfig, data: Any, client_ids: np.ndarray) -> Task:
        """The task hosting ``client_ids`` (sorted, 1-based) on ``data``; with no ids, a task that only makes
        the initial model (a cluster's server)."""

    @abstractmethod
    def metrics(self, config: RunConfig, data: Any) -> MetricCombiner:
        """The server's combiner of the clients' metric sums (and its plausibility check)."""

    def rows_per_example(self, config: RunConfig) -> int:
        """How many rows of a row-sparse table one training example may touch (bounds a row's weight)."""
        return 1

    def most_examples(self, config: RunConfig) -> int | None:
        """The most training examples one honest client can hold, or None where unknown."""
        return None

    def data_report(self, data: Any) -> dict[str, int] | None:
        """What loading and splitting did to the data, for ``summary.json``; None: nothing to report."""
        return None

    def summary_extras(self, config: RunConfig) -> dict[str, Any]:
        """Task-specific entries of ``summary.json`` (e.g. the ranking protocol)."""
        return {}
