"""Systems heterogeneity end to end: the example configs in virtual time, and FedBuff over real gRPC."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from fedrec.config import load_config
from fedrec.experiment.runner import execute
from tests.experiment.processes import finish, free_port, history, start

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
WAIT_FOR_ALL = ["federation.clients_per_round=null", "federation.policy.over_selection=0",
                "federation.policy.deadline_s=null"]  # fmt: skip


def test_deadline_and_over_selection_beat_waiting_for_the_slowest(tmp_path: Path) -> None:
    example = EXAMPLES / "ml100k_sync_deadline.yaml"
    short = ["rounds=10", "federation.eval_every=10"]
    fast = execute(load_config(example, short), tmp_path / "deadline", quiet=True).summary
    slow = execute(load_config(example, [*short, *WAIT_FOR_ALL]), tmp_path / "all", quiet=True).summary
    assert fast["participation"]["aggregated"] == 10 * 750 and fast["participation"]["late"] > 0
    assert slow["participation"]["aggregated"] == 10 * 943 and slow["participation"]["late"] == 0
    assert slow["virtual_time_s"] > 3 * fast["virtual_time_s"] > 0
    assert fast["metrics"]["test_rmse"] < 1.0 and slow["metrics"]["test_rmse"] < 1.0


def test_fedbuff_example_aggregates_stale_updates(tmp_path: Path) -> None:
    config = load_config(EXAMPLES / "ml100k_fedbuff.yaml", ["rounds=20", "federation.eval_every=10"])
    outcome = execute(config, tmp_path / "run", quiet=True)
    p = outcome.summary["participation"]
    assert p["aggregated"] == 20 * 300 and 0 < p["staleness_mean"] and p["staleness_max"] <= 20
    assert [h["round"] for h in outcome.history] == [10, 20]
    assert outcome.history[-1]["virtual_time_s"] == pytest.approx(outcome.summary["virtual_time_s"], abs=1e-3)
    assert outcome.summary["virtual_time_s"] > 0
    first, last = outcome.history[0]["test_rmse"], outcome.summary["metrics"]["test_rmse"]
    assert math.isfinite(last) and last < first - 0.02, "it learns between the two evaluations"


def test_fedbuff_runs_on_the_wall_clock_over_grpc(tmp_path: Path) -> None:
    port, out, log = free_port(), tmp_path / "run", tmp_path / "log.txt"
    sets = ["rounds=6", "federation.eval_every=3", "federation.policy=fedbuff", "federation.policy.concurrency=200",
            "federation.policy.buffer_size=100"]  # fmt: skip
    args = [a for s in sets for a in ("--set", s)]
    server = start("server", "--listen", f"127.0.0.1:{port}", "--out", str(out), *args, log=log)
    clients = [start("client", "--server", f"127.0.0.1:{port}", "--clients", r, log=log) for r in ("1-470", "471-943")]
    assert finish([server, *clients]) == [0, 0, 0], log.read_text()[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["participation"]["aggregated"] >= 6 * 100
    assert [h["round"] for h in history(out)] == [3, 6]
    assert summary["metrics"]["test_rmse"] < history(out)[0]["test_rmse"] + 0.05
