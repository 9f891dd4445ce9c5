"""Builds the pieces of a run from its config: data split, local training settings, server parts."""

from __future__ import annotations

import numpy as np

from fedrec.config import RunConfig, TrainingConfig
from fedrec.data import RATING_LOADERS
from fedrec.data.implicit import LeaveOneOut, leave_one_out
from fedrec.data.ratings import RatingSplit, per_user_holdout
from fedrec.tasks.cohort_optim import OptimizerSettings
from fedrec.tasks.mf_cohort import LocalTraining
from fedrec.tasks.ranking import RankingMetrics, RankingTask
from fedrec.tasks.ranking_cohort import RankingTraining
from fedrec.tasks.rating import MFShape, RatingMetrics, RatingTask


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
    return leave_one_out(ratings, config.seed, config.ranking.eval_negatives)


def load_task_data(config: RunConfig) -> RatingSplit | LeaveOneOut:
    return load_implicit(config) if config.task == "ranking" else load_split(config)


def ranking_training(config: RunConfig) -> RankingTraining:
    return RankingTraining(local_training(config), config.ranking.loss, config.ranking.num_negatives)


def build_task(config: RunConfig, data: RatingSplit | LeaveOneOut, client_ids: np.ndarray) -> RatingTask | RankingTask:
    execution = config.federation.execution
    if isinstance(data, LeaveOneOut):
        spec = ranking_training(config)
        cold = cold_start_users(config, data.train.num_users)
        model = config.model
        kind = "mf" if model.kind == "biased_mf" else model.kind
        return RankingTask(
            data,
            client_ids,
            mf_shape(config),
            spec,
            execution,
            config.ranking.finetune_epochs,
            cold,
            kind,
            model.hidden,
            config.ranking.personal,
        )
    return RatingTask(data, client_ids, mf_shape(config), local_training(config), execution)


def metrics_for(config: RunConfig) -> RatingMetrics | RankingMetrics:
    return RankingMetrics() if config.task == "ranking" else RatingMetrics()


def cold_start_users(config: RunConfig, num_users: int) -> np.ndarray:
    """The client ids held out of training (seeded), evaluated through the cold-start path."""
    count = round(config.ranking.cold_start_users * num_users)
    rng = np.random.default_rng([config.seed, 0xC01D])
    return np.sort(rng.choice(np.arange(1, num_users + 1), size=count, replace=False))
