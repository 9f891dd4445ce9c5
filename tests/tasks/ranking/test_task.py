"""The ranking task: metrics by hand, negatives, leave-one-out, and cohort/sequential agreement."""

import numpy as np
import pytest
import torch

from fedrec.algorithms.fedavg import FedAvg
from fedrec.data import load
from fedrec.data.implicit import leave_one_out
from fedrec.engine.optim import OptimizerSettings
from fedrec.engine.types import LocalTraining, MFShape
from fedrec.tasks.ranking.cohort import RankingTraining
from fedrec.tasks.ranking.metrics import hit, ndcg, rank_of, rank_of_first
from fedrec.tasks.ranking.negatives import draw_negatives
from fedrec.tasks.ranking.task import RankingTask

REPO = __import__("pathlib").Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def loo():  # type: ignore[no-untyped-def]
    return leave_one_out(load("ml-100k"), seed=0)


def test_metrics_against_hand_computed_values() -> None:
    scores = torch.tensor([[0.9, 0.1, 0.5], [0.2, 0.8, 0.9], [0.5, 0.5, 0.5], [0.1, 0.3, 0.2]])
    rank = rank_of_first(scores)
    assert rank.tolist() == [0, 2, 1, 2]  # row 3: two ties count as one place above
    assert hit(rank, 2).tolist() == [1.0, 0.0, 1.0, 0.0]
    expected = [1.0, 0.0, 1 / np.log2(3), 0.0]
    assert ndcg(rank, 2).tolist() == pytest.approx(expected)


def test_a_nan_score_ranks_last_not_first() -> None:
    """NaN compares false with everything: counted naively, a diverged model's held-out item is never
    outranked and every user is a hit."""
    nan = float("nan")
    scores = torch.tensor([[nan, 0.1, 0.5], [nan, nan, nan], [0.4, nan, 0.5]])
    assert rank_of_first(scores).tolist() == [2, 2, 1]
    assert hit(rank_of_first(scores), 2).tolist() == [0.0, 0.0, 1.0]
    assert rank_of(scores, torch.tensor([2, 0, 2])).tolist() == [0, 2, 0]


def test_leave_one_out_holds_out_the_latest_item_and_never_leaks_it(loo) -> None:  # type: ignore[no-untyped-def]
    ratings = load("ml-100k")
    train = loo.train
    assert len(train) == len(ratings) - ratings.num_users and loo.by_time
    train_pairs = set((train.users * 10_000 + train.items).tolist())
    for user in (0, 10, 500, 942):
        test = int(loo.test_items[user])
        assert user * 10_000 + test not in train_pairs
        mine = ratings.users == user
        latest = ratings.timestamps[mine].max()
        assert ratings.timestamps[mine][ratings.items[mine] == test][0] == latest
        seen = set(ratings.items[mine].tolist())
        negatives = loo.eval_negatives[user].tolist()
        assert len(set(negatives)) == 99 and not seen & set(negatives)


def test_training_negatives_are_never_positives() -> None:
    clients = np.repeat(np.array([1, 2, 3]), 50)
    positions = np.tile(np.arange(50), 3)
    positives = {c: set(range(0, 60, 1 + c)) for c in (1, 2, 3)}  # dense positives: many rejections needed
    keys = np.array(sorted(c * 100 + i for c, items in positives.items() for i in items))
    negatives = draw_negatives(7, 1, 0, clients, positions, 3, 100, keys)
    assert negatives.shape == (150, 3)
    for row, client in enumerate(clients.tolist()):
        assert not set(negatives[row].tolist()) & positives[client]
    again = draw_negatives(7, 1, 0, clients, positions, 3, 100, keys)
    assert np.array_equal(negatives, again), "a client's negatives are reproducible"


@pytest.mark.parametrize("loss", ["bpr", "bce"])
def test_cohort_round_equals_sequential_round(loo, loss: str, double_precision) -> None:  # type: ignore[no-untyped-def]
    ids = np.arange(1, 944, 9)
    spec = RankingTraining(LocalTraining(2, 16, OptimizerSettings("adam", lr=0.01), 3, l2=0.01), loss, 2)  # type: ignore[arg-type]
    results = {}
    for execution in ("cohort", "sequential"):
        task = RankingTask(loo, ids, MFShape(8, 0.1), spec, execution)  # type: ignore[arg-type]
        model = task.initial_model()
        results[execution] = (FedAvg().aggregate(model, [task.train(ids, model, 1)]), task.user_emb)
    (a, users_a), (b, users_b) = results["cohort"], results["sequential"]
    for name in a.params:
        assert torch.allclose(a.params[name], b.params[name], atol=1e-10), name
    assert torch.allclose(users_a, users_b, atol=1e-10)


def popularity_hr10(loo) -> float:  # type: ignore[no-untyped-def]
    """HR@10 of ranking every candidate by how many users interacted with it in training."""
    popularity = torch.from_numpy(np.bincount(loo.train.items, minlength=loo.train.num_items)).double()
    candidates = torch.from_numpy(np.column_stack([loo.test_items, loo.eval_negatives]))
    return float(hit(rank_of_first(popularity[candidates]), 10).mean())


def test_a_short_federated_ranking_job_beats_popularity(loo, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from fedrec.config import load_config
    from fedrec.experiment.runner import execute

    overrides = ["rounds=25", "federation.eval_every=25", "ranking.cold_start_users=0.1"]
    config = load_config(REPO / "examples" / "ml100k_ranking.yaml", overrides)
    outcome = execute(config, tmp_path / "run", quiet=True)
    summary = outcome.summary
    baseline = popularity_hr10(loo)
    assert summary["task"] == "ranking" and "leave-one-out" in summary["protocol"]
    metrics = summary["metrics"]
    assert {"hr@10", "ndcg@10", "recall@20", "ndcg@20", "cold_hr@10", "cold_ndcg@10"} <= set(metrics)
    assert metrics["hr@10"] > baseline + 0.08, (metrics, baseline)
    assert 0 < metrics["ndcg@10"] < metrics["hr@10"]
    assert outcome.history[-1]["participants"] == 943 - 94, "users held out for cold start never train"
    assert metrics["cold_hr@10"] > baseline, "held-out users, fitted on their device, beat popularity"


def test_local_fine_tuning_is_reported_beside_the_global_model(loo) -> None:  # type: ignore[no-untyped-def]
    ids = np.arange(1, 944, 5)
    spec = RankingTraining(LocalTraining(1, 32, OptimizerSettings("adam", lr=0.05), 0, l2=1e-4), "bpr", 1)
    task = RankingTask(loo, ids, MFShape(16, 0.1), spec, "cohort", finetune_epochs=3)
    model = task.initial_model()
    for r in range(1, 4):
        model = FedAvg().aggregate(model, [task.train(ids, model, r)])
    before = task.user_emb.clone()
    sums = task.evaluate(ids, model).sums
    assert torch.equal(before, task.user_emb), "fine-tuning for evaluation leaves the trained state alone"
    for name in ("hr@10", "ndcg@10", "recall@20", "ndcg@20"):
        assert f"ft_{name}" in sums and bool(((sums[f"ft_{name}"] >= 0) & (sums[f"ft_{name}"] <= 1)).all())
    assert not torch.equal(sums["ft_ndcg@10"], sums["ndcg@10"]), "the personal copy changes the ranking"


@pytest.mark.parametrize("kind", ["gmf", "mlp", "neumf"])
def test_ncf_cohort_round_equals_sequential_round(loo, kind: str, double_precision) -> None:  # type: ignore[no-untyped-def]
    ids = np.arange(1, 944, 13)
    spec = RankingTraining(LocalTraining(2, 16, OptimizerSettings("adam", lr=0.01), 3, l2=0.01), "bpr", 2)
    results = {}
    for execution in ("cohort", "sequential"):
        task = RankingTask(loo, ids, MFShape(8, 0.1), spec, execution, kind=kind, hidden=(8, 4))  # type: ignore[arg-type]
        model = task.initial_model()
        results[execution] = (FedAvg().aggregate(model, [task.train(ids, model, 1)]), task.user_emb, model)
    (a, users_a, start), (b, users_b, _) = results["cohort"], results["sequential"]
    assert set(a.params) > {"item_emb", "item_bias"}, "the shared NCF weights are federated too"
    for name in a.params:
        assert torch.allclose(a.params[name], b.params[name], atol=1e-10), name
        assert not torch.equal(a.params[name], start.params[name]), f"{name} did not train"
    assert torch.allclose(users_a, users_b, atol=1e-10)


def test_ncf_models_need_the_ranking_task() -> None:
    from fedrec.config import load_config
    from fedrec.errors import ConfigError

    with pytest.raises(ConfigError, match="set task: ranking"):
        load_config(overrides=["model.kind=neumf"])
    assert load_config(overrides=["task=ranking", "model.kind=neumf", "model.hidden=[16, 8]"]).model.hidden == (16, 8)


def test_personal_weights_stay_on_the_client(loo, double_precision) -> None:  # type: ignore[no-untyped-def]
    ids = np.arange(1, 944, 13)
    spec = RankingTraining(LocalTraining(2, 16, OptimizerSettings("adam", lr=0.01), 3, l2=0.01), "bpr", 2)
    kept = {}
    for execution in ("cohort", "sequential"):
        task = RankingTask(loo, ids, MFShape(8, 0.1), spec, execution, kind="neumf", hidden=(8, 4),  # type: ignore[arg-type]
                           personal=("mlp_h", "gmf_h"))  # fmt: skip
        model = task.initial_model()
        update = task.train(ids, model, 1)
        assert not {"mlp_h", "gmf_h"} & (set(model.params) | set(update.dense)), "personal weights never travel"
        kept[execution] = task._personal_state()
    for name in ("mlp_h", "gmf_h"):
        assert kept["cohort"][name].shape[0] == len(ids)
        assert torch.allclose(kept["cohort"][name], kept["sequential"][name], atol=1e-10)
        assert not torch.allclose(kept["cohort"][name][0], kept["cohort"][name][1]), "each client has its own"


def test_personal_weights_are_configured_through_the_run_config(loo) -> None:  # type: ignore[no-untyped-def]
    from fedrec.config import load_config
    from fedrec.experiment.build import build_task

    config = load_config(REPO / "examples" / "ml100k_ranking.yaml", ["model.kind=neumf", "ranking.personal=[mlp_h]"])
    task = build_task(config, loo, np.arange(1, 11))
    assert task.personal_names == ("mlp_h",) and "mlp_h" not in task.initial_model().params  # type: ignore[union-attr]


def test_users_left_without_training_are_not_evaluated() -> None:
    """Last.fm-2K: 8 users have one interaction; leave-one-out holds it out and leaves them nothing to train on."""
    data = leave_one_out(load("lastfm-2k"), seed=0)
    untrained = np.flatnonzero(np.bincount(data.train.users, minlength=data.train.num_users) == 0) + 1
    assert len(untrained) == 8 == data.train.catalogue.single_interaction_users
    ids = np.union1d(untrained, np.arange(1, 201))
    spec = RankingTraining(LocalTraining(1, 32, OptimizerSettings("adam", lr=0.05), 0), "bpr", 1)
    task = RankingTask(data, ids, MFShape(8, 0.1), spec, "cohort")
    sums = task.evaluate(ids, task.initial_model()).sums
    skipped = np.isin(ids, untrained)
    assert float(sums["count"].sum()) == len(ids) - 8 and bool(sums["count"][~skipped].all())
    assert not sums["count"][skipped].any() and not sums["hr@10"][skipped].any()
