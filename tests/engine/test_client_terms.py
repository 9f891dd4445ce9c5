"""Client terms on the recommenders: FedProx's proximal term on the rating and ranking tasks, applied by the
hand-derived cohort kernels and by the autograd references alike (Li et al., MLSys 2020)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from fedrec.algorithms.fedavg import FedAvg
from fedrec.algorithms.fedprox import FedProx
from fedrec.algorithms.scaffold import ScaffoldClient, ScaffoldServer, with_controls
from fedrec.config import load_config
from fedrec.engine.objective import LocalObjective, PlainObjective
from fedrec.engine.optim import OptimizerSettings
from fedrec.engine.types import LocalTraining, MFShape
from fedrec.errors import ConfigError
from fedrec.payloads import GlobalModel
from fedrec.tasks.ranking.cohort import RankingTraining
from fedrec.tasks.ranking.task import RankingTask
from fedrec.tasks.rating.task import RatingTask

RATING_CLIENTS = np.arange(1, 944, 8)
RANKING_CLIENTS = np.arange(1, 944, 13)
ADAM = LocalTraining(2, 16, OptimizerSettings("adam", lr=0.01), seed=5, l2=0.05)


def _two_rounds(make_task, objective: LocalObjective, ids: np.ndarray) -> tuple[GlobalModel, torch.Tensor]:  # type: ignore[no-untyped-def]
    task = make_task(objective)
    model = task.initial_model()
    for round_index in (1, 2):
        model = FedAvg().aggregate(model, [task.train(ids, model, round_index)])
    return model, task.user_emb


def _rating(split, execution: str):  # type: ignore[no-untyped-def]
    return lambda objective: RatingTask(split, RATING_CLIENTS, MFShape(8, 0.1), replace(ADAM, objective=objective),
                                        execution)  # fmt: skip


def _ranking(ml100k_loo, execution: str, kind: str = "mf", local: LocalTraining = ADAM):  # type: ignore[no-untyped-def]
    def make(objective: LocalObjective) -> RankingTask:
        spec = RankingTraining(replace(local, objective=objective, l2=0.01), "bpr", 2)
        return RankingTask(ml100k_loo, RANKING_CLIENTS, MFShape(8, 0.1), spec, execution, kind=kind, hidden=(8, 4))  # type: ignore[arg-type]

    return make


def _same(a: GlobalModel, b: GlobalModel, atol: float | None) -> bool:
    if atol is None:
        return all(torch.equal(a.params[k], b.params[k]) for k in a.params)
    return all(torch.allclose(a.params[k], b.params[k], atol=atol) for k in a.params)


def test_fedprox_on_the_rating_task_cohort_equals_sequential_over_two_rounds(ml100k_split, double_precision) -> None:  # type: ignore[no-untyped-def]
    cohort, users_c = _two_rounds(_rating(ml100k_split, "cohort"), FedProx(0.5), RATING_CLIENTS)
    sequential, users_s = _two_rounds(_rating(ml100k_split, "sequential"), FedProx(0.5), RATING_CLIENTS)
    assert _same(cohort, sequential, atol=1e-10)
    assert torch.allclose(users_c, users_s, atol=1e-10)
    plain, _ = _two_rounds(_rating(ml100k_split, "cohort"), PlainObjective(), RATING_CLIENTS)
    start = _rating(ml100k_split, "cohort")(PlainObjective()).initial_model().params["item_emb"]
    pulled, free = (cohort.params["item_emb"] - start).norm(), (plain.params["item_emb"] - start).norm()
    assert pulled < 0.95 * free, "the proximal term keeps the clients nearer the model they received"


@pytest.mark.parametrize("execution", ["cohort", "sequential"])
def test_fedprox_with_mu_zero_is_fedavg_exactly(ml100k_split, ml100k_loo, execution: str) -> None:  # type: ignore[no-untyped-def]
    rating = [
        _two_rounds(_rating(ml100k_split, execution), o, RATING_CLIENTS)[0] for o in (FedProx(0.0), PlainObjective())
    ]
    assert _same(*rating, atol=None)
    ranking = [
        _two_rounds(_ranking(ml100k_loo, execution), o, RANKING_CLIENTS)[0] for o in (FedProx(0.0), PlainObjective())
    ]
    assert _same(*ranking, atol=None)


SGD = LocalTraining(2, 16, OptimizerSettings("sgd", lr=0.05), seed=5)


# NeuMF's towers under Adam turn float noise into sign flips (Adam steps by about lr * sign(g) where g is near
# zero, which the proximal term makes common): its agreement is checked with SGD, where the paths agree exactly
@pytest.mark.parametrize(("kind", "local"), [("mf", ADAM), ("gmf", ADAM), ("neumf", SGD)], ids=["mf", "gmf", "neumf"])
def test_fedprox_on_the_ranking_task_cohort_equals_sequential_over_two_rounds(
    ml100k_loo, kind: str, local: LocalTraining, double_precision
) -> None:  # type: ignore[no-untyped-def]
    cohort, users_c = _two_rounds(_ranking(ml100k_loo, "cohort", kind, local), FedProx(0.5), RANKING_CLIENTS)
    sequential, users_s = _two_rounds(_ranking(ml100k_loo, "sequential", kind, local), FedProx(0.5), RANKING_CLIENTS)
    assert _same(cohort, sequential, atol=1e-10)
    assert torch.allclose(users_c, users_s, atol=1e-10)
    plain, _ = _two_rounds(_ranking(ml100k_loo, "cohort", kind, local), PlainObjective(), RANKING_CLIENTS)
    assert not _same(cohort, plain, atol=1e-6), "the term changes the training"


def test_the_config_runs_fedprox_and_scaffold_on_both_recommenders() -> None:
    assert load_config(overrides=["federation.algorithm=fedprox"]).federation.algorithm.kind == "fedprox"
    assert load_config(overrides=["task=ranking", "federation.algorithm=fedprox"]).task == "ranking"
    assert load_config(overrides=["federation.algorithm=scaffold", "train.optimizer=sgd"]).task == "rating"
    scaffold = ["task=ranking", "federation.algorithm=scaffold", "train.optimizer=sgd"]
    assert load_config(overrides=scaffold).federation.algorithm.kind == "scaffold"
    with pytest.raises(ConfigError, match="SCAFFOLD's control update assumes plain local SGD"):
        load_config(overrides=["federation.algorithm=scaffold"])  # the rating task trains with Adam by default


def _scaffold_two_rounds(split, execution: str, rounds: int = 2) -> tuple[GlobalModel, RatingTask]:  # type: ignore[no-untyped-def]
    local = LocalTraining(2, 16, OptimizerSettings("sgd", lr=0.05), seed=5, l2=0.05)
    term = ScaffoldClient(RATING_CLIENTS, local.optimizer.lr)
    task = RatingTask(split, RATING_CLIENTS, MFShape(8, 0.1), replace(local, objective=term), execution)
    server = ScaffoldServer(FedAvg(), num_clients=943)
    model = with_controls(task.initial_model())
    for round_index in range(1, rounds + 1):
        model = server.aggregate(model, [task.train(RATING_CLIENTS, model, round_index)])
    return model, task


def test_scaffold_on_the_rating_task_cohort_equals_sequential_over_two_rounds(ml100k_split, double_precision) -> None:  # type: ignore[no-untyped-def]
    cohort, task_c = _scaffold_two_rounds(ml100k_split, "cohort")
    sequential, task_s = _scaffold_two_rounds(ml100k_split, "sequential")
    assert set(cohort.params) == {"item_emb", "item_bias", "global_bias", "control.item_emb", "control.item_bias",
                                  "control.global_bias"}  # fmt: skip
    assert _same(cohort, sequential, atol=1e-10)
    assert cohort.params["control.item_emb"].abs().sum() > 0, "the server control moved"
    touched = np.unique(ml100k_split.train.items[np.isin(ml100k_split.train.users + 1, RATING_CLIENTS)])
    untouched = np.setdiff1d(np.arange(cohort.params["control.item_emb"].shape[0]), touched)
    assert torch.equal(cohort.params["control.item_emb"][untouched], torch.zeros(len(untouched), 8))  # row-aware
    state_c, state_s = task_c.private_state(), task_s.private_state()
    assert set(state_c) == set(state_s) and all(torch.allclose(state_c[k].double(), state_s[k].double(), atol=1e-10)
                                                 for k in state_c)  # fmt: skip


def test_scaffold_on_the_rating_task_resumes_its_client_controls(ml100k_split) -> None:  # type: ignore[no-untyped-def]
    model, task = _scaffold_two_rounds(ml100k_split, "cohort", rounds=1)
    again, fresh = _scaffold_two_rounds(ml100k_split, "cohort", rounds=1)
    fresh.load_private_state(task.private_state())
    after_resume = fresh.train(RATING_CLIENTS, model, 2)
    uninterrupted = task.train(RATING_CLIENTS, model, 2)
    assert torch.equal(after_resume.rows.values["control.item_emb"], uninterrupted.rows.values["control.item_emb"])


@pytest.mark.parametrize("kind", ["mf", "neumf"])
def test_scaffold_on_the_ranking_task_cohort_equals_sequential_over_two_rounds(  # type: ignore[no-untyped-def]
    ml100k_loo, kind: str, double_precision
) -> None:
    results = []
    for execution in ("cohort", "sequential"):
        term = ScaffoldClient(RANKING_CLIENTS, SGD.optimizer.lr)
        task = _ranking(ml100k_loo, execution, kind, SGD)(term)
        server, model = ScaffoldServer(FedAvg(), num_clients=943), with_controls(task.initial_model())
        for round_index in (1, 2):
            model = server.aggregate(model, [task.train(RANKING_CLIENTS, model, round_index)])
        results.append((model, task.private_state()))
    (cohort, state_c), (sequential, state_s) = results
    assert {"control.item_emb", "control.item_bias"} < set(cohort.params)
    keys = state_c["objective.rows.item_emb.keys"].numpy()  # a client keeps c_i only for items it interacted with
    rows = int(state_c["objective.rows.item_emb.rows"])
    clients, items = RANKING_CLIENTS[keys // rows], keys % rows
    train = ml100k_loo.train
    held = set(zip((train.users + 1).tolist(), train.items.tolist(), strict=True))
    assert len(keys) > 0 and all((int(c), int(i)) in held for c, i in zip(clients, items, strict=True))
    assert _same(cohort, sequential, atol=1e-10)
    assert all(float(v.abs().sum()) > 0 for k, v in cohort.params.items() if k.startswith("control.")), "controls moved"
    assert set(state_c) == set(state_s)
    assert all(torch.allclose(state_c[k].double(), state_s[k].double(), atol=1e-10) for k in state_c)
