"""Batching is an execution choice, never an algorithm change: one seeded round, cohort vs sequential."""

import numpy as np
import pytest
import torch

from fedrec.algorithms.fedavg import FedAvg
from fedrec.tasks.cohort_optim import OptimizerSettings
from fedrec.tasks.mf_cohort import LocalTraining
from fedrec.tasks.rating import MFShape, RatingTask

CLIENTS = np.arange(1, 944, 8)  # 118 clients, light and heavy users alike


@pytest.mark.parametrize(
    "settings",
    [
        OptimizerSettings("sgd", lr=0.05, weight_decay=0.01),
        OptimizerSettings("sgd", lr=0.02, momentum=0.9),
        OptimizerSettings("adam", lr=0.01, weight_decay=0.001),
    ],
    ids=["sgd", "sgd-momentum", "adam"],
)
def test_cohort_round_equals_sequential_round(ml100k_split, settings: OptimizerSettings) -> None:  # type: ignore[no-untyped-def]
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
        assert torch.allclose(a.params[name], b.params[name], atol=1e-5), name
        assert not torch.equal(a.params[name], task_a.initial_model().params[name]), f"{name} did not train"
    assert torch.allclose(task_a.user_emb, task_b.user_emb, atol=1e-5)
    assert torch.allclose(task_a.user_bias, task_b.user_bias, atol=1e-5)


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
