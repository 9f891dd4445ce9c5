"""Classifiers for general data: logistic regression, a two-layer MLP, a small CNN (no batch norm, so a
cohort of copies can run under ``torch.func.vmap``)."""

from __future__ import annotations

from math import prod

from torch import nn


def make_classifier(kind: str, input_shape: tuple[int, ...], classes: int, hidden: int = 128) -> nn.Module:
    """A classifier of ``input_shape`` examples into ``classes``: ``logreg``, ``mlp`` (``hidden`` units) or ``cnn``
    (images ``[1, 28, 28]``). Raises ``ValueError`` for another kind."""
    width = prod(input_shape)
    if kind == "logreg":
        return nn.Sequential(nn.Flatten(), nn.Linear(width, classes))
    if kind == "mlp":
        return nn.Sequential(nn.Flatten(), nn.Linear(width, hidden), nn.ReLU(), nn.Linear(hidden, classes))
    if kind == "cnn":
        channels, height, _ = input_shape
        side = ((height - 4) // 2 - 4) // 2
        return nn.Sequential(
            nn.Conv2d(channels, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 5), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(32 * side * side, classes),
        )  # fmt: skip
    raise ValueError(f"unknown classifier {kind!r}; choose logreg, mlp or cnn")
