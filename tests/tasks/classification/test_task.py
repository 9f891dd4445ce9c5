"""The classification task: cohort (vmap) and sequential paths agree; a short run learns."""

import numpy as np
import pytest
import torch

from fedrec.algorithms.fedavg import FedAvg
from fedrec.config import load_config
from fedrec.data.labelled import Labelled, load_adult, load_fashion_mnist
from fedrec.data.splitters import dirichlet_split
from fedrec.engine.optim import OptimizerSettings
from fedrec.engine.types import LocalTraining
from fedrec.errors import ConfigError
from fedrec.models.classifiers import make_classifier
from fedrec.tasks.classification.task import ClassificationTask


def _subset(data: Labelled, n: int) -> Labelled:
    return Labelled(data.features[:n].astype(np.float64), data.labels[:n], data.classes)


@pytest.mark.parametrize(
    ("dataset", "kind", "rows"), [("adult", "logreg", 4000), ("adult", "mlp", 4000), ("fmnist", "cnn", 1200)]
)
def test_cohort_round_equals_sequential_round(dataset: str, kind: str, rows: int, double_precision) -> None:  # type: ignore[no-untyped-def]
    data = load_adult() if dataset == "adult" else load_fashion_mnist()
    train, test = _subset(data.train, rows), _subset(data.test, 500)
    train_parts, test_parts = dirichlet_split(train.labels, 6, 0.5, 0), dirichlet_split(test.labels, 6, 0.5, 1)
    ids = np.arange(1, 7)
    local = LocalTraining(2, 32, OptimizerSettings("adam", lr=0.01, weight_decay=1e-4), seed=0)
    results = {}
    for execution in ("cohort", "sequential"):
        module = make_classifier(kind, train.features.shape[1:], len(train.classes), 16)
        task = ClassificationTask(train, test, train_parts, test_parts, ids, module, local, execution)  # type: ignore[arg-type]
        model = task.initial_model()
        results[execution] = (FedAvg().aggregate(model, [task.train(ids, model, 1)]), model)
    (a, start), (b, _) = results["cohort"], results["sequential"]
    for name in a.params:
        assert torch.allclose(a.params[name], b.params[name], atol=1e-10), name
        assert not torch.equal(a.params[name], start.params[name]), f"{name} did not train"


def test_adult_natural_split_learns_beyond_the_majority_class(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from fedrec.experiment.runner import execute

    overrides = ["rounds=4", "federation.eval_every=4"]
    config = load_config(
        __import__("pathlib").Path(__file__).resolve().parents[3] / "examples" / "adult_natural.yaml", overrides
    )
    outcome = execute(config, tmp_path / "run", quiet=True)
    majority = 12_435 / 16_281
    assert outcome.summary["task"] == "classification" and outcome.summary["num_clients"] == 9
    assert outcome.summary["metrics"]["test_accuracy"] > majority + 0.05


def test_classification_config_errors() -> None:
    with pytest.raises(ConfigError, match="does not fit data.name"):
        load_config(overrides=["task=classification"])
    with pytest.raises(ConfigError, match="natural split needs an attribute"):
        load_config(overrides=["task=classification", "data.name=fashion-mnist", "split.kind=natural"])


def test_federated_gcn_on_cora_beats_the_majority_class(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from pathlib import Path

    from fedrec.experiment.runner import execute

    config = load_config(Path(__file__).resolve().parents[3] / "examples" / "cora_gcn_louvain.yaml", ["rounds=20"])
    summary = execute(config, tmp_path / "run", quiet=True).summary
    assert summary["task"] == "node_classification" and summary["num_clients"] == 5
    assert summary["metrics"]["test_accuracy"] > 0.319 + 0.3  # the largest class holds 31.9% of the test nodes
