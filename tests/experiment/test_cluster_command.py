"""``fedrec cluster`` on one example of every task: it runs, and gives the simulation's figures."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from fedrec.config import load_config
from fedrec.experiment.runner import execute
from tests.experiment.processes import FEDREC, free_port

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.parametrize(
    ("example", "clients", "metric"),
    [
        (None, 943, "test_rmse"),  # the default job, as the README's `fedrec cluster --processes 4 --set rounds=20`
        ("ml100k_ranking.yaml", 943, "hr@10"),
        ("adult_natural.yaml", 9, "test_accuracy"),
        ("cora_gcn_louvain.yaml", 5, "test_accuracy"),
    ],
)
def test_fedrec_cluster_runs_every_task(tmp_path: Path, example: str | None, clients: int, metric: str) -> None:
    out, overrides = tmp_path / "run", ["rounds=1"]
    config = None if example is None else EXAMPLES / example
    command = [*FEDREC, "cluster", *([str(config)] if config else []), "--processes", "2", "--port", str(free_port())]
    result = subprocess.run(
        [*command, "--out", str(out), "--set", overrides[0]], capture_output=True, text=True, timeout=240
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"run folder: {out}" in result.stdout
    summary = json.loads((out / "summary.json").read_text())
    simulated = execute(load_config(config, overrides), tmp_path / "sim", quiet=True).summary
    assert (summary["mode"], summary["num_clients"], summary["rounds"]) == ("distributed", clients, 1)
    assert summary["metrics"][metric] == pytest.approx(simulated["metrics"][metric], abs=1e-6)
    assert summary.get("data_report") == simulated.get("data_report")
