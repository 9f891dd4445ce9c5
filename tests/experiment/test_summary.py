"""One summary builder: the simulation and the cluster write the same keys for the same config."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.experiment.processes import FEDREC, free_port

ONE_ROUND = ["--set", "rounds=1", "--set", "federation.clients_per_round=50"]


def _keys(summary: dict[str, object], prefix: str = "") -> set[str]:
    keys = set()
    for key, value in summary.items():
        keys.add(prefix + key)
        if isinstance(value, dict) and key not in ("metrics", "by_reason"):
            keys |= _keys(value, f"{prefix}{key}.")  # type: ignore[arg-type]
    return keys


def test_the_simulation_and_the_cluster_summaries_have_the_same_keys(tmp_path: Path) -> None:
    subprocess.run([*FEDREC, "run", *ONE_ROUND, "--out", str(tmp_path / "sim")], check=True, capture_output=True)
    cluster = [*FEDREC, "cluster", *ONE_ROUND, "--processes", "2", "--port", str(free_port())]
    subprocess.run([*cluster, "--out", str(tmp_path / "cluster")], check=True, capture_output=True)
    sim = json.loads((tmp_path / "sim" / "summary.json").read_text())
    dist = json.loads((tmp_path / "cluster" / "summary.json").read_text())
    assert _keys(sim) == _keys(dist)
    assert (sim["mode"], dist["mode"]) == ("federated", "distributed")
    assert sim["metrics"] == pytest.approx(dist["metrics"], rel=1e-9)  # the same run; sums add in another order
    assert sim["raw_tensor_bytes_up"] == dist["raw_tensor_bytes_up"] > 0
