"""Personal layers: they train on the client, never travel, and both execution paths agree."""

import numpy as np
import pytest
import torch

from fedrec.algorithms.fedavg import FedAvg
from fedrec.algorithms.fedprox import FedProx
from fedrec.config import load_config
from fedrec.data.labelled import Labelled, load_adult
from fedrec.data.splitters import dirichlet_split
from fedrec.engine.optim import OptimizerSettings
from fedrec.engine.personal import PersonalLayers
from fedrec.engine.types import LocalTraining
from fedrec.errors import ConfigError
from fedrec.models.classifiers import make_classifier
from fedrec.tasks.classification.task import ClassificationTask


def _five_adult_clients() -> tuple[Labelled, list[np.ndarray], np.ndarray, LocalTraining]:
    data = load_adult().train
    train = Labelled(data.features[:3000].astype(np.float64), data.labels[:3000], data.classes)
    parts = dirichlet_split(train.labels, 5, 0.3, 0)
    return train, parts, np.arange(1, 6), LocalTraining(2, 32, OptimizerSettings("sgd", lr=0.05), seed=0)


@pytest.mark.parametrize("mu", [0.0, 0.5])  # with FedProx, its term covers the shared layers only
def test_personal_layers_stay_home_and_both_paths_agree(mu: float, double_precision) -> None:  # type: ignore[no-untyped-def]
    train, parts, ids, local = _five_adult_clients()
    results = {}
    for execution in ("cohort", "sequential"):
        module = make_classifier("mlp", train.features.shape[1:], len(train.classes), 8)
        objective = FedProx(mu) if mu else None
        task = ClassificationTask(train, train, parts, parts, ids, module, local, execution, objective, ("3",))  # type: ignore[arg-type]
        model = task.initial_model()
        assert set(model.params) == {"1.weight", "1.bias"}, "the server never holds the personal head"
        for round_index in (1, 2):
            update = task.train(ids, model, round_index)
            assert set(update.dense) == {"1.weight", "1.bias"}, "the head (layer 3) never travels"
            model = FedAvg().aggregate(model, [update])
        heads = task.personal.store["3.weight"]
        assert not torch.allclose(heads[0], heads[1]), "each client trained its own head"
        results[execution] = (model, heads.clone(), task.evaluate(ids, model).sums["test_correct"])
    (a, heads_a, correct_a), (b, heads_b, correct_b) = results["cohort"], results["sequential"]
    assert torch.allclose(a.params["1.weight"], b.params["1.weight"], atol=1e-10)
    assert torch.allclose(heads_a, heads_b, atol=1e-10)
    assert torch.equal(correct_a, correct_b)


def test_unknown_layer_names_are_a_config_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="no parameter is named 'head'; the model has 1.weight"):
        PersonalLayers(np.array([1]), ["1.weight", "1.bias"], ("head",))
    from pathlib import Path

    from fedrec.experiment.runner import execute

    example = Path(__file__).resolve().parents[2] / "examples" / "adult_natural.yaml"
    with pytest.raises(ConfigError, match="federation.local_layers: no parameter is named 'head'"):
        execute(load_config(example, ["federation.local_layers=[head]", "rounds=1"]), tmp_path / "r", quiet=True)


def test_ditto_trains_a_personal_model_beside_the_global_one(double_precision) -> None:  # type: ignore[no-untyped-def]
    train, parts, ids, local = _five_adult_clients()
    results = {}
    for execution in ("cohort", "sequential"):
        module = make_classifier("mlp", train.features.shape[1:], len(train.classes), 8)
        task = ClassificationTask(train, train, parts, parts, ids, module, local, execution, ditto_lambda=0.1)  # type: ignore[arg-type]
        model = task.initial_model()
        for round_index in (1, 2):
            update = task.train(ids, model, round_index)
            assert set(update.dense) == set(model.params), "the global half is plain FedAvg"
            model = FedAvg().aggregate(model, [update])
        assert task.ditto is not None
        own = task.ditto.store["1.weight"]
        assert not torch.allclose(own[0], model.params["1.weight"]), "the personal model moved on its own"
        sums = task.evaluate(ids, model)
        results[execution] = (model, own.clone(), sums.sums["personal_correct"], sums.sums["test_correct"])
    (a, own_a, pa, ta), (b, own_b, pb, tb) = results["cohort"], results["sequential"]
    assert torch.allclose(a.params["1.weight"], b.params["1.weight"], atol=1e-10)
    assert torch.allclose(own_a, own_b, atol=1e-10)
    assert torch.equal(pa, pb) and torch.equal(ta, tb)
