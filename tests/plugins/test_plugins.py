"""Four extensions written outside the package (this folder), each registered through the public registry
API and run end to end: none of them edits a file under ``src/``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from fedrec.config import load_config
from fedrec.errors import ConfigError
from fedrec.experiment.build import load_task_data
from fedrec.experiment.runner import execute
from fedrec.experiment.simulation import run_simulation
from fedrec.payloads import ClientUpdates, GlobalModel, RowDeltas
from tests.experiment.processes import free_port

HERE = Path(__file__).resolve().parent
TOY = [
    "plugins=[linear_regression]", "task=linear_regression", "data.name=synthetic", "train.optimizer=sgd",
    "train.lr=0.05", "train.epochs=5", "rounds=20",
]  # fmt: skip


def _fedrec(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": f"{HERE}{os.pathsep}{os.environ.get('PYTHONPATH', '')}", "FEDREC_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "fedrec", *args], cwd=cwd, env=env, text=True, capture_output=True)


def _sets(overrides: list[str]) -> list[str]:
    return [arg for o in overrides for arg in ("--set", o)]


def test_a_toy_task_from_outside_the_package_learns_in_a_simulation_and_a_cluster(tmp_path: Path) -> None:
    """``fedrec run`` and ``fedrec cluster`` load the plug-in from ``plugins`` (the client processes too, from
    the config the server sends) and fit the regression to the noise floor (noise 0.1: MSE 0.01)."""
    sim = _fedrec("run", *_sets(TOY), "--out", str(tmp_path / "sim"), cwd=tmp_path)
    assert sim.returncode == 0, sim.stderr
    port = str(free_port())
    cluster = _fedrec(
        "cluster", *_sets(TOY), "--processes", "2", "--port", port, "--out", str(tmp_path / "c"), cwd=tmp_path
    )
    assert cluster.returncode == 0, cluster.stderr + cluster.stdout
    sim_summary = json.loads((tmp_path / "sim" / "summary.json").read_text())
    cluster_summary = json.loads((tmp_path / "c" / "summary.json").read_text())
    assert sim_summary["task"] == "linear_regression" and sim_summary["num_clients"] == 20
    assert 0.008 < sim_summary["metrics"]["test_mse"] < 0.015
    assert cluster_summary["metrics"]["test_mse"] == pytest.approx(sim_summary["metrics"]["test_mse"], rel=1e-9)


def test_a_plug_in_task_refuses_a_bad_option_in_one_line(tmp_path: Path) -> None:
    bad = _fedrec("run", *_sets([*TOY, "task_options.clients=0"]), cwd=tmp_path)
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines() == ["error: task_options.clients: Input should be greater than 0"]
    missing = _fedrec("run", *_sets(["task=linear_regression", "data.name=synthetic"]), cwd=tmp_path)
    assert missing.returncode == 2 and "unknown task 'linear_regression'" in missing.stderr
    assert "listing it under plugins" in missing.stderr and "Traceback" not in missing.stderr


def _reference_trimmed_mean(values: np.ndarray, trim: float) -> np.ndarray:
    """Per coordinate: sort, drop floor(trim * n) at each end, average the rest."""
    ordered = np.sort(values, axis=0)
    cut = int(np.floor(trim * len(values)))
    return ordered[cut : len(values) - cut].mean(0)


def test_the_trimmed_mean_of_each_row_is_that_of_its_own_clients() -> None:
    from trimmed_mean import trimmed_rows

    rng = np.random.default_rng(0)
    index = torch.from_numpy(rng.integers(0, 6, size=200))
    values = torch.from_numpy(rng.normal(size=(200, 3)))
    means, present = trimmed_rows(values, index, 8, 0.2)
    for row in range(8):
        mine = (index == row).numpy()
        assert bool(present[row]) == bool(mine.any())
        if mine.any():
            np.testing.assert_allclose(means[row].numpy(), _reference_trimmed_mean(values.numpy()[mine], 0.2))


def test_the_trimmed_mean_ignores_one_poisoned_client_that_fedavg_follows() -> None:
    from trimmed_mean import TrimmedMean

    from fedrec.algorithms.fedavg import FedAvg
    from fedrec.algorithms.server_opt import ServerOptimizer, ServerOptimizerSettings

    rng = np.random.default_rng(1)
    n = 10
    dense = torch.from_numpy(rng.normal(0, 0.01, size=(n, 4))).float()
    dense[0] = 1e3  # the attacker
    rows = RowDeltas(torch.arange(n), torch.zeros(n, dtype=torch.int64), torch.ones(n), {"table": dense.clone()})
    updates = ClientUpdates(np.arange(1, n + 1), torch.ones(n), {"bias": dense}, rows)
    model = GlobalModel({"bias": torch.zeros(4), "table": torch.zeros(2, 4)}, frozenset({"table"}))
    sgd = ServerOptimizerSettings("sgd", 1.0)
    robust = TrimmedMean(0.1, ServerOptimizer(sgd)).aggregate(model, [updates])
    plain = FedAvg(server_opt=ServerOptimizer(sgd)).aggregate(model, [updates])
    assert robust.params["bias"].abs().max() < 0.05 and robust.params["table"][0].abs().max() < 0.05
    assert plain.params["bias"].min() > 50
    assert torch.equal(robust.params["table"][1], torch.zeros(4))  # a row nobody trained stays put


def test_the_trimmed_mean_trains_the_rating_task_end_to_end() -> None:
    base = ["plugins=[trimmed_mean]", "rounds=5", "federation.aggregator_options.trim=0.1"]
    fedavg = load_config(Path("examples/ml100k_fedmf.yaml"), ["rounds=5"])
    robust = load_config(Path("examples/ml100k_fedmf.yaml"), [*base, "federation.aggregator=trimmed_mean"])
    split = load_task_data(fedavg)
    plain_rmse = run_simulation(fedavg, split).metrics["test_rmse"]
    robust_rmse = run_simulation(robust, split).metrics["test_rmse"]
    assert robust_rmse != plain_rmse and abs(robust_rmse - plain_rmse) < 0.03
    assert robust_rmse < 1.05  # it learns: the initial model's RMSE on ML-100K is above 1.1


def test_a_backend_from_outside_the_package_runs_the_hosts_and_changes_no_number(tmp_path: Path) -> None:
    from counting_backend import CLOSED, DELIVERIES

    overrides = ["plugins=[counting_backend]", "rounds=2", "federation.backend=counting"]
    counted = execute(load_config(Path("examples/ml100k_fedmf.yaml"), overrides), tmp_path / "counted", quiet=True)
    plain = execute(load_config(Path("examples/ml100k_fedmf.yaml"), ["rounds=2"]), tmp_path / "plain", quiet=True)
    assert DELIVERIES[0] == 5  # TRAIN and EVALUATE in each of the 2 rounds, then FINISH, to its one host
    assert CLOSED[0] == 1  # the simulation releases its backend
    assert counted.summary["metrics"] == plain.summary["metrics"]
    assert counted.summary["bytes_up"] == plain.summary["bytes_up"] > 0


def test_a_round_policy_from_outside_the_package_invites_its_groups_in_turn(tmp_path: Path) -> None:
    """Cyclic participation in three groups: each round invites one group (the clients whose id is the round
    modulo 3), so three rounds invite every client once; the model learns as FedAvg's does."""
    overrides = ["plugins=[cyclic_rounds]", "rounds=3", "federation.policy={kind: cyclic, options: {groups: 3}}"]
    run = execute(load_config(Path("examples/ml100k_fedmf.yaml"), overrides), tmp_path / "cyclic", quiet=True)
    groups = [int(np.sum(np.arange(1, 944) % 3 == r % 3)) for r in (1, 2, 3)]  # 314, 314, 315
    assert [line["participants"] for line in run.history] == groups
    assert run.summary["participation"]["invited"] == run.summary["participation"]["aggregated"] == 943
    rmse = [line["test_rmse"] for line in run.history]
    assert rmse[0] > rmse[1] > rmse[2], rmse  # each group's turn moves the model on
    with pytest.raises(ConfigError, match=r"federation.policy: options.groups: Input should be greater than or equal"):
        load_config(overrides=["plugins=[cyclic_rounds]", "federation.policy={kind: cyclic, options: {groups: 0}}"])


def test_a_device_model_from_outside_the_package_sets_the_clock_and_changes_no_number(tmp_path: Path) -> None:
    """Budget phones slow every synchronous round down to their pace; the model is the same as on uniform
    devices (the policy waits for everyone)."""
    fast = ["rounds=2", "devices.kind=uniform", "devices.examples_per_s=20000"]
    tiered = ["plugins=[tiered_devices]", "rounds=2", "devices={kind: tiered, options: {fast: 20000, slow: 200}}"]
    plain = execute(load_config(Path("examples/ml100k_fedmf.yaml"), fast), tmp_path / "uniform", quiet=True)
    tiers = execute(load_config(Path("examples/ml100k_fedmf.yaml"), tiered), tmp_path / "tiered", quiet=True)
    assert tiers.summary["metrics"] == plain.summary["metrics"]
    assert tiers.summary["virtual_time_s"] > 10 * plain.summary["virtual_time_s"] > 0


def test_a_server_optimizer_from_outside_the_package_is_fedavg_at_beta_zero_and_moves_on_with_momentum(
    tmp_path: Path,
) -> None:
    base = ["plugins=[nesterov_server]", "rounds=3"]
    plain = execute(load_config(Path("examples/ml100k_fedmf.yaml"), ["rounds=3"]), tmp_path / "fedavg", quiet=True)
    still = ["federation.server_optimizer={kind: nesterov, options: {lr: 1.0, beta: 0.0}}"]
    moving = ["federation.server_optimizer={kind: nesterov, options: {lr: 1.0, beta: 0.5}}"]
    zero = execute(load_config(Path("examples/ml100k_fedmf.yaml"), [*base, *still]), tmp_path / "b0", quiet=True)
    nesterov = execute(load_config(Path("examples/ml100k_fedmf.yaml"), [*base, *moving]), tmp_path / "b5", quiet=True)
    assert zero.summary["metrics"] == plain.summary["metrics"]
    assert zero.summary["algorithm"] == "fednesterov"
    assert nesterov.summary["metrics"] != plain.summary["metrics"] and nesterov.summary["metrics"]["test_rmse"] < 1.1


@pytest.mark.parametrize("example", ["ml100k_fedmf.yaml", "adult_natural.yaml"])
def test_a_client_term_from_outside_the_package_is_fedprox_without_scales_on_both_training_paths(
    example: str, tmp_path: Path
) -> None:
    """The rating task applies a term through ``add_gradients`` (hand-derived kernels), classification through
    ``penalty`` (autograd): without scales the plug-in gives FedProx's numbers on both; with scales it does not."""
    base = ["rounds=2", "train.epochs=2"]
    prox = execute(load_config(Path("examples") / example, [*base, "federation.algorithm={kind: fedprox, mu: 0.5}"]),
                   tmp_path / "prox", quiet=True)  # fmt: skip
    plugin = ["plugins=[scaled_prox]", "federation.algorithm={kind: scaled_prox, options: {mu: 0.5}}"]
    same = execute(load_config(Path("examples") / example, [*base, *plugin]), tmp_path / "same", quiet=True)
    assert same.summary["metrics"] == prox.summary["metrics"] and same.summary["algorithm"] == "scaled_prox"
    name = "item_emb" if example.startswith("ml100k") else "1.weight"
    scaled = [*plugin[:1], f"federation.algorithm={{kind: scaled_prox, options: {{mu: 0.5, scales: {{{name}: 20}}}}}}"]
    other = execute(load_config(Path("examples") / example, [*base, *scaled]), tmp_path / "scaled", quiet=True)
    assert other.summary["metrics"] != prox.summary["metrics"]


def test_a_plug_in_kind_set_by_its_dotted_key_replaces_the_file_s_section_and_its_options_are_named() -> None:
    example = Path("examples/ml100k_fedmf.yaml")  # its server_optimizer section is {kind: sgd, lr: 1.0}
    switched = load_config(example, ["plugins=[nesterov_server]", "federation.server_optimizer.kind=nesterov"])
    assert switched.federation.server_optimizer.kind == "nesterov"
    stray = ["plugins=[tiered_devices]", "devices.kind=tiered", "devices.examples_per_s=3"]
    with pytest.raises(ConfigError, match=r"^devices.examples_per_s does not apply to a plug-in's devices kind: its "
                       r"settings go under devices.options"):  # fmt: skip
        load_config(overrides=stray)
    typo = ["plugins=[nesterov_server]", "federation.server_optimizer={kind: nesterov, options: {decy: 1}}"]
    with pytest.raises(ConfigError, match="options.decy: Extra inputs are not permitted; server optimizer nesterov "
                       "takes lr, beta"):  # fmt: skip
        load_config(overrides=typo)


def test_an_unregistered_round_policy_names_the_fix() -> None:
    with pytest.raises(ConfigError, match="unknown round policy 'rotating'; choose sync, fedbuff or a registered one"):
        load_config(overrides=["federation.policy=rotating"])


@pytest.fixture(autouse=True)
def _plugins_importable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(HERE))
    monkeypatch.chdir(HERE.parents[1])
