"""Config loading, overrides, shortcuts and the errors for bad keys and values."""

from pathlib import Path

import pytest

from fedrec.config import dump_config, load_config, valid_keys
from fedrec.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]


def test_defaults_are_the_default_job_and_the_example_file_matches() -> None:
    default = load_config()
    assert (default.mode, default.data.name, default.federation.algorithm) == (
        "federated",
        "ml-100k",
        "fedavg",
    )
    assert load_config(REPO / "examples" / "ml100k_fedmf.yaml") == default


def test_shortcuts_work_whatever_the_nesting() -> None:
    c = load_config(overrides=["rounds=7", "seed=3", "mode=centralized"])
    assert (c.federation.rounds, c.seed, c.mode) == (7, 3, "centralized")
    c = load_config(overrides=["mode=centralized", "rounds=4"])
    assert c.centralized.epochs == 4
    assert load_config(overrides=["train.lr=0.5", "federation.clients_per_round=10"]).train.lr == 0.5


def test_unknown_key_names_it_and_lists_valid_keys() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(overrides=["train.lrr=0.1"])
    message = str(caught.value)
    assert "unknown config key 'train.lrr'" in message and "train.lr" in message and "federation.rounds" in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("override", "where"),
    [
        ("rounds=0", "federation.rounds"),
        ("train.lr=-1", "train.lr"),
        ("mode=distributed", "mode"),
        ("train.optimizer=rmsprop", "train.optimizer"),
        ("federation.client_fraction=1.5", "federation.client_fraction"),
    ],
)
def test_invalid_values_are_refused_with_the_key(override: str, where: str) -> None:
    with pytest.raises(ConfigError, match=f"invalid value for {where}"):
        load_config(overrides=[override])


def test_config_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")
    (tmp_path / "bad.yaml").write_text("train: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(tmp_path / "bad.yaml")
    with pytest.raises(ConfigError, match="key=value"):
        load_config(overrides=["rounds"])


def test_resolved_config_round_trips(tmp_path: Path) -> None:
    config = load_config(overrides=["rounds=9", "model.dim=8"])
    (tmp_path / "c.yaml").write_text(dump_config(config))
    assert load_config(tmp_path / "c.yaml") == config
    assert "federation.execution" in valid_keys()
