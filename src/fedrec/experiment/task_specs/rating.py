"""The rating task's spec: explicit ratings, one client per user, federated biased MF (``task: rating``)."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from fedrec.config import RunConfig
from fedrec.data import RATING_LOADERS
from fedrec.data.movielens import load_catalogue, load_users
from fedrec.data.ratings import Ratings, RatingSplit, per_user_holdout
from fedrec.experiment.client_training import local_training, mf_shape
from fedrec.experiment.task_spec import TaskSpec
from fedrec.experiment.task_specs.interactions import (
    INTERACTION_DATASETS,
    interactions_report,
    most_interactions,
    num_users,
)
from fedrec.tasks.rating.task import RatingMetrics, RatingTask


def load_split(config: RunConfig) -> RatingSplit:
    """Every user's ratings, each user's ``data.test_fraction`` held out as test (seeded)."""
    ratings = RATING_LOADERS[config.data.name]()
    return per_user_holdout(ratings, config.data.test_fraction, config.seed)


class RatingSpec(TaskSpec):
    """The rating task on explicit ratings (MovieLens): each user's ratings held out at random; biased MF, one client
    per user."""

    finetunes = True
    private_uploads = True
    baselines = True
    datasets = INTERACTION_DATASETS
    modes: ClassVar[frozenset[str]] = frozenset({"federated", "centralized"})
    client_algorithms: ClassVar[frozenset[str]] = frozenset({"fedavg", "fedprox", "scaffold"})
    served = True

    def load(self, config: RunConfig) -> RatingSplit:
        return load_split(config)

    def client_data(self, config: RunConfig, client_ids: np.ndarray) -> RatingSplit:
        ratings = load_users(config.data.name, np.sort(np.asarray(client_ids, dtype=np.int64)))
        return per_user_holdout(ratings, config.data.test_fraction, config.seed)

    def server_data(self, config: RunConfig) -> RatingSplit:
        empty = Ratings.empty(load_catalogue(config.data.name))
        return RatingSplit(empty, empty)

    def num_clients(self, data: RatingSplit) -> int:
        return num_users(data)

    def count_clients(self, config: RunConfig) -> int:
        return load_catalogue(config.data.name).num_users

    def build(self, config: RunConfig, data: RatingSplit, client_ids: np.ndarray) -> RatingTask:
        execution, finetune = config.federation.execution, config.train.finetune_epochs
        local = local_training(config, client_ids)
        return RatingTask(data, client_ids, mf_shape(config), local, execution, finetune, config.privacy.pseudo_items)

    def metrics(self, config: RunConfig, data: Any) -> RatingMetrics:
        """RMSE and MAE; the rating scale bounds the error sums the server accepts."""
        if not isinstance(data, RatingSplit):
            return RatingMetrics()
        low, high = data.train.rating_range
        return RatingMetrics(high - low, data.train.catalogue.source_rows)

    def most_examples(self, config: RunConfig) -> int:
        return most_interactions(config.data.name)

    def data_report(self, data: RatingSplit) -> dict[str, int]:
        return interactions_report(data)


SPEC = RatingSpec()
