"""The run configuration: one pydantic model per component, unknown keys rejected with the valid ones.

A config comes from a YAML file (or the defaults) plus ``--set a.b=c`` overrides. A few flat keys are
shortcuts other tools rely on whatever the nesting: ``rounds``, ``seed``, ``mode``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveFloat,
    PositiveInt,
    ValidationError,
    field_validator,
    model_validator,
)

from fedrec.config_files import read_yaml_mapping
from fedrec.config_rules import classifier_mismatch, unread_setting
from fedrec.errors import ConfigError
from fedrec.registry import AGGREGATORS, BACKENDS, TASKS, load_plugins

# a wait on the wall clock: positive and at most ten million seconds (116 days; timers overflow far beyond)
Seconds = Annotated[float, Field(gt=0, le=1e7)]


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)  # no setting takes inf or nan


class DataConfig(Section):
    name: str = Field("ml-100k", description="the dataset; the task declares which it reads (TaskSpec.datasets)")
    test_fraction: float = Field(0.2, gt=0.0, lt=1.0, description="share of each user's ratings held out as test")
    normalize_features: bool = Field(False, description="graphs: scale each node's features to sum to one")


class SplitConfig(Section):
    """How a classification dataset is divided among clients (recommendation data: one client per user)."""

    kind: Literal["iid", "dirichlet", "shards", "natural", "random", "louvain"] = "dirichlet"
    clients: PositiveInt = 100
    alpha: PositiveFloat = 0.5
    classes_per_client: PositiveInt = 2
    attribute: Literal["workclass", "native-country"] = "workclass"
    min_size: PositiveInt = 10
    node_masks: Literal["public", "random"] = Field(
        "public", description="graphs: Planetoid's public masks, or random ones over all nodes as FS-G draws them"
    )
    val_share: float = Field(0.1, gt=0.0, lt=1.0, description="random node masks: share of nodes for validation")
    test_share: float = Field(0.1, gt=0.0, lt=1.0, description="random node masks: share of nodes for test")

    @model_validator(mode="after")
    def _room_to_train(self) -> SplitConfig:
        if self.val_share + self.test_share >= 1.0:
            raise ValueError("val_share + test_share must leave nodes to train on (sum below 1)")
        return self


class ModelConfig(Section):
    kind: Literal["biased_mf", "gmf", "mlp", "neumf"] = "biased_mf"  # NCF kinds are for task: ranking
    dim: PositiveInt = 32
    init_std: PositiveFloat = 0.01
    hidden: tuple[PositiveInt, ...] = Field((32, 16), min_length=1, description="widths: NCF's tower, classifiers")
    classifier: Literal["logreg", "mlp", "cnn", "gcn", "sage", "gat"] = "logreg"  # classification tasks


class TrainingConfig(Section):
    optimizer: Literal["sgd", "adam"] = "adam"
    lr: PositiveFloat = 0.02
    momentum: float = Field(0.0, ge=0.0, lt=1.0, description="SGD momentum")
    weight_decay: float = Field(0.0, ge=0.0, description="the optimizer's decay of every parameter, each step")
    l2: float = Field(0.08, ge=0.0, description="penalty on the biases and embeddings each example uses")
    batch_size: PositiveInt = 32


class LocalTrainConfig(TrainingConfig):
    """How each client trains on its own data in a round."""

    epochs: PositiveInt = 1
    finetune_epochs: int = Field(
        0, ge=0, description="personalization: each client fine-tunes a personal copy this long before it evaluates"
    )


class FederationConfig(Section):
    rounds: PositiveInt = 100
    clients_per_round: PositiveInt | None = None
    client_fraction: float | None = Field(None, gt=0.0, le=1.0)
    aggregator: str = Field("fedavg", description="the server's aggregation rule, by registered name")
    aggregator_options: dict[str, Any] = Field(default_factory=dict, description="the aggregator's own settings")
    backend: str = Field("inprocess", description="simulation: where client hosts execute, by registered name")
    algorithm: Literal["fedavg", "fedprox", "scaffold"] = Field(
        "fedavg", description="the clients' side: plain local training, FedProx's proximal term, SCAFFOLD's controls"
    )
    local_layers: list[str] = Field(
        default_factory=list, description="parameters (name prefixes) that stay on each client: FedPer/FedBN"
    )
    ditto_lambda: PositiveFloat | None = Field(
        None, description="Ditto: each client also trains a personal model pulled this hard to the global one"
    )
    proximal_mu: float = Field(0.01, ge=0.0, description="FedProx: weight of the proximal term (mu / 2)|w - w_g|^2")
    server_optimizer: Literal["sgd", "momentum", "adam", "yogi", "adagrad"] = Field(
        "sgd", description="FedOpt: what the server does with the mean client delta (sgd with server_lr 1 is FedAvg)"
    )
    server_lr: PositiveFloat = 1.0
    server_beta1: float = Field(0.9, ge=0.0, lt=1.0, description="server momentum / first-moment decay")
    server_beta2: float = Field(0.99, ge=0.0, lt=1.0, description="adam / yogi second-moment decay")
    server_tau: PositiveFloat = Field(1e-3, description="adaptivity: added to the root of the second moment")
    eval_every: PositiveInt = 1
    execution: Literal["cohort", "sequential"] = "cohort"
    deadline_s: Seconds | None = Field(None, description="after this, a round closes once a quorum answered")
    quorum: float = Field(1.0, gt=0.0, le=1.0, description="share of a round's clients whose replies suffice")
    policy: Literal["sync", "fedbuff"] = Field("sync", description="synchronous rounds, or FedBuff's buffered async")
    over_selection: float = Field(0.0, ge=0.0, description="sync: invite this share more, keep the first answers")
    concurrency: PositiveInt | None = Field(None, description="fedbuff: clients training at once (default: a round)")
    buffer_size: PositiveInt = Field(10, description="fedbuff: arrivals per aggregation")
    max_staleness: int = Field(10, ge=0, description="fedbuff: updates staler than this are dropped")
    staleness_exponent: float = Field(0.5, ge=0.0, description="fedbuff: a delta is scaled by (1 + staleness)^-this")
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
        if self.policy == "fedbuff" and self.concurrency is not None and self.buffer_size > self.concurrency:
            raise ValueError("fedbuff's buffer_size cannot exceed its concurrency: no buffer would ever fill")
        if self.policy == "fedbuff" and self.deadline_s is not None:
            raise ValueError("deadline_s is for sync rounds; fedbuff never waits for a round")
        return self


class DevicesConfig(Section):
    """Client devices in virtual time (simulation): speeds, bandwidths, availability."""

    kind: Literal["uniform", "lognormal", "trace"] = "uniform"
    examples_per_s: PositiveFloat = Field(20_000.0, description="training examples a device computes a second (median)")
    speed_spread: float = Field(10.0, ge=1.0, description="lognormal: 95th over 5th percentile of the speeds")
    down_bytes_per_s: PositiveFloat = 2_000_000.0
    up_bytes_per_s: PositiveFloat = 2_000_000.0
    bandwidth_spread: float = Field(1.0, ge=1.0, description="lognormal: 95th over 5th percentile of bandwidths")
    availability: float = Field(1.0, gt=0.0, le=1.0, description="lognormal: long-run share of time online")
    mean_online_s: PositiveFloat = Field(3600.0, description="lognormal: mean length of an online period")
    trace: str | None = Field(None, description="trace: CSV of client_id,examples_per_s,down_bytes_per_s,...")

    @model_validator(mode="after")
    def _trace_named(self) -> DevicesConfig:
        if (self.kind == "trace") != (self.trace is not None):
            raise ValueError("devices.kind trace and devices.trace go together: name the trace file")
        return self


class CentralizedConfig(TrainingConfig):
    """The baseline that pools every client's training data (``mode: centralized``): same model and split."""

    epochs: PositiveInt = 15
    batch_size: PositiveInt = 256
    lr: PositiveFloat = 0.002
    l2: float = Field(0.1, ge=0.0, description="penalty on the biases and embeddings each example uses")


class DistributedConfig(Section):
    """The client-server cluster over gRPC (``fedrec server`` / ``client`` / ``cluster``)."""

    min_clients: PositiveInt | None = Field(None, description="clients that must join before round 1 (default all)")
    max_message_mb: PositiveInt = 256
    compression: bool = False
    status_every_s: Seconds = Field(30.0, description="a server that hears nothing says what it waits for")
    reply_timeout_s: Seconds | None = Field(
        600.0, description="a client silent this long after TRAIN or EVALUATE is dropped from that step (null: wait)"
    )
    rejoin_wait_s: Seconds = Field(
        600.0, description="when every client has left, wait this long for them to come back, then stop (resumable)"
    )


class RankingConfig(Section):
    """Implicit feedback: every interaction is a positive; negatives are drawn on the client."""

    loss: Literal["bpr", "bce"] = "bpr"
    num_negatives: PositiveInt = 1
    eval_negatives: PositiveInt = 99
    cold_start_users: float = Field(0.0, ge=0.0, lt=1.0, description="share of users held out of training")
    personal: tuple[str, ...] = Field((), description="NCF weights each client keeps, e.g. [mlp_h, gmf_h]")


class PrivacyConfig(Section):
    """Differential privacy, secure aggregation and pseudo-items (see README, Privacy)."""

    dp: Literal["none", "user", "local"] = Field(
        "none", description="user: user-level DP-FedAvg with an accountant; local: each device noises its upload"
    )
    clip_norm: PositiveFloat = Field(1.0, description="every client's whole update is clipped to this L2 norm")
    noise_multiplier: float | None = Field(None, gt=0.0, description="noise std over clip_norm (or target_epsilon)")
    target_epsilon: PositiveFloat | None = Field(None, description="dp user: the run computes the noise multiplier")
    delta: float | None = Field(
        None, gt=0.0, lt=1.0, description="default min(1e-5, 1 / (10 N)) for N clients; warned if at least 1/N"
    )
    epsilon_budget: PositiveFloat | None = Field(None, description="stop before a round would spend more epsilon")
    accountant: Literal["rdp", "pld"] = "rdp"
    secure_aggregation: bool = Field(False, description="the server learns only the sum (Bonawitz et al. 2017)")
    threshold: float = Field(0.5, gt=0.0, le=1.0, description="secagg: share of a round's clients that must survive")
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="secagg simulation: share that drops after masking")
    pseudo_items: float = Field(0.0, ge=0.0, description="rating: pseudo-items trained per rated item (FedRec)")

    @model_validator(mode="after")
    def _one_noise_rule(self) -> PrivacyConfig:
        if self.dp == "user" and (self.noise_multiplier is None) == (self.target_epsilon is None):
            raise ValueError("dp user needs exactly one of privacy.noise_multiplier and privacy.target_epsilon")
        if self.dp == "local" and self.noise_multiplier is None:
            raise ValueError("dp local needs privacy.noise_multiplier (the noise each device adds)")
        if self.dp == "none" and (self.noise_multiplier or self.target_epsilon or self.epsilon_budget):
            raise ValueError("noise_multiplier, target_epsilon and epsilon_budget need privacy.dp user or local")
        if self.dropout and not self.secure_aggregation:
            raise ValueError("privacy.dropout simulates secure aggregation's dropouts: set secure_aggregation true")
        if self.dp == "local" and self.secure_aggregation:
            raise ValueError("dp local and secure_aggregation do not combine; use dp user with secure_aggregation")
        if self.secure_aggregation and 1 - self.dropout < self.threshold:
            raise ValueError("privacy.dropout leaves fewer clients than privacy.threshold: no sum could be recovered")
        return self

    @property
    def active(self) -> bool:
        return self.dp != "none" or self.secure_aggregation or self.pseudo_items > 0


class RunConfig(Section):
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
    devices: DevicesConfig = DevicesConfig()
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
        self._algorithm_fits()
        self._privacy_fits()
        problem = unread_setting(self) or classifier_mismatch(self)
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
        return aggregation.problem(
            self.federation.aggregator, self.privacy.secure_aggregation, self.privacy.dp == "user"
        )

    def _privacy_fits(self) -> None:
        p, f = self.privacy, self.federation
        if not p.active:
            return
        if self.mode != "federated":
            raise ValueError("the privacy section applies to federated runs (mode: federated)")
        if (p.dp == "local" or p.pseudo_items) and not TASKS.get(self.task).private_uploads:
            raise ValueError(f"privacy.dp local and pseudo_items protect the recommender's uploads; task {self.task} "
                             "does not support them: use task rating")  # fmt: skip
        if f.policy != "sync" or f.over_selection or f.participation_cap or f.algorithm != "fedavg":
            raise ValueError(
                "privacy needs plain synchronous rounds: federation.policy sync, algorithm fedavg, "
                "over_selection 0 and participation_cap 0 (sampling and weights are part of the guarantee)"
            )
        if p.dp == "user" and (self.devices.availability < 1 or self.devices.kind == "trace"):
            raise ValueError("dp user samples every client alike: use devices that are always online")

    def _algorithm_fits(self) -> None:
        spec = TASKS.get(self.task)
        if (self.federation.local_layers or self.federation.ditto_lambda) and not spec.personal_layers:
            raise ValueError(f"federation.local_layers and ditto_lambda are not supported by task {self.task} so far")
        if self.train.finetune_epochs and not spec.finetunes:
            raise ValueError(f"train.finetune_epochs (personalization) is not supported by task {self.task} so far")
        if self.federation.algorithm == "scaffold" and (self.train.optimizer != "sgd" or self.train.momentum):
            raise ValueError("SCAFFOLD's control update assumes plain local SGD: set train.optimizer sgd, momentum 0")


SHORTCUTS = {"rounds": "federation.rounds", "epochs": "train.epochs", "lr": "train.lr"}


def _shortcut(key: str, mode: Any) -> str:
    """The key a shortcut stands for; ``rounds`` of a centralized run are its epochs."""
    if key == "rounds" and mode == "centralized":
        return "centralized.epochs"
    return SHORTCUTS.get(key, key)


def valid_keys(model: type[BaseModel] = RunConfig, prefix: str = "") -> list[str]:
    keys = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            keys += valid_keys(annotation, f"{prefix}{name}.")
        else:
            keys.append(f"{prefix}{name}")
    return keys


def parse_override(text: str) -> tuple[str, Any]:
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set expects key=value, got {text!r} (for example --set rounds=20)")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key.strip(), value


def _assign(tree: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    node = tree
    for part in parents:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"{dotted}: {part} is a value, not a section; valid keys: {', '.join(valid_keys())}")
        node = child
    node[leaf] = value


def load_config(path: Path | None = None, overrides: list[str] | None = None) -> RunConfig:
    """The config of a YAML file (or the defaults) with ``--set`` overrides applied in order.

    Shortcuts resolve against the run's final mode, wherever ``mode`` is set: ``--set rounds=2 --set
    mode=centralized`` trains 2 epochs. Raises ``ConfigError`` with one line naming the key and the fix.
    """
    tree: dict[str, Any] = {}
    if path is not None:
        tree = read_yaml_mapping(path)
    pairs = [parse_override(text) for text in overrides or []]
    mode = next((value for key, value in reversed(pairs) if key == "mode"), tree.get("mode"))
    for key, value in pairs:
        if mode == "centralized" and key == "federation.rounds":
            raise ConfigError("a centralized run trains centralized.epochs, not federation.rounds: --set rounds=N")
        _assign(tree, _shortcut(key, mode), value)
    return build_config(tree)


def build_config(tree: dict[str, Any]) -> RunConfig:
    """The config of a parsed tree; the modules under ``plugins`` are imported first (they register the
    components the rest may name). Raises ``ConfigError`` with one line naming the key and the fix."""
    load_plugins(tree.get("plugins") if isinstance(tree, dict) else None)
    try:
        return RunConfig.model_validate(tree)
    except ValidationError as exc:
        raise ConfigError(_explain(exc)) from None


def _explain(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(p) for p in error["loc"])
    if error["type"] == "extra_forbidden":
        return f"unknown config key {where!r}; valid keys: {', '.join(valid_keys())}"
    if error["type"] == "value_error":  # a rule across keys: its message names them and the fix
        return f"{where + ': ' if where else ''}{error['ctx']['error']}"
    return f"invalid value for {where or 'config'}: {error['msg']} (got {error.get('input')!r})"


def dump_config(config: RunConfig) -> str:
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)
