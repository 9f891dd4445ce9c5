"""Serving ranks by the model's raw score and shows the clipped rating; it refuses what it cannot serve."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from fedrec.config import load_config
from fedrec.errors import FedrecError
from fedrec.experiment.runner import execute
from fedrec.serving.device import top_unseen
from fedrec.serving.recommend import Recommender, read_interactions
from tests.serving.checkpoints import inflate_item_biases, raw_top_k, trained_users

SAMPLED = 10  # clients trained in the one round of the run below


@pytest.fixture(scope="module")
def sampled_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One round in which 10 of 943 users train: the others keep their initial embedding."""
    out = tmp_path_factory.mktemp("serving") / "run"
    execute(load_config(overrides=["rounds=1", f"federation.clients_per_round={SAMPLED}"]), out, quiet=True)
    return out


@pytest.fixture(scope="module")
def inflated_run(sampled_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same run with every item's bias raised by 2: most scores leave the 1-5 scale, where clipping would
    tie them at 5.00."""
    return inflate_item_biases(sampled_run, tmp_path_factory.mktemp("serving") / "inflated", 2.0)


def test_top_unseen_ranks_raw_scores_and_breaks_ties_by_index() -> None:
    scores = torch.tensor([5.2, 7.0, 6.1, 6.1, 1.0, 9.0])
    assert top_unseen(scores, torch.tensor([5]), 4).tolist() == [1, 2, 3, 0]
    assert top_unseen(scores, torch.tensor([5]), 2).tolist() == [1, 2]
    assert top_unseen(scores, torch.tensor([], dtype=torch.int64), 10).tolist() == [5, 1, 2, 3, 0, 4]
    scores[1] = float("nan")
    assert top_unseen(scores, torch.tensor([5]), 5).tolist() == [2, 3, 0, 4, 1], "NaN ranks last"


def test_a_diverged_model_is_refused(sampled_run: Path, tmp_path: Path) -> None:
    broken = inflate_item_biases(sampled_run, tmp_path / "diverged", float("nan"))
    user = trained_users(sampled_run)[0]
    with pytest.raises(FedrecError, match="scores 1682 items as NaN.*lower train.lr"):
        Recommender.load(broken).recommend(user, 3)


def test_recommendations_are_the_top_k_of_raw_scores(inflated_run: Path, ml100k_split) -> None:  # type: ignore[no-untyped-def]
    recommender = Recommender.load(inflated_run)
    user = trained_users(inflated_run)[0]
    ten = recommender.recommend(user, 10)
    assert [r.item_id for r in ten] == raw_top_k(inflated_run, ml100k_split, user, 10)
    assert min(r.score for r in ten) > 5.0, "the case clipping breaks: every top score is above the scale"
    assert all(r.predicted_rating == 5.0 for r in ten)
    five = recommender.recommend(user, 5)
    assert [r.item_id for r in five] == [r.item_id for r in ten[:5]]


def test_a_user_who_never_trained_is_refused(sampled_run: Path) -> None:
    recommender = Recommender.load(sampled_run)
    trained = trained_users(sampled_run)
    assert len(trained) == SAMPLED
    for user in trained:
        assert len(recommender.recommend(user, 3)) == 3
    untrained = next(u for u in range(1, 944) if u not in trained)
    with pytest.raises(FedrecError, match=f"user {untrained} took part in no training round.*--new-user-ratings"):
        recommender.recommend(untrained, 3)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("50 nan\n", "me.txt:1: rating 'nan' is not a number"),
        ("50 inf\n", "me.txt:1: rating 'inf' is not a number"),
        ("50 5\n172 4\n50 3\n", "me.txt:3: item 50 is listed twice (also line 1)"),
        ("50 5 extra\n", "me.txt:1: expected 'item_id rating'"),
        ("fifty 5\n", "me.txt:1: expected 'item_id rating'"),
    ],
)
def test_a_new_users_file_is_checked_line_by_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "me.txt"
    path.write_text(text)
    with pytest.raises(FedrecError, match=re.escape(message)):
        read_interactions(path)


def test_a_new_users_file_gives_ids_and_ratings(tmp_path: Path) -> None:
    path = tmp_path / "me.txt"
    path.write_text("# item rating\n50 5\n172,4.5\n\n181\n")
    assert read_interactions(path) == [(50, 5.0), (172, 4.5), (181, None)]


@pytest.mark.parametrize(
    ("interactions", "message"),
    [
        ([(50, 50.0)], "item 50: rating 50 is outside ml-100k's scale 1-5"),
        ([(50, -20.0)], "item 50: rating -20 is outside ml-100k's scale 1-5"),
        ([(50, float("nan"))], "item 50: rating nan is outside"),
        ([(50, 5.0), (172, None)], "item 172 has no rating"),
        ([(50, 5.0), (50, 4.0)], r"items \[50\] are listed twice"),
        ([(99999, 5.0)], r"item ids \[99999\] are not in ml-100k"),
        ([], "lists no items"),
    ],
)
def test_a_rating_run_refuses_ratings_it_cannot_use(sampled_run: Path, interactions, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(FedrecError, match=message):
        Recommender.load(sampled_run).recommend_new_user(interactions, 5)


def test_a_new_users_list_is_ranked_by_raw_score(inflated_run: Path) -> None:
    top = Recommender.load(inflated_run).recommend_new_user([(50, 5.0), (172, 5.0), (181, 4.0)], 10)
    assert [r.score for r in top] == sorted((r.score for r in top), reverse=True)
    assert all(r.predicted_rating == min(max(r.score, 1.0), 5.0) for r in top)
    assert not {r.item_id for r in top} & {50, 172, 181}
