"""Builds the pieces of a run from its config: data split, local training settings, server parts."""

from __future__ import annotations

from fedrec.config import RunConfig, TrainingConfig
from fedrec.data import RATING_LOADERS
from fedrec.data.ratings import RatingSplit, per_user_holdout
from fedrec.tasks.cohort_optim import OptimizerSettings
from fedrec.tasks.mf_cohort import LocalTraining
from fedrec.tasks.rating import MFShape


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
