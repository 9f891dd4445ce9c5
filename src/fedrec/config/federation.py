"""The ``federation`` section: sampling, the round policy, the server optimizer and the clients' algorithm.

The round policy, the server optimizer and the client algorithm are tagged sections: ``kind`` chooses one,
and only that kind's keys may be set (``federation.policy.buffer_size`` on a sync run is refused). A kind on
its own may be given as a string: ``policy: fedbuff`` is ``policy: {kind: fedbuff}``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BeforeValidator,
    Discriminator,
    Field,
    PositiveFloat,
    PositiveInt,
    Tag,
    field_validator,
    model_validator,
)

from fedrec.config.base import PluginSection, Seconds, Section, builtin_or_plugin, kind_default
from fedrec.registry import CLIENT_TERMS, POLICIES, SERVER_OPTIMIZERS


class SyncPolicy(Section):
    """Synchronous rounds; with a deadline, a round (and an evaluation) closes with a quorum."""

    kind: Literal["sync"] = "sync"
    deadline_s: Seconds | None = Field(None, description="after this, a round closes once a quorum answered")
    quorum: float = Field(1.0, gt=0.0, le=1.0, description="share of a round's clients whose replies suffice")
    over_selection: float = Field(0.0, ge=0.0, description="invite this share more, keep the first answers")


class FedBuffPolicy(Section):
    """FedBuff's buffered asynchronous aggregation (Nguyen et al., AISTATS 2022)."""

    kind: Literal["fedbuff"]
    concurrency: PositiveInt | None = Field(None, description="clients training at once (default: a round's)")
    buffer_size: PositiveInt = Field(10, description="arrivals per aggregation")
    max_staleness: int = Field(10, ge=0, description="updates staler than this are dropped")
    staleness_exponent: float = Field(0.5, ge=0.0, description="a delta is scaled by (1 + staleness)^-this")

    @model_validator(mode="after")
    def _buffer_fills(self) -> FedBuffPolicy:
        if self.concurrency is not None and self.buffer_size > self.concurrency:
            raise ValueError("fedbuff's buffer_size cannot exceed its concurrency: no buffer would ever fill")
        return self


class PluginPolicy(PluginSection):
    """A round policy a plug-in registered (``fedrec.registry.POLICIES``), with its own ``options``."""

    registry = POLICIES
    what = "round policy"
    builtin = ("sync", "fedbuff")


RoundPolicyConfig = Annotated[
    Annotated[SyncPolicy, Tag("sync")]
    | Annotated[FedBuffPolicy, Tag("fedbuff")]
    | Annotated[PluginPolicy, Tag("plugin")],
    Discriminator(builtin_or_plugin(PluginPolicy.builtin)),
    BeforeValidator(kind_default("sync", "sync, fedbuff or a registered one")),
]


class PlainServerStep(Section):
    """The server moves by ``lr`` times the mean delta (``lr`` 1 is FedAvg)."""

    kind: Literal["sgd"] = "sgd"
    lr: PositiveFloat = 1.0


class MomentumServerStep(Section):
    """FedAvgM: server momentum ``beta1`` (Hsu et al. 2019)."""

    kind: Literal["momentum"]
    lr: PositiveFloat = 1.0
    beta1: float = Field(0.9, ge=0.0, lt=1.0, description="momentum")


class AdaptiveServerStep(Section):
    """FedAdam / FedYogi (Reddi et al., "Adaptive Federated Optimization", ICLR 2021)."""

    kind: Literal["adam", "yogi"]
    lr: PositiveFloat = 1.0
    beta1: float = Field(0.9, ge=0.0, lt=1.0, description="first-moment decay")
    beta2: float = Field(0.99, ge=0.0, lt=1.0, description="second-moment decay")
    tau: PositiveFloat = Field(1e-3, description="adaptivity: added to the root of the second moment")


class AdamServerStep(AdaptiveServerStep):
    """FedAdam."""

    kind: Literal["adam"]


class YogiServerStep(AdaptiveServerStep):
    """FedYogi."""

    kind: Literal["yogi"]


class AdagradServerStep(Section):
    """FedAdagrad (Reddi et al. 2021), with first-moment decay ``beta1`` as in the paper."""

    kind: Literal["adagrad"]
    lr: PositiveFloat = 1.0
    beta1: float = Field(0.9, ge=0.0, lt=1.0, description="first-moment decay")
    tau: PositiveFloat = Field(1e-3, description="adaptivity: added to the root of the second moment")


class PluginServerStep(PluginSection):
    """A server optimizer a plug-in registered (``fedrec.registry.SERVER_OPTIMIZERS``), with its own ``options``."""

    registry = SERVER_OPTIMIZERS
    what = "server optimizer"
    builtin = ("sgd", "momentum", "adam", "yogi", "adagrad")


ServerOptimizerConfig = Annotated[
    Annotated[PlainServerStep, Tag("sgd")]
    | Annotated[MomentumServerStep, Tag("momentum")]
    | Annotated[AdamServerStep, Tag("adam")]
    | Annotated[YogiServerStep, Tag("yogi")]
    | Annotated[AdagradServerStep, Tag("adagrad")]
    | Annotated[PluginServerStep, Tag("plugin")],
    Discriminator(builtin_or_plugin(PluginServerStep.builtin)),
    BeforeValidator(kind_default("sgd", "sgd, momentum, adam, yogi, adagrad or a registered one")),
]


class FedAvgClients(Section):
    """Plain local training (McMahan et al. 2017)."""

    kind: Literal["fedavg"] = "fedavg"


class FedProxClients(Section):
    """FedProx's proximal term (mu / 2)|w - w_g|^2 (Li et al., MLSys 2020)."""

    kind: Literal["fedprox"]
    mu: float = Field(0.01, ge=0.0, description="weight of the proximal term")


class ScaffoldClients(Section):
    """SCAFFOLD's control variates (Karimireddy et al., ICML 2020); needs plain local SGD."""

    kind: Literal["scaffold"]


class PluginClientTerm(PluginSection):
    """A client term a plug-in registered (``fedrec.registry.CLIENT_TERMS``; FedProx's contract: a loss term)."""

    registry = CLIENT_TERMS
    what = "client term"
    builtin = ("fedavg", "fedprox", "scaffold")


ClientAlgorithmConfig = Annotated[
    Annotated[FedAvgClients, Tag("fedavg")]
    | Annotated[FedProxClients, Tag("fedprox")]
    | Annotated[ScaffoldClients, Tag("scaffold")]
    | Annotated[PluginClientTerm, Tag("plugin")],
    Discriminator(builtin_or_plugin(PluginClientTerm.builtin)),
    BeforeValidator(kind_default("fedavg", "fedavg, fedprox, scaffold or a registered one")),
]


class FederationConfig(Section):
    """How the clients train together: sampling (``clients_per_round`` or ``client_fraction``; neither: all), the
    aggregator and backend by registered name, and the tagged ``algorithm``, ``server_optimizer`` and ``policy``
    sections."""

    rounds: PositiveInt = 100
    clients_per_round: PositiveInt | None = None
    client_fraction: float | None = Field(None, gt=0.0, le=1.0)
    aggregator: str = Field("fedavg", description="the server's aggregation rule, by registered name")
    aggregator_options: dict[str, Any] = Field(default_factory=dict, description="the aggregator's own settings")
    backend: str = Field("inprocess", description="simulation: where client hosts execute, by registered name")
    algorithm: ClientAlgorithmConfig = Field(
        default_factory=FedAvgClients, description="the clients' side: fedavg, fedprox (mu) or scaffold"
    )
    local_layers: list[str] = Field(
        default_factory=list, description="parameters (name prefixes) that stay on each client: FedPer/FedBN"
    )
    ditto_lambda: PositiveFloat | None = Field(
        None, description="Ditto: each client also trains a personal model pulled this hard to the global one"
    )
    server_optimizer: ServerOptimizerConfig = Field(
        default_factory=PlainServerStep, description="FedOpt: sgd (lr 1 is FedAvg), momentum, adam, yogi, adagrad"
    )
    eval_every: PositiveInt = 1
    execution: Literal["cohort", "sequential"] = "cohort"
    policy: RoundPolicyConfig = Field(default_factory=SyncPolicy, description="sync rounds, or fedbuff (async)")
    participation_cap: int = Field(
        0, ge=0, description="weigh an update by the rounds since its client last counted, up to this (FedAU)"
    )

    @field_validator("local_layers", mode="before")
    @classmethod
    def _names_as_text(cls, value: Any) -> Any:
        """``[7]`` names layer ``7`` of a Sequential: YAML reads it as a number."""
        return [str(v) for v in value] if isinstance(value, list) else value

    @model_validator(mode="after")
    def _one_sampling_rule(self) -> FederationConfig:
        if self.clients_per_round is not None and self.client_fraction is not None:
            raise ValueError("set either clients_per_round or client_fraction, not both")
        return self

    @property
    def sync(self) -> SyncPolicy | None:
        """The synchronous policy's settings, or None under FedBuff."""
        return self.policy if isinstance(self.policy, SyncPolicy) else None

    @property
    def deadline_s(self) -> float | None:
        """The round (and evaluation) deadline of a sync run; FedBuff waits for no round."""
        return self.sync.deadline_s if self.sync is not None else None

    @property
    def quorum(self) -> float:
        """The share of a sync round's (or evaluation's) clients whose replies suffice once the deadline passed; 1
        under FedBuff."""
        return self.sync.quorum if self.sync is not None else 1.0
