"""The README's commands that no other test runs, as a user types them (shortened to one round)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from fedrec.cli.main import app
from fedrec.data.registry import DATASETS

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
FEDREC = str(Path(sys.executable).parent / "fedrec")
NO_REPORT = None  # classification and graphs: no interactions to merge, every client evaluates the global model
DATA_REPORTS: dict[str, tuple[int, int] | None] = {
    "adult_natural.yaml": NO_REPORT,
    "citeseer_gcn_louvain.yaml": NO_REPORT,
    "cora_gcn_louvain.yaml": NO_REPORT,
    "fmnist_cnn_dirichlet.yaml": NO_REPORT,
    "lastfm_ranking.yaml": (8, 0),  # users with one interaction: leave-one-out leaves them nothing to train on
    "ml100k_dp.yaml": (0, 0),
    "ml100k_fedbuff.yaml": (0, 0),
    "ml100k_fedmf.yaml": (0, 0),
    "ml100k_ranking.yaml": (0, 0),
    "ml100k_secagg.yaml": (0, 0),
    "ml100k_sync_deadline.yaml": (0, 0),
}


def run(*args: str) -> dict[str, Any]:
    """``fedrec run ARGS`` in this process; the summary it wrote."""
    out = Path(args[args.index("--out") + 1])
    result = CliRunner().invoke(app, ["run", *args, "--quiet"])
    assert result.exit_code == 0, (result.output, result.exception)
    assert "run finished" in result.output and f"run folder: {out}" in result.output
    summary: dict[str, Any] = json.loads((out / "summary.json").read_text())
    return summary


def test_every_example_is_listed() -> None:
    assert sorted(DATA_REPORTS) == sorted(p.name for p in EXAMPLES.glob("*.yaml") if p.name != "ml1m_ranking.yaml")


@pytest.mark.parametrize("example", sorted(DATA_REPORTS))
def test_every_example_runs(tmp_path: Path, example: str) -> None:
    summary = run(str(EXAMPLES / example), "--set", "rounds=1", "--out", str(tmp_path / "run"))
    assert summary["rounds"] == 1 and summary["metrics"]
    assert all(math.isfinite(v) for v in summary["metrics"].values())
    expected = DATA_REPORTS[example]
    keys = ("users_without_training", "duplicates_merged")
    assert summary.get("data_report") == (None if expected is None else dict(zip(keys, expected, strict=True)))


def test_the_official_ml1m_example_names_its_file() -> None:
    """The test mirror has no official ratings.dat: the command says which file is missing and where to put it."""
    result = subprocess.run([FEDREC, "run", str(EXAMPLES / "ml1m_ranking.yaml")], capture_output=True, text=True)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "movielens/ml-1m/ratings.dat is missing from the mirror" in result.stderr


def test_the_ml1m_example_runs_on_the_derived_copy(tmp_path: Path) -> None:
    example = str(EXAMPLES / "ml1m_ranking.yaml")
    summary = run(example, "--set", "data.name=ml-1m-derived", "--set", "rounds=1", "--out", str(tmp_path / "run"))
    assert (summary["dataset"], summary["num_clients"]) == ("ml-1m-derived", 6_040)
    assert summary["data_report"] == {"users_without_training": 0, "duplicates_merged": 0}
    assert 0 < summary["metrics"]["hr@10"] < 1


def test_the_centralized_ranking_baseline_runs(tmp_path: Path) -> None:
    example = str(EXAMPLES / "ml100k_ranking.yaml")
    overrides = ["--set", "mode=centralized", "--set", "centralized.epochs=1"]
    summary = run(example, *overrides, "--out", str(tmp_path / "run"))
    assert (summary["mode"], summary["rounds"], summary["algorithm"]) == ("centralized", 1, "none")
    assert {"hr@10", "ndcg@10", "recall@20", "ndcg@20"} == set(summary["metrics"])


def test_a_run_folders_config_repeats_the_run(tmp_path: Path) -> None:
    first = run("--set", "rounds=1", "--out", str(tmp_path / "first"))
    again = run(str(tmp_path / "first" / "config.yaml"), "--out", str(tmp_path / "again"))
    assert again["metrics"] == first["metrics"] and again["bytes_down"] == first["bytes_down"]


def test_a_broadcast_of_the_default_job_is_209_mb(tmp_path: Path) -> None:
    """README: the item table goes to every client twice a round (to train, then to evaluate), 209 MB each."""
    summary = run("--set", "rounds=1", "--out", str(tmp_path / "run"))
    assert summary["bytes_down"] / 2 / 1e6 == pytest.approx(209, abs=0.5)


def test_data_list_names_a_source_for_every_dataset() -> None:
    listing = subprocess.run([FEDREC, "data", "list"], capture_output=True, text=True)
    assert listing.returncode == 0, listing.stderr
    sources = [line.split("source:", 1)[1].strip() for line in listing.stdout.splitlines() if "source:" in line]
    assert sources == [spec.source for spec in DATASETS.values()] and all(sources)
    for spec, source in zip(DATASETS.values(), sources, strict=True):
        official = spec.name != "ml-1m-derived"
        assert source.startswith("http") == official, (spec.name, source)
    assert "github.com/kimiyoung/planetoid/raw/master/data/<file>, for each of its 8 files" in listing.stdout


@pytest.mark.skipif(not (REPO / ".venv" / "bin" / "fedrec").exists(), reason="scripts/run.sh runs the repo's .venv")
def test_scripts_run_sh_trains_the_default_job(tmp_path: Path) -> None:
    out = tmp_path / "run"
    env = {**os.environ, "FEDREC_THREADS": "1"}
    result = subprocess.run(
        ["bash", str(REPO / "scripts" / "run.sh"), "--set", "rounds=1", "--quiet", "--out", str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["dataset"], summary["num_clients"], summary["rounds"]) == ("ml-100k", 943, 1)
