"""A plug-in that cannot load, or whose own code fails mid-run, ends in one line naming it (exit 2): never a
traceback, never a half-written run folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
TOY = ["--set", "task=linear_regression", "--set", "data.name=synthetic", "--set", "rounds=2"]
BROKEN = """
from linear_regression import LinearRegressionSpec, LinearRegressionTask
from fedrec.registry import BACKENDS, TASKS
from counting_backend import CountingBackend

class BrokenTask(LinearRegressionTask):
    def train(self, client_ids, model, round_index):
        raise RuntimeError("simulated bug in train")

class BrokenSpec(LinearRegressionSpec):
    def build(self, config, data, client_ids):
        return BrokenTask(data, client_ids, 1, 0.1)

class BrokenBackend(CountingBackend):
    def deliver(self, index, message):
        raise KeyError("lost host")

TASKS.register("broken", BrokenSpec())
BACKENDS.register("broken", BrokenBackend)
"""


def _fedrec(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    path = os.pathsep.join([str(tmp_path), str(HERE), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": path, "FEDREC_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "fedrec", *args], cwd=tmp_path, env=env, text=True, capture_output=True
    )


def _one_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("raise RuntimeError('boom at import')", "'bad_plugin' failed while it loaded: RuntimeError: boom at import"),
        ("import no_such_dependency", "'bad_plugin' imports a module that is missing"),
        (
            "from fedrec.registry import TASKS\nfrom linear_regression import LinearRegressionSpec\n"
            "TASKS.register('rating', LinearRegressionSpec())",
            "the task name 'rating' is already registered; pass replace=True",
        ),
    ],
    ids=["raises", "missing-dependency", "registers-twice"],
)
def test_a_plug_in_that_cannot_load_is_named_with_the_fix(tmp_path: Path, source: str, expected: str) -> None:
    (tmp_path / "bad_plugin.py").write_text(source + "\n")
    line = _one_line(_fedrec(tmp_path, "run", "--set", "plugins=[bad_plugin]"))
    assert expected in line and line.endswith("fix the module")
    missing = _one_line(_fedrec(tmp_path, "run", "--set", "plugins=[not_there]"))
    assert missing == "error: plugins: no module named 'not_there'; put its folder on PYTHONPATH"


def test_a_plug_in_that_fails_mid_run_is_named_in_one_line_and_leaves_no_folder(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text(BROKEN)
    task = _one_line(_fedrec(tmp_path, "run", "--set", "plugins=[broken]", *TOY, "--set", "task=broken", "--out", "t"))
    assert task.startswith("error: the plug-in 'broken' raised RuntimeError: simulated bug in train (")
    assert task.endswith("; fix the plug-in") and not (tmp_path / "t").exists()
    backend = _one_line(_fedrec(tmp_path, "run", "--set", "plugins=[broken]", *TOY, "--set",
                                "federation.backend=broken", "--out", "b"))  # fmt: skip
    assert backend.startswith("error: the plug-in 'broken' raised KeyError: 'lost host' (")


def test_the_cluster_refuses_a_simulation_backend_and_components_lists_the_registries(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text(BROKEN)
    cluster = _one_line(_fedrec(tmp_path, "cluster", "--set", "plugins=[broken]", "--set", "federation.backend=broken"))
    assert "federation.backend broken runs a simulation's client hosts" in cluster
    listed = _fedrec(tmp_path, "components", "--plugin", "broken")
    assert listed.returncode == 0
    assert "federation.backend: broken, counting, inprocess" in listed.stdout
    assert "task: broken, classification, linear_regression, node_classification, ranking, rating" in listed.stdout


def test_components_refuse_what_they_cannot_do_with_the_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """A plug-in task cannot run fedrec's baselines; a plug-in aggregator cannot run under user-level DP."""
    from typing import ClassVar

    monkeypatch.syspath_prepend(str(HERE))
    from linear_regression import LinearRegressionSpec

    from fedrec.config import load_config
    from fedrec.errors import ConfigError
    from fedrec.registry import TASKS

    class WithBaselines(LinearRegressionSpec):
        modes: ClassVar[frozenset[str]] = frozenset({"federated", "centralized"})

    TASKS.register("regression_with_modes", WithBaselines())
    try:
        task = ["task=regression_with_modes", "data.name=synthetic"]
        assert load_config(overrides=task).mode == "federated"
        with pytest.raises(ConfigError, match="mode centralized needs a baseline that knows task regression_with"):
            load_config(overrides=[*task, "mode=centralized"])
    finally:
        TASKS.unregister("regression_with_modes")
    dp = Path(__file__).resolve().parents[2] / "examples" / "ml100k_dp.yaml"
    with pytest.raises(
        ConfigError, match="federation.aggregator trimmed_mean: user-level DP aggregates with DP-FedAvg"
    ):
        load_config(dp, ["plugins=[trimmed_mean]", "federation.aggregator=trimmed_mean"])
