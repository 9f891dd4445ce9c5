"""What leaves a client in the rating task, and what evaluation reports."""

import numpy as np
import torch

from fedrec.algorithms.fedavg import FedAvg
from fedrec.engine.optim import OptimizerSettings
from fedrec.engine.types import LocalTraining, MFShape
from fedrec.tasks.rating.task import RatingMetrics, RatingTask


def _task(split, ids):  # type: ignore[no-untyped-def]
    local = LocalTraining(1, 32, OptimizerSettings("adam", lr=0.01), seed=0, l2=0.05)
    return RatingTask(split, ids, MFShape(8, 0.1), local, "cohort")


def test_update_holds_only_the_rows_of_items_the_client_rated(ml100k_split) -> None:  # type: ignore[no-untyped-def]
    ids = np.array([1, 2, 3])
    task = _task(ml100k_split, ids)
    before = task.user_emb.clone()
    update = task.train(ids, task.initial_model(), 1)
    train = ml100k_split.train
    for k, client in enumerate(update.client_ids.tolist()):
        rated = set(train.items[train.users == client - 1].tolist())
        sent = set(update.rows.index[update.rows.owner == k].tolist())
        assert sent == rated
        assert update.num_examples[k] == len(rated)
    assert set(update.dense) == {"global_bias"} and set(update.rows.values) == {"item_emb", "item_bias"}
    assert not torch.equal(before, task.user_emb), "the private user state trained, and stayed on the host"


def test_evaluation_sends_sums_and_metrics_combine_them(ml100k_split) -> None:  # type: ignore[no-untyped-def]
    ids = np.arange(1, 944)
    task = _task(ml100k_split, ids)
    model = task.initial_model()
    halves = [task.evaluate(ids[:400], model), task.evaluate(ids[400:], model)]
    metrics = RatingMetrics().combine(halves)
    assert sum(h.total("count") for h in halves) == len(ml100k_split.test)
    global_mean = model.params["global_bias"].item()
    naive = np.sqrt(np.mean((np.clip(global_mean, 1, 5) - ml100k_split.test.values) ** 2))
    assert abs(metrics["test_rmse"] - naive) < 0.05, "an untrained model predicts about the global offset"
    assert metrics["test_mae"] < metrics["test_rmse"]


def test_fine_tuning_personalizes_evaluation_without_keeping_anything(ml100k_split) -> None:  # type: ignore[no-untyped-def]
    ids = np.arange(1, 101)
    task = _task(ml100k_split, ids)
    model = task.initial_model()
    for round_index in (1, 2, 3):
        model = FedAvg().aggregate(model, [task.train(ids, model, round_index)])
    kept = task.user_emb.clone()
    task.finetune_epochs = 5
    sums = task.evaluate(ids, model)
    assert torch.equal(kept, task.user_emb), "the personal copy is evaluated, not kept"
    metrics = RatingMetrics().combine([sums])
    assert set(metrics) == {"test_rmse", "test_mae", "ft_rmse", "ft_mae"}
    # five more epochs on their own ratings fit each user's side better to them than three rounds did
    per_user_ft, per_user = sums.sums["ft_sse"] / sums.sums["count"], sums.sums["sse"] / sums.sums["count"]
    assert metrics["ft_rmse"] < metrics["test_rmse"] and (per_user_ft < per_user).float().mean() > 0.5
