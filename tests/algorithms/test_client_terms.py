"""FedProx and SCAFFOLD: their terms by hand, and the same rounds on the cohort and sequential paths."""

import numpy as np
import pytest
import torch

from fedrec.algorithms.fedavg import FedAvg
from fedrec.algorithms.fedprox import FedProx
from fedrec.algorithms.scaffold import CONTROL, ScaffoldClient, ScaffoldServer, with_controls
from fedrec.data.labelled import Labelled, load_adult
from fedrec.data.splitters import dirichlet_split
from fedrec.engine.objective import LocalObjective
from fedrec.engine.optim import OptimizerSettings
from fedrec.engine.types import LocalTraining
from fedrec.models.classifiers import make_classifier
from fedrec.payloads import ClientUpdates, GlobalModel
from fedrec.tasks.classification.task import ClassificationTask


def test_fedprox_pulls_each_client_towards_the_model_it_received() -> None:
    model = GlobalModel({"w": torch.tensor([1.0, -1.0])})
    w = torch.tensor([[2.0, -1.0], [0.0, 1.0]], requires_grad=True)  # two clients, stacked
    penalty = FedProx(0.5).penalty(np.array([1, 2]), {"w": w}, model)
    assert float(penalty.detach()) == pytest.approx(0.25 * (1 + 0 + 1 + 4))
    (grad,) = torch.autograd.grad(penalty, [w])
    assert torch.allclose(grad, torch.tensor([[0.5, 0.0], [-0.5, 1.0]]))  # mu (w_c - w_global)


def test_scaffold_correction_control_update_and_server_step_by_hand() -> None:
    model = with_controls(GlobalModel({"w": torch.tensor([1.0])}))
    model = model.replace({**model.params, CONTROL + "w": torch.tensor([0.3])})
    client = ScaffoldClient(np.array([4, 7]), lr=0.1)
    client.controls["w"] = torch.tensor([[0.1], [-0.2]])
    w = torch.tensor([[5.0], [5.0]], requires_grad=True)
    (grad,) = torch.autograd.grad(client.penalty(np.array([7, 4]), {"w": w}, model), [w])
    assert torch.allclose(grad, torch.tensor([[0.3 + 0.2], [0.3 - 0.1]]))  # c - c_i, rows in the given order
    # client 4: x = 1, y = 0.4 after K = 3 steps of lr 0.1: c+ = 0.1 - 0.3 + 0.6 / 0.3 = 1.8
    start, end = {"w": torch.tensor([[1.0]])}, {"w": torch.tensor([[0.4]])}
    change = client.uploads(np.array([4]), model, start, end, np.array([3]))[CONTROL + "w"]
    assert torch.allclose(change, torch.tensor([[1.8 - 0.1]]))
    assert torch.allclose(client.controls["w"], torch.tensor([[1.8], [-0.2]]))  # client 7 untouched
    # server, N = 10 clients in all, two of them report: c += (1.7 + 0.5) / 10; w moves by the mean delta
    updates = ClientUpdates(
        np.array([4, 7]),
        torch.tensor([1.0, 1.0]),
        {"w": torch.tensor([[-0.6], [0.2]]), CONTROL + "w": torch.tensor([[1.7], [0.5]])},
    )
    new = ScaffoldServer(FedAvg(), num_clients=10).aggregate(model, [updates])
    assert torch.allclose(new.params["w"], torch.tensor([1.0 - 0.2]))
    assert torch.allclose(new.params[CONTROL + "w"], torch.tensor([0.3 + 0.22]))


def _adult(n: int) -> Labelled:
    data = load_adult().train
    return Labelled(data.features[:n].astype(np.float64), data.labels[:n], data.classes)


@pytest.mark.parametrize("algorithm", ["fedprox", "scaffold"])
def test_two_rounds_agree_on_the_cohort_and_sequential_paths(algorithm: str, double_precision) -> None:  # type: ignore[no-untyped-def]
    train = _adult(3000)
    parts, ids = dirichlet_split(train.labels, 5, 0.3, 0), np.arange(1, 6)
    local = LocalTraining(2, 32, OptimizerSettings("sgd", lr=0.05, weight_decay=1e-4), seed=0)
    results = {}
    for execution in ("cohort", "sequential"):
        module = make_classifier("mlp", train.features.shape[1:], len(train.classes), 8)
        objective: LocalObjective = FedProx(0.1) if algorithm == "fedprox" else ScaffoldClient(ids, local.optimizer.lr)
        task = ClassificationTask(train, train, parts, parts, ids, module, local, execution, objective)  # type: ignore[arg-type]
        model = task.initial_model()
        server = ScaffoldServer(FedAvg(), len(ids)) if algorithm == "scaffold" else FedAvg()
        model = with_controls(model) if algorithm == "scaffold" else model
        for round_index in (1, 2):
            model = server.aggregate(model, [task.train(ids[round_index - 1 :], model, round_index)])
        results[execution] = model
    a, b = results["cohort"], results["sequential"]
    assert set(a.params) == set(b.params)
    for name in a.params:
        assert torch.allclose(a.params[name], b.params[name], atol=1e-10), name
        assert a.params[name].abs().sum() > 0, f"{name} stayed zero"
