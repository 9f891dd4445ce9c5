"""Accuracy and macro-F1 from counts each client computes on its own test examples.

A client reports, per class, its true positives, predictions and labels; summed over clients these give
the F1 of every class exactly as if the test examples were pooled, so macro-F1 needs no raw prediction to
leave a client.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from fedrec.engine.plausible import as_mask, exceeds, missing, not_a_count
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

    KINDS = ("correct", "count", "hits", "predicted", "actual")

    def combine(self, sums: list[MetricSums]) -> dict[str, float]:
        """The run's accuracy (and its other figures) from every client's sums: totals over clients, so each example
        counts once."""
        metrics: dict[str, float] = {}
        for split in ("test", "val", "personal"):
            if not sums or not all(f"{split}_{k}" in s.sums for s in sums for k in self.KINDS):
                continue
            total = {k: torch.stack([s.sums[f"{split}_{k}"].sum(0) for s in sums]).sum(0) for k in self.KINDS}
            metrics[f"{split}_accuracy"] = float(total["correct"]) / max(float(total["count"]), 1.0)
            metrics[f"{split}_macro_f1"] = macro_f1(total["hits"], total["predicted"], total["actual"])
        return metrics

    def implausible(self, sums: MetricSums) -> tuple[str | None, np.ndarray]:
        """Sums no evaluation makes: per split, correct answers beyond the count, class tallies that do not add
        up to the count, hits beyond a class's predictions or labels."""
        n = len(sums.client_ids)
        splits = sorted({k.split("_", 1)[0] for k in sums.sums})
        if "test" not in splits:
            return "metric sums lack test_count", np.zeros(n, dtype=bool)
        bad = torch.zeros(n, dtype=torch.bool)
        for split in splits:
            names = {f"{split}_{k}" for k in self.KINDS}
            problem = missing(sums, {f"{split}_correct", f"{split}_count"})
            tallies = [sums.sums.get(f"{split}_{k}") for k in ("hits", "predicted", "actual")]
            if problem is None and not all(t is not None and t.dim() == 2 and t.shape[0] == n for t in tallies):
                problem = f"{split} class tallies must be one row per client"
            if problem is not None or set(sums.sums) & names != names:
                return problem or f"metric sums lack some of {sorted(names)}", np.zeros(n, dtype=bool)
            count, correct = sums.sums[f"{split}_count"], sums.sums[f"{split}_correct"]
            hits, predicted, actual = (t.double() for t in tallies if t is not None)
            bad |= not_a_count(count) | exceeds(correct, count) | exceeds(hits, count)
            bad |= ((hits > predicted) | (hits > actual)).any(1)
            bad |= (predicted.sum(1) - count).abs() > 1e-6 * (1 + count)
            bad |= (actual.sum(1) - count).abs() > 1e-6 * (1 + count)
            bad |= (hits.sum(1) - correct).abs() > 1e-6 * (1 + count)
        return None, as_mask(bad)


def macro_f1(hits: Tensor, predicted: Tensor, actual: Tensor) -> float:
    """Mean F1 over the classes that occur among the labels or the predictions."""
    present = (predicted + actual) > 0
    f1 = 2 * hits[present] / (predicted[present] + actual[present])
    return float(f1.mean()) if bool(present.any()) else 0.0
