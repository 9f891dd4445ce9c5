"""Whole runs whose summary must describe what happened: diverged clients cost only themselves (simulation
and real gRPC processes), a run stopped early reports its final model, and a run that aggregated nothing
says so and exits non-zero."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fedrec.config import load_config
from fedrec.experiment.runner import execute
from tests.cli.test_cli import fedrec
from tests.experiment.processes import finish, free_port, history, start

# plain SGD at a step size this large: client 405 (218 ratings) diverges to NaN in round 1, and 182 others
# move some value by more than a million (refused as implausible: no sane step does that)
DIVERGES = ["rounds=1", "train.optimizer=sgd", "train.lr=4"]
REFUSED = {"total": 183, "by_reason": {"implausible_magnitude": 182, "non_finite": 1}}


def test_diverged_clients_lose_only_their_own_updates_in_simulation(tmp_path: Path) -> None:
    summary = execute(load_config(overrides=DIVERGES), tmp_path / "run", quiet=True).summary
    assert summary["rejected_updates"] == REFUSED
    assert summary["participation"]["aggregated"] == 943 - 183 and summary["aggregated_rounds"] == 1
    assert summary["status"] == "finished" and summary["metrics_round"] == 1


def test_diverged_clients_lose_only_their_own_updates_over_grpc(tmp_path: Path) -> None:
    port, out, log = free_port(), tmp_path / "run", tmp_path / "log.txt"
    sets = [arg for o in DIVERGES for arg in ("--set", o)]
    server = start("server", "--listen", f"127.0.0.1:{port}", "--out", str(out), *sets, log=log)
    clients = [start("client", "--server", f"127.0.0.1:{port}", "--clients", r, log=log) for r in ("1-470", "471-943")]
    assert finish([server, *clients]) == [0, 0, 0], log.read_text()[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["rejected_updates"] == REFUSED and summary["participation"]["aggregated"] == 943 - 183
    assert [h["participants"] for h in history(out)] == [943 - 183]


def test_a_run_stopped_by_its_privacy_budget_reports_its_final_model(tmp_path: Path) -> None:
    config = load_config(Path("examples/ml100k_dp.yaml"), ["rounds=5", "privacy.dp.epsilon_budget=4"])  # 3 rounds fit
    outcome = execute(config, tmp_path / "run", quiet=True)
    summary = outcome.summary
    assert summary["status"] == "stopped" and summary["stopped"].startswith("privacy budget spent")
    assert summary["rounds"] == 3 and summary["planned_rounds"] == 5 and summary["metrics_round"] == 3
    assert [h["round"] for h in outcome.history] == [3]  # not on the schedule, evaluated because it is final
    assert summary["metrics"]["test_rmse"] == pytest.approx(outcome.history[-1]["test_rmse"])


def test_a_run_that_aggregated_nothing_fails_and_says_why(tmp_path: Path) -> None:
    result = fedrec("run", "examples/ml100k_dp.yaml", "--set", "privacy.dp.epsilon_budget=0.2", "--out",
                    str(tmp_path / "run"), "--quiet")  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: no update was aggregated in 0 rounds") and "privacy budget spent" in last
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["status"] == "failed" and summary["aggregated_rounds"] == 0 and summary["metrics_round"] == 0
    assert summary["metrics"]["test_rmse"] > 0  # the initial model's figure, labelled as such


def test_a_stalled_simulation_says_what_it_waited_for(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from fedrec.runtime.client_host import ClientHost

    monkeypatch.setattr(ClientHost, "on_train", lambda self, message: iter(()))  # devices that never answer
    summary = execute(load_config(overrides=["rounds=2", "federation.clients_per_round=10"]), tmp_path / "run",
                      quiet=True).summary  # fmt: skip
    assert summary["status"] == "failed" and summary["rounds"] == 0
    assert summary["stopped"].startswith("the simulation stalled after round 0, waiting for the updates of 10 clients")
