"""Algorithms chosen by configuration run end to end."""

from pathlib import Path

import pytest

from fedrec.config import load_config
from fedrec.errors import ConfigError
from fedrec.experiment.runner import execute

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.parametrize(("kind", "name"), [("adam", "fedadam"), ("yogi", "fedyogi"), ("momentum", "fedavgm")])
def test_server_optimizers_train_adult(tmp_path: Path, kind: str, name: str) -> None:
    sets = ["rounds=4", "federation.eval_every=4", f"federation.server_optimizer={kind}"]
    sets.append(f"federation.server_optimizer.lr={0.5 if kind == 'momentum' else 0.05}")
    summary = execute(load_config(EXAMPLES / "adult_natural.yaml", sets), tmp_path / kind, quiet=True).summary
    assert summary["algorithm"] == name
    assert summary["metrics"]["test_accuracy"] > 12_435 / 16_281 + 0.05  # beyond the majority class


@pytest.mark.parametrize(
    ("sets", "name"),
    [
        (["federation.algorithm=fedprox", "federation.algorithm.mu=0.1"], "fedprox"),
        (
            ["federation.algorithm=fedprox", "federation.server_optimizer=adam", "federation.server_optimizer.lr=0.05"],
            "fedprox+fedadam",
        ),
        (["federation.algorithm=scaffold", "train.optimizer=sgd", "train.lr=0.1"], "scaffold"),
    ],
)
def test_client_side_algorithms_train_adult(tmp_path: Path, sets: list[str], name: str) -> None:
    config = load_config(EXAMPLES / "adult_natural.yaml", ["rounds=4", "federation.eval_every=4", *sets])
    summary = execute(config, tmp_path / "run", quiet=True).summary
    assert summary["algorithm"] == name
    assert summary["metrics"]["test_accuracy"] > 12_435 / 16_281 + 0.05


def test_algorithms_refuse_what_they_do_not_support() -> None:
    with pytest.raises(ConfigError, match="plain local SGD"):
        load_config(EXAMPLES / "adult_natural.yaml", ["federation.algorithm=scaffold", "train.optimizer=adam"])
    with pytest.raises(ConfigError, match="privacy needs plain synchronous rounds"):
        load_config(EXAMPLES / "ml100k_dp.yaml", ["federation.algorithm=fedprox"])
    with pytest.raises(ConfigError, match="finetune_epochs"):
        load_config(EXAMPLES / "adult_natural.yaml", ["train.finetune_epochs=2"])


def test_scaffold_trains_a_gcn_on_cora(tmp_path: Path) -> None:
    overrides = ["rounds=10", "federation.eval_every=10", "federation.algorithm=scaffold"]
    summary = execute(load_config(EXAMPLES / "cora_gcn_louvain.yaml", overrides), tmp_path / "run", quiet=True).summary
    assert summary["algorithm"] == "scaffold"
    assert summary["metrics"]["test_accuracy"] > 0.5  # the majority class of Cora is 30%
