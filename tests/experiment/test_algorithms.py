"""Algorithms chosen by configuration run end to end."""

from pathlib import Path

import pytest

from fedrec.config import load_config
from fedrec.experiment.runner import execute

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.parametrize(("kind", "name"), [("adam", "fedadam"), ("yogi", "fedyogi"), ("momentum", "fedavgm")])
def test_server_optimizers_train_adult(tmp_path: Path, kind: str, name: str) -> None:
    sets = ["rounds=4", "federation.eval_every=4", f"federation.server_optimizer={kind}"]
    sets.append(f"federation.server_lr={0.5 if kind == 'momentum' else 0.05}")
    summary = execute(load_config(EXAMPLES / "adult_natural.yaml", sets), tmp_path / kind, quiet=True).summary
    assert summary["algorithm"] == name
    assert summary["metrics"]["test_accuracy"] > 12_435 / 16_281 + 0.05  # beyond the majority class
