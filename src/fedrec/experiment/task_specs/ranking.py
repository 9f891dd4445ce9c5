"""The ranking task's spec: implicit feedback, leave-one-out, MF or NCF with sampled negatives (``task: ranking``)."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from fedrec.config import RunConfig
from fedrec.data import RATING_LOADERS
from fedrec.data.implicit import LeaveOneOut, fewest_unseen, leave_one_out
from fedrec.data.movielens import load_catalogue, load_users
from fedrec.data.ratings import Ratings
from fedrec.errors import ConfigError
from fedrec.experiment.client_training import local_training, mf_shape
from fedrec.experiment.task_spec import TaskSpec
from fedrec.experiment.task_specs.interactions import (
    INTERACTION_DATASETS,
    interactions_report,
    most_interactions,
    num_users,
)
from fedrec.tasks.ranking.cohort import RankingTraining
from fedrec.tasks.ranking.task import PROTOCOL, RankingMetrics, RankingTask


def load_implicit(config: RunConfig) -> LeaveOneOut:
    """Every user's interactions with the latest held out, against ``ranking.eval_negatives`` sampled items.

    Raises ``ConfigError`` when some user has not interacted with fewer items than that."""
    ratings = RATING_LOADERS[config.data.name]()
    negatives, room = config.ranking.eval_negatives, fewest_unseen(ratings)
    if negatives > room:
        raise ConfigError(
            f"ranking.eval_negatives={negatives} is more than the {room} items the most active user of "
            f"{config.data.name} has not interacted with; set ranking.eval_negatives to at most {room}"
        )
    return leave_one_out(ratings, config.seed, negatives)


def ranking_training(config: RunConfig, client_ids: np.ndarray | None = None) -> RankingTraining:
    """Local training for ranking; given the hosted ``client_ids``, with the client algorithm's term."""
    return RankingTraining(local_training(config, client_ids), config.ranking.loss, config.ranking.num_negatives)


def cold_start_users(config: RunConfig, num_users: int) -> np.ndarray:
    """The client ids held out of training (seeded), evaluated through the cold-start path."""
    count = round(config.ranking.cold_start_users * num_users)
    rng = np.random.default_rng([config.seed, 0xC01D])
    return np.sort(rng.choice(np.arange(1, num_users + 1), size=count, replace=False))


class RankingSpec(TaskSpec):
    """The ranking task on implicit feedback (MovieLens, Last.fm): leave-one-out, sampled negatives, BPR or BCE; MF or
    NCF (GMF, MLP, NeuMF)."""

    finetunes = True
    baselines = True
    datasets = INTERACTION_DATASETS
    modes: ClassVar[frozenset[str]] = frozenset({"federated", "centralized"})
    # SCAFFOLD's kernels run here (tests agree cohort with sequential), but negatives drawn anew each round make
    # a row's client control an estimate given that the row was drawn, and grow every client's control table:
    # refused until the controls cover the positives only
    client_algorithms: ClassVar[frozenset[str]] = frozenset({"fedavg", "fedprox", "scaffold"})
    served = True

    def problem(self, config: RunConfig) -> str | None:
        kind = config.model.kind
        if kind != "biased_mf" and (config.train.finetune_epochs or config.ranking.cold_start_users):
            return "fine-tuning and cold-start evaluation support model.kind biased_mf so far"
        if config.ranking.personal and kind == "biased_mf":
            return "ranking.personal names NCF weights: set model.kind to gmf, mlp or neumf"
        if kind != "biased_mf" and config.mode == "centralized":
            return "the centralized baseline supports model.kind biased_mf so far"
        return None

    def load(self, config: RunConfig) -> LeaveOneOut:
        return load_implicit(config)

    def client_data(self, config: RunConfig, client_ids: np.ndarray) -> LeaveOneOut:
        ratings = load_users(config.data.name, np.sort(np.asarray(client_ids, dtype=np.int64)))
        return leave_one_out(ratings, config.seed, config.ranking.eval_negatives)

    def server_data(self, config: RunConfig) -> LeaveOneOut:
        return LeaveOneOut.empty(Ratings.empty(load_catalogue(config.data.name)), config.ranking.eval_negatives)

    def num_clients(self, data: LeaveOneOut) -> int:
        return num_users(data)

    def count_clients(self, config: RunConfig) -> int:
        return load_catalogue(config.data.name).num_users

    def build(self, config: RunConfig, data: LeaveOneOut, client_ids: np.ndarray) -> RankingTask:
        cold = cold_start_users(config, data.train.num_users)
        model = config.model
        kind = "mf" if model.kind == "biased_mf" else model.kind
        try:
            return RankingTask(
                data,
                client_ids,
                mf_shape(config),
                ranking_training(config, client_ids),
                config.federation.execution,
                config.train.finetune_epochs,
                cold,
                kind,
                model.hidden,
                config.ranking.personal,
            )
        except ValueError as error:
            raise ConfigError(f"ranking.personal: {error}") from None

    def metrics(self, config: RunConfig, data: Any) -> RankingMetrics:
        return RankingMetrics()

    def rows_per_example(self, config: RunConfig) -> int:
        """A ranking example touches its positive item and the negatives drawn for it in every epoch."""
        return 1 + config.train.epochs * config.ranking.num_negatives

    def most_examples(self, config: RunConfig) -> int:
        return most_interactions(config.data.name)

    def data_report(self, data: LeaveOneOut) -> dict[str, int]:
        return interactions_report(data)

    def summary_extras(self, config: RunConfig) -> dict[str, Any]:
        return {"protocol": PROTOCOL}


SPEC = RankingSpec()
