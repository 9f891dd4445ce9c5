"""Builds the pieces of a run from its config: data split, local training settings, server parts."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Union

import numpy as np

from fedrec.algorithms.dp_fedavg import DPFedAvg
from fedrec.algorithms.fedavg import FedAvg
from fedrec.algorithms.fedprox import FedProx
from fedrec.algorithms.scaffold import ScaffoldClient, ScaffoldServer, with_controls
from fedrec.algorithms.server_opt import ServerOptimizer, ServerOptimizerSettings
from fedrec.algorithms.validation import UpdateCheck
from fedrec.config import RunConfig, TrainingConfig
from fedrec.data import RATING_LOADERS
from fedrec.data.implicit import LeaveOneOut, fewest_unseen, leave_one_out
from fedrec.data.labelled import TrainTest, load_adult, load_fashion_mnist
from fedrec.data.ratings import RatingSplit, per_user_holdout
from fedrec.data.splitters import dirichlet_split, iid_split, natural_split, shard_split, split_like
from fedrec.errors import ConfigError
from fedrec.experiment.privacy_parts import dp_aggregator
from fedrec.models.classifiers import make_classifier
from fedrec.payloads import GlobalModel
from fedrec.privacy.accountant import PrivacyLedger
from fedrec.runtime.devices import DeviceProfiles, Heterogeneity, TraceError, draw_profiles, read_trace
from fedrec.runtime.policies import BufferedAsync, ParticipationWeights, RoundPolicy, SyncRounds
from fedrec.runtime.sampling import ClientSampler
from fedrec.tasks.accuracy import AccuracyMetrics
from fedrec.tasks.classification import ClassificationTask
from fedrec.tasks.cohort_optim import OptimizerSettings
from fedrec.tasks.mf_cohort import LocalTraining
from fedrec.tasks.objective import LocalObjective, PlainObjective
from fedrec.tasks.ranking import RankingMetrics, RankingTask
from fedrec.tasks.ranking_cohort import RankingTraining
from fedrec.tasks.rating import MFShape, RatingMetrics, RatingTask

if TYPE_CHECKING:  # graph learning pulls in PyTorch Geometric, which the other tasks need not pay for at start-up
    from fedrec.data.graphs import ClientGraph
    from fedrec.tasks.node_classification import NodeClassificationTask


def load_split(config: RunConfig) -> RatingSplit:
    ratings = RATING_LOADERS[config.data.name]()
    return per_user_holdout(ratings, config.data.test_fraction, config.seed)


def optimizer_settings(train: TrainingConfig) -> OptimizerSettings:
    return OptimizerSettings(
        kind=train.optimizer, lr=train.lr, momentum=train.momentum, weight_decay=train.weight_decay
    )


def local_training(config: RunConfig) -> LocalTraining:
    t = config.train
    return LocalTraining(t.epochs, t.batch_size, optimizer_settings(t), config.seed, l2=t.l2)


def mf_shape(config: RunConfig) -> MFShape:
    return MFShape(config.model.dim, config.model.init_std)


def load_implicit(config: RunConfig) -> LeaveOneOut:
    ratings = RATING_LOADERS[config.data.name]()
    negatives, room = config.ranking.eval_negatives, fewest_unseen(ratings)
    if negatives > room:
        raise ConfigError(
            f"ranking.eval_negatives={negatives} is more than the {room} items the most active user of "
            f"{config.data.name} has not interacted with; set ranking.eval_negatives to at most {room}"
        )
    return leave_one_out(ratings, config.seed, negatives)


@dataclass(frozen=True)
class ClientSplit:
    """Labelled data divided among clients: client c holds ``train_parts[c - 1]`` and ``test_parts[c - 1]``."""

    data: TrainTest
    train_parts: list[np.ndarray]
    test_parts: list[np.ndarray]

    @property
    def num_clients(self) -> int:
        return len(self.train_parts)


@dataclass(frozen=True)
class GraphSplit:
    """A citation graph divided into client subgraphs."""

    graphs: list[ClientGraph]
    features: int
    classes: int
    whole: ClientGraph  # the graph before the split, with every edge: what the global baseline trains on

    @property
    def num_clients(self) -> int:
        return len(self.graphs)


TaskData = RatingSplit | LeaveOneOut | ClientSplit | GraphSplit


def load_graph_split(config: RunConfig) -> GraphSplit:
    from torch_geometric.transforms import NormalizeFeatures

    from fedrec.data.graphs import client_graphs, load_planetoid, louvain_split, random_node_masks, random_node_split

    data = load_planetoid(config.data.name)
    if config.data.normalize_features:
        data = NormalizeFeatures()(data)
    s = config.split
    if s.node_masks == "random":
        data = random_node_masks(data, s.val_share, s.test_share, config.seed)
    if s.kind == "louvain":
        owner = louvain_split(data.edge_index, data.num_nodes, s.clients, config.seed)
    else:
        owner = random_node_split(data.num_nodes, s.clients, config.seed)
    _every_client_holds_data(config, np.bincount(owner, minlength=s.clients), "nodes")
    (whole,) = client_graphs(data, np.zeros(data.num_nodes, dtype=np.int64))
    return GraphSplit(client_graphs(data, owner, s.clients), data.num_features, int(data.y.max()) + 1, whole)


def load_task_data(config: RunConfig) -> TaskData:
    if config.task == "node_classification":
        return load_graph_split(config)
    if config.task == "classification":
        return load_client_split(config)
    return load_implicit(config) if config.task == "ranking" else load_split(config)


def num_clients(data: TaskData) -> int:
    return data.num_clients if isinstance(data, ClientSplit | GraphSplit) else data.train.num_users


def load_client_split(config: RunConfig) -> ClientSplit:
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
    _every_client_holds_data(config, np.array([len(part) for part in train_parts]), "training examples")
    # each client is tested on its own label distribution: personalized models are measured where they live
    return ClientSplit(data, train_parts, split_like(labels, train_parts, data.test.labels, seed))


def _every_client_holds_data(config: RunConfig, sizes: np.ndarray, what: str) -> None:
    """Refuses a split that leaves a client empty (a silent smaller federation, or a crash mid-run)."""
    empty = int((sizes == 0).sum())
    if empty:
        s = config.split
        raise ConfigError(
            f"split.kind {s.kind} leaves {empty} of split.clients={s.clients} clients without {what} of "
            f"{config.data.name}; lower split.clients (only {len(sizes) - empty} hold any)"
        )


def ranking_training(config: RunConfig) -> RankingTraining:
    return RankingTraining(local_training(config), config.ranking.loss, config.ranking.num_negatives)


Task = Union[RatingTask, RankingTask, ClassificationTask, "NodeClassificationTask"]


def build_task(config: RunConfig, data: TaskData, client_ids: np.ndarray) -> Task:
    execution = config.federation.execution
    if isinstance(data, GraphSplit):
        from fedrec.models.gnn import NodeClassifier
        from fedrec.tasks.node_classification import NodeClassificationTask

        gnn = NodeClassifier(config.model.classifier, data.features, data.classes, config.model.hidden[0])
        return NodeClassificationTask(
            data.graphs, client_ids, gnn, local_training(config), objective(config, client_ids), data.classes
        )
    if isinstance(data, ClientSplit):
        train = data.data.train
        module = make_classifier(
            config.model.classifier, train.features.shape[1:], len(train.classes), config.model.hidden[0]
        )
        local = local_training(config)
        try:
            return ClassificationTask(
                train,
                data.data.test,
                data.train_parts,
                data.test_parts,
                client_ids,
                module,
                local,
                execution,
                objective(config, client_ids),
                tuple(config.federation.local_layers) if config.mode == "federated" else (),
                config.federation.ditto_lambda if config.mode == "federated" else None,
            )
        except ValueError as error:
            raise ConfigError(f"federation.local_layers: {error}") from None
    if isinstance(data, LeaveOneOut):
        spec = ranking_training(config)
        cold = cold_start_users(config, data.train.num_users)
        model = config.model
        kind = "mf" if model.kind == "biased_mf" else model.kind
        try:
            return RankingTask(
                data,
                client_ids,
                mf_shape(config),
                spec,
                execution,
                config.train.finetune_epochs,
                cold,
                kind,
                model.hidden,
                config.ranking.personal,
            )
        except ValueError as error:
            raise ConfigError(f"ranking.personal: {error}") from None
    finetune = config.train.finetune_epochs
    return RatingTask(
        data, client_ids, mf_shape(config), local_training(config), execution, finetune, config.privacy.pseudo_items
    )


def metrics_for(config: RunConfig, data: TaskData | None = None) -> RatingMetrics | RankingMetrics | AccuracyMetrics:
    """The task's metric combiner; given the task data, the rating scale bounds the error sums it accepts."""
    if config.task in ("classification", "node_classification"):
        return AccuracyMetrics()
    if config.task == "ranking":
        return RankingMetrics()
    if not isinstance(data, RatingSplit):
        return RatingMetrics()
    low, high = data.train.rating_range
    return RatingMetrics(high - low, data.train.catalogue.source_rows)


def update_check(config: RunConfig) -> UpdateCheck:
    """The server's check of incoming updates: a ranking example touches its positive item and the negatives
    drawn for it in every epoch, which bounds a row's weight."""
    rows = 1 + config.train.epochs * config.ranking.num_negatives if config.task == "ranking" else 1
    return UpdateCheck(rows_per_example=rows)


def cold_start_users(config: RunConfig, num_users: int) -> np.ndarray:
    """The client ids held out of training (seeded), evaluated through the cold-start path."""
    count = round(config.ranking.cold_start_users * num_users)
    rng = np.random.default_rng([config.seed, 0xC01D])
    return np.sort(rng.choice(np.arange(1, num_users + 1), size=count, replace=False))


def objective(config: RunConfig, client_ids: np.ndarray) -> LocalObjective:
    """The client's half of the configured algorithm (the baselines train plainly)."""
    f = config.federation
    if config.mode != "federated" or f.algorithm == "fedavg":
        return PlainObjective()
    if f.algorithm == "fedprox":
        return FedProx(f.proximal_mu)
    return ScaffoldClient(client_ids, config.train.lr)


def initial_model(config: RunConfig, task: Task) -> GlobalModel:
    model: GlobalModel = task.initial_model()
    return with_controls(model) if config.federation.algorithm == "scaffold" else model


def aggregator(
    config: RunConfig, num_clients: int, spent: PrivacyLedger | None = None
) -> FedAvg | ScaffoldServer | DPFedAvg:
    """FedAvg with the configured server optimizer (FedOpt); SCAFFOLD also moves its controls; user-level DP
    clips, sums and noises before the server optimizer."""
    f = config.federation
    settings = ServerOptimizerSettings(f.server_optimizer, f.server_lr, f.server_beta1, f.server_beta2, f.server_tau)
    if spent is not None:
        return dp_aggregator(config, spent, num_clients, ServerOptimizer(settings))
    fedavg = FedAvg(server_opt=ServerOptimizer(settings))
    return ScaffoldServer(fedavg, num_clients) if f.algorithm == "scaffold" else fedavg


def algorithm_name(config: RunConfig) -> str:
    """What the summary calls the run's algorithm: ``fedavg``, ``fedprox+fedadam``, ``scaffold+fedavgm``, ..."""
    f = config.federation
    server = {"sgd": "fedavg", "momentum": "fedavgm"}.get(f.server_optimizer, f"fed{f.server_optimizer}")
    if f.algorithm == "fedavg":
        return server
    return f.algorithm if server == "fedavg" else f"{f.algorithm}+{server}"


def device_profiles(config: RunConfig, client_ids: np.ndarray) -> DeviceProfiles:
    """Every client's device in virtual time, as the ``devices`` section says."""
    d, epochs = config.devices, config.train.epochs
    if d.kind == "trace":
        assert d.trace is not None
        try:
            return read_trace(Path(d.trace).expanduser(), client_ids, epochs)
        except TraceError as error:
            raise ConfigError(str(error)) from None
    if d.kind == "uniform":
        return DeviceProfiles.uniform(client_ids, d.examples_per_s, d.down_bytes_per_s, epochs)
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


def round_policy(config: RunConfig, num_clients: int) -> RoundPolicy:
    f = config.federation
    if f.policy == "sync":
        return SyncRounds(f.deadline_s, f.quorum, f.over_selection, ParticipationWeights(f.participation_cap))
    sampler = ClientSampler(config.seed, f.clients_per_round, f.client_fraction)
    concurrency = f.concurrency or sampler.size(num_clients)
    buffer = min(f.buffer_size, concurrency)
    weights = ParticipationWeights(f.participation_cap)
    return BufferedAsync(concurrency, buffer, f.max_staleness, f.staleness_exponent, weights)
