"""The local (each client alone) and global (pooled) baselines beside a federated run."""

from pathlib import Path

import pytest

from fedrec.config import load_config
from fedrec.errors import ConfigError
from fedrec.experiment.runner import execute

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_cora_global_beats_local_and_both_leave_a_run_folder(tmp_path: Path) -> None:
    base = ["rounds=10", "split.node_masks=random"]
    config = load_config(EXAMPLES / "cora_gcn_louvain.yaml", [*base, "mode=local"])
    local = execute(config, tmp_path / "local", quiet=True).summary
    config = load_config(EXAMPLES / "cora_gcn_louvain.yaml", [*base, "mode=centralized", "centralized.epochs=100"])
    pooled = execute(config, tmp_path / "global", quiet=True).summary
    assert local["mode"] == "local" and pooled["mode"] == "centralized"
    assert (tmp_path / "local" / "checkpoint" / "clients.pt").is_file()
    assert (tmp_path / "global" / "checkpoint" / "server.pt").is_file()
    # Alone, a Louvain client sees few nodes of some classes; pooled training sees them all, and every edge.
    assert pooled["metrics"]["test_accuracy"] > 0.8
    assert pooled["metrics"]["test_accuracy"] > local["metrics"]["test_accuracy"]
    assert 0.3 < local["metrics"]["test_accuracy"] and 0.0 < local["metrics"]["test_macro_f1"] <= 1.0


def test_adult_baselines_bracket_what_a_majority_guess_gets(tmp_path: Path) -> None:
    majority = 12_435 / 16_281
    config = load_config(EXAMPLES / "adult_natural.yaml", ["mode=centralized", "centralized.epochs=2"])
    pooled = execute(config, tmp_path / "global", quiet=True).summary["metrics"]
    config = load_config(EXAMPLES / "adult_natural.yaml", ["mode=local", "rounds=2"])
    local = execute(config, tmp_path / "local", quiet=True).summary["metrics"]
    assert pooled["test_accuracy"] > majority + 0.06
    assert local["test_accuracy"] > majority
    assert set(local) == {"test_accuracy", "test_macro_f1"}


def test_local_mode_is_refused_for_recommendation() -> None:
    with pytest.raises(ConfigError, match="mode local"):
        load_config(overrides=["mode=local"])
