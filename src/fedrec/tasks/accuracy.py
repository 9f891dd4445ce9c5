"""Accuracy and macro-F1 from counts each client computes on its own test examples.

A client reports, per class, its true positives, predictions and labels; summed over clients these give
the F1 of every class exactly as if the test examples were pooled, so macro-F1 needs no raw prediction to
leave a client.
"""

from __future__ import annotations

import torch
from torch import Tensor

from fedrec.payloads import MetricSums


def label_counts(
    predicted: Tensor, truth: Tensor, owner: Tensor, clients: int, classes: int, split: str
) -> dict[str, Tensor]:
    """Per-client sums for ``split`` ("test" or "val"): owner[i] is the row of example i's client."""
    hit = (predicted == truth).double()
    cells = owner * classes

    def per_class(index: Tensor, weight: Tensor) -> Tensor:
        flat = torch.zeros(clients * classes, dtype=torch.float64).index_add_(0, cells + index, weight)
        return flat.view(clients, classes)

    ones = torch.ones_like(hit)
    return {
        f"{split}_correct": torch.zeros(clients, dtype=torch.float64).index_add_(0, owner, hit),
        f"{split}_count": torch.zeros(clients, dtype=torch.float64).index_add_(0, owner, ones),
        f"{split}_hits": per_class(truth, hit),
        f"{split}_predicted": per_class(predicted, ones),
        f"{split}_actual": per_class(truth, ones),
    }


class AccuracyMetrics:
    """``test_accuracy`` and ``test_macro_f1`` (``val_*`` when clients report a validation split, and
    ``personal_*`` for personal models evaluated on the same test data)."""

    def combine(self, sums: list[MetricSums]) -> dict[str, float]:
        metrics: dict[str, float] = {}
        for split in ("test", "val", "personal"):
            if not sums or f"{split}_count" not in sums[0].sums:
                continue
            total = {
                k: torch.stack([s.sums[f"{split}_{k}"].sum(0) for s in sums]).sum(0)
                for k in ("correct", "count", "hits", "predicted", "actual")
            }
            metrics[f"{split}_accuracy"] = float(total["correct"]) / max(float(total["count"]), 1.0)
            metrics[f"{split}_macro_f1"] = macro_f1(total["hits"], total["predicted"], total["actual"])
        return metrics


def macro_f1(hits: Tensor, predicted: Tensor, actual: Tensor) -> float:
    """Mean F1 over the classes that occur among the labels or the predictions."""
    present = (predicted + actual) > 0
    f1 = 2 * hits[present] / (predicted[present] + actual[present])
    return float(f1.mean()) if bool(present.any()) else 0.0
