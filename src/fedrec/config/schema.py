"""The run configuration: one section per component, tagged sections by ``kind``, checked across sections.

Whether a registered component (task, aggregator, backend) takes a config is asked of the component: it
declares what it supports, and the config layer keeps no list of its own.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from fedrec.config.base import Section
from fedrec.config.devices import DevicesConfig, UniformDevices
from fedrec.config.federation import FederationConfig, SyncPolicy
from fedrec.config.privacy import LocalDP, PrivacyConfig
from fedrec.config.rules import classifier_mismatch, unread_setting
from fedrec.config.sections import (
    CentralizedConfig,
    DataConfig,
    DistributedConfig,
    LocalTrainConfig,
    ModelConfig,
    RankingConfig,
    SplitConfig,
)
from fedrec.errors import ConfigError
from fedrec.registry import AGGREGATORS, BACKENDS, TASKS


class RunConfig(Section):
    """A whole run: its seed and mode, the task (by registered name) and its sections. Validation asks the registered
    components whether they take it and refuses settings the run would never read; ``load_config`` turns every
    refusal into one ``ConfigError`` line."""

    seed: int = Field(0, ge=0, lt=2**32, description="seeds every generator of the run (numpy and torch take it)")
    mode: Literal["federated", "centralized", "local"] = "federated"
    task: str = Field("rating", description="rating, ranking, classification, node_classification, or a plug-in's")
    task_options: dict[str, Any] = Field(default_factory=dict, description="a plug-in task's own settings")
    plugins: tuple[str, ...] = Field((), description="modules imported first: they register tasks, aggregators, ...")
    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    train: LocalTrainConfig = LocalTrainConfig()
    federation: FederationConfig = FederationConfig()
    centralized: CentralizedConfig = CentralizedConfig()
    distributed: DistributedConfig = DistributedConfig()
    devices: DevicesConfig = Field(default_factory=UniformDevices)
    ranking: RankingConfig = RankingConfig()
    split: SplitConfig = SplitConfig()
    privacy: PrivacyConfig = PrivacyConfig()

    @model_validator(mode="after")
    def _models_fit_tasks(self) -> RunConfig:
        problem = self._components_fit()
        if problem:
            raise ValueError(problem)
        if self.model.kind != "biased_mf" and self.task != "ranking":
            raise ValueError(f"model.kind {self.model.kind} is a ranking model: set task: ranking")
        problem = self._algorithm_problem() or self._privacy_problem()
        problem = problem or unread_setting(self) or classifier_mismatch(self)
        if problem:
            raise ValueError(problem)
        return self

    def _components_fit(self) -> str | None:
        """Asks the registered components whether they take this config (they declare what they support)."""
        for registry, name in ((TASKS, self.task), (AGGREGATORS, self.federation.aggregator),
                               (BACKENDS, self.federation.backend)):  # fmt: skip
            if name not in registry:
                return registry.unknown(name)
        problem = TASKS.get(self.task).config_problem(self)
        if problem:
            return problem
        aggregation = AGGREGATORS.get(self.federation.aggregator)
        try:
            aggregation.read_options(self.federation.aggregator_options)
        except ConfigError as error:
            return str(error)
        secure = self.privacy.secure_aggregation is not None
        return aggregation.problem(self.federation.aggregator, secure, self.privacy.dp.kind == "user")

    def _privacy_problem(self) -> str | None:
        p, f = self.privacy, self.federation
        if not p.active:
            return None
        if self.mode != "federated":
            return "the privacy section applies to federated runs (mode: federated)"
        if (isinstance(p.dp, LocalDP) or p.pseudo_items) and not TASKS.get(self.task).private_uploads:
            return (f"privacy.dp local and pseudo_items protect the recommender's uploads; task {self.task} does not "
                    "support them: use task rating")  # fmt: skip
        plain_sync = isinstance(f.policy, SyncPolicy) and not f.policy.over_selection
        if not plain_sync or f.participation_cap or f.algorithm.kind != "fedavg":
            return (
                "privacy needs plain synchronous rounds: federation.policy sync with over_selection 0, "
                "participation_cap 0 and algorithm fedavg (sampling and weights are part of the guarantee)"
            )
        if p.dp.kind == "user" and not self.devices.always_online:
            return "dp user samples every client alike: use devices that are always online"
        return None

    def _algorithm_problem(self) -> str | None:
        spec = TASKS.get(self.task)
        if (self.federation.local_layers or self.federation.ditto_lambda) and not spec.personal_layers:
            return f"federation.local_layers and ditto_lambda are not supported by task {self.task} so far"
        if self.train.finetune_epochs and not spec.finetunes:
            return f"train.finetune_epochs (personalization) is not supported by task {self.task} so far"
        scaffold = self.federation.algorithm.kind == "scaffold" and self.mode == "federated"
        if scaffold and (self.train.optimizer != "sgd" or self.train.momentum):
            return "SCAFFOLD's control update assumes plain local SGD: set train.optimizer sgd, momentum 0"
        return None
