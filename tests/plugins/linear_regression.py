"""An extension written outside the package: federated linear regression on synthetic data, a toy task.

Client c holds ``examples`` points ``x ~ N(0, I_features)`` with ``y = x . w_true + b_true + noise`` (its own
seeded draw; a client's inputs are shifted by its own offset, so the clients are not identically distributed).
The global model is ``w`` (``[features]``) and ``b`` (``[1]``); each client runs ``train.epochs`` of full-batch
gradient descent on its mean squared error with ``train.lr`` and uploads the change. Metrics: ``test_mse`` on
each client's own held-out points. Registered as ``task: linear_regression`` with ``data.name: synthetic``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, PositiveInt
from torch import Tensor

from fedrec.config import RunConfig
from fedrec.experiment.task_spec import TaskSpec
from fedrec.payloads import ClientUpdates, GlobalModel, MetricSums
from fedrec.registry import TASKS


class RegressionOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    clients: PositiveInt = 20
    examples: PositiveInt = 50
    features: PositiveInt = 5
    noise: float = Field(0.1, ge=0.0)


class SyntheticData:
    """Every client's train and test points, drawn from the run's seed."""

    def __init__(self, options: RegressionOptions, seed: int) -> None:
        rng = np.random.default_rng([seed, 0x11AE])
        self.true_w = torch.from_numpy(rng.normal(size=options.features))
        self.true_b = float(rng.normal())
        n, d = options.clients, options.features
        shift = rng.normal(size=(n, 1, d))
        self.x = torch.from_numpy(rng.normal(size=(n, 2 * options.examples, d)) + shift)  # [clients, 2e, d]
        noise = options.noise * torch.from_numpy(rng.normal(size=self.x.shape[:2]))
        self.y = self.x @ self.true_w + self.true_b + noise  # [clients, 2e]
        self.examples = options.examples


class LinearRegressionTask:
    def __init__(self, data: SyntheticData, client_ids: np.ndarray, epochs: int, lr: float) -> None:
        self.data, self.client_ids, self.epochs, self.lr = data, np.sort(client_ids), epochs, lr

    def initial_model(self) -> GlobalModel:
        features = len(self.data.true_w)
        return GlobalModel({"w": torch.zeros(features, dtype=torch.float64), "b": torch.zeros(1, dtype=torch.float64)})

    def num_examples(self, client_ids: np.ndarray) -> np.ndarray:
        return np.full(len(client_ids), self.data.examples, dtype=np.int64)

    def _points(self, client_ids: np.ndarray, test: bool) -> tuple[Tensor, Tensor]:
        e = self.data.examples
        part = slice(e, 2 * e) if test else slice(0, e)
        rows = torch.from_numpy(client_ids - 1)
        return self.data.x[rows, part], self.data.y[rows, part]

    def train(self, client_ids: np.ndarray, model: GlobalModel, round_index: int) -> ClientUpdates:
        x, y = self._points(client_ids, test=False)  # [n, e, d], [n, e]: every client's GD in one batch
        w = model.params["w"].expand(len(client_ids), -1).clone()
        b = model.params["b"].expand(len(client_ids), -1).clone()
        for _ in range(self.epochs):
            err = (x @ w.unsqueeze(2)).squeeze(2) + b - y  # [n, e]
            w -= self.lr * 2 * (err.unsqueeze(2) * x).mean(1)
            b -= self.lr * 2 * err.mean(1, keepdim=True)
        counts = torch.full((len(client_ids),), float(self.data.examples))
        return ClientUpdates(client_ids, counts, {"w": w - model.params["w"], "b": b - model.params["b"]})

    def evaluate(self, client_ids: np.ndarray, model: GlobalModel) -> MetricSums:
        x, y = self._points(client_ids, test=True)
        err = x @ model.params["w"] + model.params["b"] - y
        count = torch.full((len(client_ids),), float(x.shape[1]), dtype=torch.float64)
        return MetricSums(client_ids, {"sse": (err**2).sum(1), "count": count})

    def private_state(self) -> dict[str, Tensor]:
        return {"client_ids": torch.from_numpy(self.client_ids)}

    def load_private_state(self, state: dict[str, Tensor]) -> None:
        return None


class MSE:
    def combine(self, sums: list[MetricSums]) -> dict[str, float]:
        return {"test_mse": sum(s.total("sse") for s in sums) / sum(s.total("count") for s in sums)}

    def implausible(self, sums: MetricSums) -> tuple[str | None, np.ndarray]:
        if set(sums.sums) != {"sse", "count"}:
            return "metric sums must be sse and count", np.zeros(len(sums.client_ids), dtype=bool)
        bad = (sums.sums["sse"] < 0) | (sums.sums["count"] < 0)
        return None, bad.numpy()


class LinearRegressionSpec(TaskSpec):
    datasets = ("synthetic",)
    modes: ClassVar[frozenset[str]] = frozenset({"federated"})
    options = RegressionOptions

    def load(self, config: RunConfig) -> SyntheticData:
        return SyntheticData(self.read_options(config), config.seed)

    def num_clients(self, data: SyntheticData) -> int:
        return int(data.x.shape[0])

    def build(self, config: RunConfig, data: SyntheticData, client_ids: np.ndarray) -> LinearRegressionTask:
        return LinearRegressionTask(data, client_ids, config.train.epochs, config.train.lr)

    def metrics(self, config: RunConfig, data: Any) -> MSE:
        return MSE()


TASKS.register("linear_regression", LinearRegressionSpec())
