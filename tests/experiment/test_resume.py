"""A simulation interrupted after a round and resumed with ``fedrec run --resume`` equals the uninterrupted
run: the server optimizer's moments, SCAFFOLD's client controls, FedBuff's buffer and clients in flight,
participation weights and DP's noise round all survive the checkpoint. A real kill of a real process too."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest
import torch

import fedrec.experiment.checkpoint as checkpoint
from fedrec.config import load_config
from fedrec.experiment.runner import execute, resume
from tests.cli.test_cli import fedrec
from tests.experiment.processes import history, start, wait_for

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CASES = {
    "fedavg": (None, ["rounds=4", "federation.clients_per_round=200", "federation.participation_cap=3"]),
    "fedadam": (None, ["rounds=4", "federation.clients_per_round=200", "federation.server_optimizer=adam",
                       "federation.server_optimizer.lr=0.01"]),
    "scaffold": (EXAMPLES / "adult_natural.yaml", ["rounds=4", "federation.eval_every=1",
                                                   "federation.algorithm=scaffold", "train.optimizer=sgd",
                                                   "train.lr=0.05"]),
    "scaffold-rating": (None, ["rounds=4", "federation.clients_per_round=200", "federation.algorithm=scaffold",
                               "train.optimizer=sgd", "train.lr=0.05"]),  # row-aware client controls
    "fedbuff": (EXAMPLES / "ml100k_fedbuff.yaml", ["rounds=6", "federation.eval_every=2"]),
    "dp": (EXAMPLES / "ml100k_dp.yaml", ["rounds=4"]),
}  # fmt: skip


class Killed(Exception):
    """Stands for the process dying just after a checkpoint was written."""


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_resumed_simulation_equals_the_uninterrupted_one(
    case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, overrides = CASES[case]
    config = load_config(path, overrides)
    whole = execute(config, tmp_path / "whole", quiet=True)

    save = checkpoint.SimulationCheckpointer.save

    def save_then_die(self: checkpoint.SimulationCheckpointer) -> None:
        save(self)
        if self.server.round >= 2:
            raise Killed

    monkeypatch.setattr(checkpoint.SimulationCheckpointer, "save", save_then_die)
    with pytest.raises(Killed):
        execute(config, tmp_path / "cut", quiet=True)
    monkeypatch.setattr(checkpoint.SimulationCheckpointer, "save", save)
    assert not (tmp_path / "cut" / "summary.json").exists()
    resumed = resume(tmp_path / "cut", quiet=True)

    assert resumed.summary["rounds"] == whole.summary["rounds"]
    for name, value in whole.summary["metrics"].items():
        assert resumed.summary["metrics"][name] == pytest.approx(value, rel=1e-5, abs=1e-7), name
    assert [h["round"] for h in resumed.history] == [h["round"] for h in whole.history]
    for a, b in zip(resumed.history, whole.history, strict=True):
        assert {k: a[k] for k in whole.summary["metrics"]} == pytest.approx({k: b[k] for k in whole.summary["metrics"]})
    assert resumed.summary["participation"] == whole.summary["participation"]
    assert resumed.summary.get("privacy") == whole.summary.get("privacy")  # the DP ledger continues
    ours = torch.load(tmp_path / "cut" / "checkpoint" / "server.pt", weights_only=True)
    theirs = torch.load(tmp_path / "whole" / "checkpoint" / "server.pt", weights_only=True)
    assert ours.keys() == theirs.keys()
    for name in theirs:
        if name != "round":
            torch.testing.assert_close(ours[name], theirs[name], rtol=1e-5, atol=1e-6)


def test_a_killed_simulation_process_resumes_from_the_command_line(tmp_path: Path) -> None:
    out, log = tmp_path / "run", tmp_path / "log.txt"
    run = start("run", "--set", "rounds=80", "--set", "federation.clients_per_round=50", "--out", str(out),
                "--quiet", log=log)  # fmt: skip
    wait_for(lambda: len(history(out)) >= 3, what="round 3")
    run.send_signal(signal.SIGKILL)
    run.wait()
    assert not (out / "summary.json").exists()
    resumed = fedrec("run", "--resume", str(out), "--quiet")
    assert resumed.returncode == 0, resumed.stderr
    rounds = [h["round"] for h in history(out)]
    assert rounds == list(range(1, 81)), "every round once, none lost and none twice"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["rounds"] == 80 and summary["status"] == "finished"


def test_resume_refuses_a_completed_run_and_extra_settings(tmp_path: Path) -> None:
    from tests.cli.test_cli import assert_usage_error

    execute(load_config(overrides=["rounds=1"]), tmp_path / "done", quiet=True)
    assert_usage_error(fedrec("run", "--resume", str(tmp_path / "done")), "already completed")
    assert_usage_error(fedrec("run", "--resume", str(tmp_path / "done"), "--set", "rounds=3"), "drop CONFIG")
    assert_usage_error(fedrec("run", "--resume", str(tmp_path / "none")), "no run to resume")
