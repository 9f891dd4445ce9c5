"""Metric sums no honest evaluation can produce are refused per client; honest ones always pass."""

from __future__ import annotations

import numpy as np
import torch

from fedrec.engine.accuracy import AccuracyMetrics, label_counts
from fedrec.payloads import MetricSums
from fedrec.tasks.ranking.task import RankingMetrics
from fedrec.tasks.rating.task import RatingMetrics

IDS = np.array([1, 2, 3])


def _f(*values: float) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64)


def test_rating_sums_are_bounded_by_the_scale_and_the_data() -> None:
    metrics = RatingMetrics(span=4.0, most=100)
    honest = {"sse": _f(16.0, 0.0, 3.0), "sae": _f(4.0, 0.0, 2.0), "count": _f(1, 0, 2)}
    assert metrics.implausible(MetricSums(IDS, honest))[0] is None
    assert not metrics.implausible(MetricSums(IDS, honest))[1].any()
    lies = {**honest, "sse": _f(16.5, 0.0, 3.0), "count": _f(1, 0, 101)}
    assert metrics.implausible(MetricSums(IDS, lies))[1].tolist() == [True, False, True]
    assert "lack" in (metrics.implausible(MetricSums(IDS, {"sse": honest["sse"]}))[0] or "")


def test_ranking_sums_are_per_user_means_in_zero_one() -> None:
    metrics = RankingMetrics()
    honest = {"hr@10": _f(1, 0, 1), "ndcg@10": _f(0.5, 0, 1), "count": _f(1, 1, 1)}
    assert not metrics.implausible(MetricSums(IDS, honest))[1].any()
    lies = {**honest, "hr@10": _f(1, 0, 2), "count": _f(1, 2, 1)}
    assert metrics.implausible(MetricSums(IDS, lies))[1].tolist() == [False, True, True]
    cold = {**honest, "cold_hr@10": _f(1, 0, 0), "cold_count": _f(0, 1, 0)}
    assert metrics.implausible(MetricSums(IDS, cold))[1].tolist() == [True, False, False]


def test_accuracy_tallies_must_add_up() -> None:
    rng = np.random.default_rng(0)
    owner = torch.from_numpy(rng.integers(0, 3, 60))
    predicted, truth = torch.from_numpy(rng.integers(0, 4, 60)), torch.from_numpy(rng.integers(0, 4, 60))
    honest = label_counts(predicted, truth, owner, 3, 4, "test")
    metrics = AccuracyMetrics()
    assert metrics.implausible(MetricSums(IDS, honest))[0] is None
    assert not metrics.implausible(MetricSums(IDS, honest))[1].any()
    inflated = {**honest, "test_correct": honest["test_correct"] + _f(0, 100, 0)}
    assert metrics.implausible(MetricSums(IDS, inflated))[1].tolist() == [False, True, False]
    skewed = {**honest, "test_predicted": honest["test_predicted"] * 2}
    assert metrics.implausible(MetricSums(IDS, skewed))[1].all()
    assert "lack" in (metrics.implausible(MetricSums(IDS, {"val_count": _f(1, 1, 1)}))[0] or "")
