"""Short real runs on ML-100K from the shared mirror: they must learn, and leave a complete run folder."""

import json
from pathlib import Path

import pytest
import torch

from fedrec.config import load_config
from fedrec.experiment.runner import execute
from fedrec.serving.recommend import Recommender

REPO = Path(__file__).resolve().parents[2]


def test_federated_run_learns_and_leaves_a_complete_folder(tmp_path: Path) -> None:
    config = load_config(overrides=["rounds=20", "federation.eval_every=5"])
    outcome = execute(config, tmp_path / "run", quiet=True)
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary == outcome.summary
    assert (summary["dataset"], summary["task"], summary["mode"], summary["algorithm"]) == (
        "ml-100k",
        "rating",
        "federated",
        "fedavg",
    )
    assert (summary["num_clients"], summary["rounds"], summary["seed"]) == (943, 20, 0)
    assert summary["metrics"]["test_rmse"] < 0.95, "20 rounds of federated MF beat the bias-only level"
    assert summary["bytes_up"] > 0 and summary["bytes_down"] > summary["bytes_up"]
    history = [json.loads(line) for line in (tmp_path / "run" / "history.jsonl").read_text().splitlines()]
    assert [h["round"] for h in history] == [5, 10, 15, 20]
    assert history[-1]["test_rmse"] == summary["metrics"]["test_rmse"] < history[0]["test_rmse"]
    assert load_config(tmp_path / "run" / "config.yaml") == config
    server = torch.load(tmp_path / "run" / "checkpoint" / "server.pt", weights_only=True)
    clients = torch.load(tmp_path / "run" / "checkpoint" / "clients.pt", weights_only=True)
    assert server["round"] == 20 and server["item_emb"].shape == (1682, 32)
    assert clients["user_emb"].shape == (943, 32) and clients["client_ids"].tolist() == list(range(1, 944))


def test_centralized_baseline_runs_on_the_same_split(tmp_path: Path) -> None:
    outcome = execute(load_config(overrides=["mode=centralized", "rounds=5"]), tmp_path / "c", quiet=True)
    assert outcome.summary["mode"] == "centralized" and outcome.summary["rounds"] == 5
    assert outcome.summary["metrics"]["test_rmse"] < 0.94
    assert len(outcome.history) == 5


def test_recommendations_exclude_rated_items_and_follow_predictions(tmp_path: Path, ml100k_split) -> None:  # type: ignore[no-untyped-def]
    execute(load_config(overrides=["rounds=3"]), tmp_path / "r", quiet=True)  # every user trains
    recommender = Recommender.load(tmp_path / "r")
    top = recommender.recommend(user_id=1, k=10)
    assert len(top) == 10
    rated = set(ml100k_split.train.items[ml100k_split.train.users == 0].tolist())
    rated |= set(ml100k_split.test.items[ml100k_split.test.users == 0].tolist())
    ids = {r.item_id - 1 for r in top}
    assert not ids & rated
    scores = [r.score for r in top]
    assert scores == sorted(scores, reverse=True)
    assert all(r.predicted_rating == min(max(r.score, 1.0), 5.0) for r in top)
    assert top[0].title == ml100k_split.train.item_titles[top[0].item_id - 1]


def test_whole_simulated_runs_agree_between_cohort_and_sequential_execution(ml100k_split, double_precision) -> None:  # type: ignore[no-untyped-def]
    from fedrec.experiment.simulation import run_simulation

    results = {}
    for execution in ("cohort", "sequential"):
        config = load_config(
            overrides=["rounds=2", "federation.clients_per_round=40", f"federation.execution={execution}"]
        )
        results[execution] = run_simulation(config, ml100k_split)
    cohort, sequential = results["cohort"], results["sequential"]
    for name, value in cohort.model.params.items():
        assert value.dtype == torch.float64
        assert torch.allclose(value, sequential.model.params[name], atol=1e-10), name
    assert cohort.metrics["test_rmse"] == pytest.approx(sequential.metrics["test_rmse"], abs=1e-10)
    assert cohort.traffic.bytes_up == sequential.traffic.bytes_up


def test_cold_start_user_gets_unseen_items_from_a_local_fit(tmp_path: Path) -> None:
    """A user in no training round: their embedding is fitted on the device against the frozen item table."""
    execute(load_config(overrides=["rounds=10"]), tmp_path / "r", quiet=True)
    recommender = Recommender.load(tmp_path / "r")
    liked = [(50, 5.0), (172, 5.0), (181, 5.0), (174, 5.0), (1, 4.0)]  # Star Wars, Empire, Jedi, Raiders, Toy Story
    disliked = [(50, 1.0), (172, 1.0), (181, 1.0), (174, 1.0), (1, 1.0)]
    fan, critic = recommender.recommend_new_user(liked, k=10), recommender.recommend_new_user(disliked, k=10)
    assert len(fan) == 10 and not {r.item_id for r in fan} & {i for i, _ in liked}
    assert fan[0].score > critic[0].score, "what a user says about items moves their predictions"


def test_ranking_run_serves_known_and_new_users(tmp_path: Path) -> None:
    config = load_config(REPO / "examples" / "ml100k_ranking.yaml", ["rounds=3", "federation.eval_every=3"])
    execute(config, tmp_path / "rk", quiet=True)
    recommender = Recommender.load(tmp_path / "rk")
    top = recommender.recommend(user_id=5, k=5)
    assert len(top) == 5 and [r.score for r in top] == sorted((r.score for r in top), reverse=True)
    new = recommender.recommend_new_user([(50, None), (181, None)], k=7)
    assert len(new) == 7 and not {r.item_id for r in new} & {50, 181}
