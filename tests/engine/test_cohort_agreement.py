"""Batching is an execution choice, never an algorithm change: one seeded round, cohort vs sequential."""

import numpy as np
import pytest
import torch

from fedrec.algorithms.fedavg import FedAvg
from fedrec.engine.optim import OptimizerSettings
from fedrec.engine.types import LocalTraining, MFShape
from fedrec.tasks.rating.task import RatingTask

CLIENTS = np.arange(1, 944, 8)  # 118 clients, light and heavy users alike


@pytest.mark.parametrize(
    ("settings", "dtype", "atol"),
    [
        (OptimizerSettings("sgd", lr=0.05, weight_decay=0.01), torch.float32, 1e-6),
        (OptimizerSettings("sgd", lr=0.02, momentum=0.9), torch.float32, 1e-6),
        (OptimizerSettings("adam", lr=0.01, weight_decay=0.001), torch.float64, 1e-10),
        (OptimizerSettings("adam", lr=0.02), torch.float64, 1e-10),
    ],
    ids=["sgd", "sgd-momentum", "adam-decay", "adam"],
)
def test_cohort_round_equals_sequential_round(  # type: ignore[no-untyped-def]
    ml100k_split, settings: OptimizerSettings, dtype: torch.dtype, atol: float
) -> None:
    torch.set_default_dtype(dtype)
    try:
        _compare_one_round(ml100k_split, settings, atol)
    finally:
        torch.set_default_dtype(torch.float32)


def _compare_one_round(ml100k_split, settings: OptimizerSettings, atol: float) -> None:  # type: ignore[no-untyped-def]
    local = LocalTraining(epochs=2, batch_size=16, optimizer=settings, seed=5, l2=0.05)
    results = {}
    for execution in ("cohort", "sequential"):
        task = RatingTask(ml100k_split, CLIENTS, MFShape(8, 0.1), local, execution)
        model = task.initial_model()
        updates = task.train(CLIENTS, model, round_index=3)
        results[execution] = (FedAvg().aggregate(model, [updates]), task, updates)
    (a, task_a, up_a), (b, task_b, up_b) = results["cohort"], results["sequential"]
    assert sorted(up_a.client_ids.tolist()) == sorted(up_b.client_ids.tolist()) == CLIENTS.tolist()
    assert len(up_a.rows.index) == len(up_b.rows.index)
    for name in a.params:
        assert torch.allclose(a.params[name], b.params[name], atol=atol), name
        assert not torch.equal(a.params[name], task_a.initial_model().params[name]), f"{name} did not train"
    assert torch.allclose(task_a.user_emb, task_b.user_emb, atol=atol)
    assert torch.allclose(task_a.user_bias, task_b.user_bias, atol=atol)


def test_a_clients_update_does_not_depend_on_its_cohort(ml100k_split) -> None:  # type: ignore[no-untyped-def]
    local = LocalTraining(1, 32, OptimizerSettings("adam", lr=0.01), seed=0, l2=0.05)
    alone = RatingTask(ml100k_split, np.array([9]), MFShape(8, 0.1), local, "cohort")
    crowd = RatingTask(ml100k_split, CLIENTS, MFShape(8, 0.1), local, "cohort")
    model = alone.initial_model()
    one = alone.train(np.array([9]), model, 1)
    many = crowd.train(np.array([9, 1, 17, 25]), model, 1)
    k = int(np.flatnonzero(many.client_ids == 9)[0])
    mine = many.rows.owner == k
    assert torch.equal(one.rows.index, many.rows.index[mine])
    assert torch.allclose(one.rows.values["item_emb"], many.rows.values["item_emb"][mine], atol=1e-6)
