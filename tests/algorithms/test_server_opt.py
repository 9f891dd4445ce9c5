"""FedOpt's server optimizers against values computed by hand (Reddi et al. 2021, Algorithm 2)."""

import math

import numpy as np
import pytest
import torch

from fedrec.algorithms.fedavg import FedAvg
from fedrec.algorithms.server_opt import ServerOptimizer, ServerOptimizerSettings
from fedrec.payloads import ClientUpdates, GlobalModel, RowDeltas


def _two_rounds(kind: str) -> list[float]:
    opt = ServerOptimizer(ServerOptimizerSettings(kind, lr=0.1, beta1=0.5, beta2=0.75, tau=0.01))
    x = torch.tensor([1.0], dtype=torch.float64)
    out = []
    for delta in (2.0, -1.0):
        x = opt.step("w", x, torch.tensor([delta], dtype=torch.float64))
        out.append(float(x))
    return out


def test_each_rule_by_hand() -> None:
    assert _two_rounds("sgd") == pytest.approx([1.2, 1.1])
    # momentum: m1 = 2, x = 1.2; m2 = 0.5*2 - 1 = 0, x = 1.2
    assert _two_rounds("momentum") == pytest.approx([1.2, 1.2])
    # m1 = 0.5*2 = 1; m2 = 0.5*1 + 0.5*(-1) = 0: the second step is zero for every adaptive rule
    # adagrad: v1 = 4 -> x = 1 + 0.1*1/(2 + 0.01)
    first = 1 + 0.1 / (2 + 0.01)
    assert _two_rounds("adagrad") == pytest.approx([first, first])
    # adam: v1 = 0.25*4 = 1 -> x = 1 + 0.1*1/(1 + 0.01)
    assert _two_rounds("adam")[0] == pytest.approx(1 + 0.1 / 1.01)
    # yogi: v1 = 0 - 0.25*4*sign(0 - 4) = 1, the same first step as adam here; the second differs in v only
    assert _two_rounds("yogi")[0] == pytest.approx(1 + 0.1 / 1.01)


def test_yogi_grows_its_second_moment_more_slowly_than_adam_by_hand() -> None:
    settings = {"lr": 0.1, "beta1": 0.0, "beta2": 0.75, "tau": 0.0}
    second = {}
    for kind in ("adam", "yogi"):
        opt = ServerOptimizer(ServerOptimizerSettings(kind, **settings))  # type: ignore[arg-type]
        x = torch.tensor([0.0], dtype=torch.float64)
        for delta in (2.0, 0.5):
            x = opt.step("w", x, torch.tensor([delta], dtype=torch.float64))
        second[kind] = (float(opt.second["w"]), float(x))
    # v1 = 1 for both; adam v2 = 0.75*1 + 0.25*0.25 = 0.8125; yogi v2 = 1 - 0.25*0.25*sign(1 - 0.25) = 0.9375
    assert second["adam"] == pytest.approx((0.8125, 0.2 + 0.05 / math.sqrt(0.8125)))
    assert second["yogi"] == pytest.approx((0.9375, 0.2 + 0.05 / math.sqrt(0.9375)))


def test_rows_nobody_trained_neither_move_nor_age_their_state() -> None:
    opt = ServerOptimizer(ServerOptimizerSettings("momentum", lr=1.0, beta1=0.5))
    table = torch.zeros(3, 1)
    first = opt.step("t", table, torch.tensor([[1.0], [1.0], [0.0]]), torch.tensor([True, True, False]))
    second = opt.step("t", first, torch.tensor([[0.0], [1.0], [0.0]]), torch.tensor([False, True, False]))
    # row 0: momentum 1 once, then untouched (no drift on stale momentum); row 1: 1, then 0.5 + 1
    assert second.flatten().tolist() == [1.0, 2.5, 0.0]


def test_fedavg_with_plain_server_steps_is_unchanged_and_adam_composes() -> None:
    model = GlobalModel({"w": torch.zeros(2), "t": torch.zeros(3, 1)}, frozenset({"t"}))
    rows = RowDeltas(
        torch.tensor([0, 1]), torch.tensor([0, 0]), torch.tensor([1.0, 1.0]), {"t": torch.tensor([[2.0], [4.0]])}
    )
    update = ClientUpdates(np.array([1, 2]), torch.tensor([1.0, 3.0]), {"w": torch.tensor([[4.0, 0], [0, 4.0]])}, rows)
    plain = FedAvg().aggregate(model, [update])
    assert plain.params["w"].tolist() == [1.0, 3.0] and plain.params["t"].flatten().tolist() == [3.0, 0.0, 0.0]
    adam = FedAvg(server_opt=ServerOptimizer(ServerOptimizerSettings("adam", lr=0.1, beta1=0.0, beta2=0.0, tau=0.0)))
    stepped = adam.aggregate(model, [update])
    # beta1 = beta2 = 0: m = delta, v = delta^2 -> each coordinate moves by lr * sign(delta)
    assert stepped.params["w"].tolist() == pytest.approx([0.1, 0.1])
    assert stepped.params["t"].flatten().tolist() == pytest.approx([0.1, 0.0, 0.0])
