"""Accuracy and macro-F1 from per-client counts, against a hand computation."""

import numpy as np
import pytest
import torch

from fedrec.engine.accuracy import AccuracyMetrics, label_counts, macro_f1
from fedrec.payloads import MetricSums


def test_macro_f1_by_hand() -> None:
    # class 0: 1 hit of 2 predicted, 1 actual -> 2/3; class 1: 1 of 1, 3 actual -> 1/2; class 2: 0 of 1, 0 -> 0
    hits, predicted, actual = torch.tensor([1.0, 1, 0]), torch.tensor([2.0, 1, 1]), torch.tensor([1.0, 3, 0])
    assert macro_f1(hits, predicted, actual) == pytest.approx((2 / 3 + 1 / 2 + 0) / 3)
    # a class nobody predicted nor holds does not count
    assert macro_f1(torch.tensor([1.0, 0]), torch.tensor([1.0, 0]), torch.tensor([1.0, 0])) == 1.0


def test_counts_summed_over_clients_equal_the_pooled_figures() -> None:
    predicted, truth = torch.tensor([0, 0, 1, 2]), torch.tensor([0, 1, 1, 1])
    pooled = AccuracyMetrics().combine(
        [MetricSums(np.array([1]), label_counts(predicted, truth, torch.zeros(4, dtype=torch.int64), 1, 3, "test"))]
    )
    owner = torch.tensor([0, 0, 1, 1])
    per_client = label_counts(predicted, truth, owner, 2, 3, "test")
    assert per_client["test_correct"].tolist() == [1.0, 1.0] and per_client["test_hits"].shape == (2, 3)
    halves = [MetricSums(np.array([c + 1]), {k: v[c : c + 1] for k, v in per_client.items()}) for c in range(2)]
    split = AccuracyMetrics().combine(halves)
    assert split == pytest.approx(pooled)
    assert split["test_accuracy"] == 0.5 and split["test_macro_f1"] == pytest.approx((2 / 3 + 1 / 2) / 3)
