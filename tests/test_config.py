"""Config loading, overrides, shortcuts and the errors for bad keys and values."""

import re
from pathlib import Path

import pytest

from fedrec.config import (
    FedBuffPolicy,
    FedProxClients,
    LognormalDevices,
    NoDP,
    SecureAggregation,
    SyncPolicy,
    dump_config,
    load_config,
    valid_keys,
)
from fedrec.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]


def test_defaults_are_the_default_job_and_the_example_file_matches() -> None:
    default = load_config()
    assert (default.mode, default.data.name, default.federation.algorithm.kind) == ("federated", "ml-100k", "fedavg")
    assert load_config(REPO / "examples" / "ml100k_fedmf.yaml") == default


def test_shortcuts_work_whatever_the_nesting() -> None:
    c = load_config(overrides=["rounds=7", "seed=3"])
    assert (c.federation.rounds, c.seed, c.mode) == (7, 3, "federated")
    c = load_config(overrides=["mode=centralized", "rounds=4"])
    assert c.centralized.epochs == 4


def test_rounds_of_a_centralized_run_are_its_epochs_wherever_mode_is_set(tmp_path: Path) -> None:
    """``--set rounds=2 --set mode=centralized`` trained the default 15 epochs: the shortcut was resolved
    before the mode was known."""
    c = load_config(overrides=["rounds=2", "mode=centralized"])
    assert (c.centralized.epochs, c.federation.rounds, c.mode) == (2, 100, "centralized")
    (tmp_path / "c.yaml").write_text("mode: federated\n")
    assert load_config(tmp_path / "c.yaml", ["rounds=3", "mode=centralized"]).centralized.epochs == 3
    assert load_config(tmp_path / "c.yaml", ["rounds=3"]).federation.rounds == 3
    with pytest.raises(ConfigError, match="trains centralized.epochs, not federation.rounds"):
        load_config(overrides=["federation.rounds=2", "mode=centralized"])
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


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("federation:\n  rounds: [1\n  lr: 2\n", "not valid YAML: line 3, column 5: expected ',' or ']'"),
        ("federation:\n  rounds: 3\n bad: 4\n", "not valid YAML: line 3, column 2"),
        ("federation:\n  rounds: 3\n  rounds: 4\n", "line 3, column 3: key 'rounds' appears twice"),
        ("seed: 1\nseed: 2\n", "line 2, column 1: key 'seed' appears twice"),
        ("- 1\n- 2\n", "must be a mapping of sections, got list"),
    ],
)
def test_yaml_errors_name_their_line(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "c.yaml").write_text(text)
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(tmp_path / "c.yaml")


def test_a_config_path_that_is_no_yaml_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is a folder; pass a YAML file"):
        load_config(tmp_path)
    (tmp_path / "c.yaml").write_bytes(bytes(range(128, 256)))
    with pytest.raises(ConfigError, match="is not text"):
        load_config(tmp_path / "c.yaml")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["model.classifier=gcn"], "model.classifier='gcn' has no effect on a rating run"),
        (["model.hidden=[8]"], "model.hidden=(8,) has no effect on a rating run"),
        (["ranking.eval_negatives=50"], "ranking.eval_negatives=50 has no effect on a rating run"),
        (["split.alpha=0.1"], "split.alpha=0.1 has no effect on a rating run"),
        (["task=ranking", "data.test_fraction=0.3"], "data.test_fraction=0.3 has no effect on a ranking run"),
        (["task=ranking", "model.hidden=[8]"], "model.hidden=(8,) has no effect on a ranking run with model.kind"),
        (["task=classification", "data.name=uci-adult", "split.kind=natural", "split.alpha=0.1"],
         "split.alpha=0.1 has no effect on a classification run with split.kind natural: it applies to split.kind "
         "dirichlet"),
        (["task=classification", "data.name=uci-adult", "model.dim=8"], "model.dim=8 has no effect"),
        (["task=classification", "data.name=uci-adult", "model.classifier=gcn"],
         "model.classifier gcn does not fit task classification: choose one of logreg, mlp, cnn"),
        (["task=classification", "data.name=uci-adult", "model.classifier=cnn"], "model.classifier cnn reads images"),
        (["task=node_classification", "data.name=cora", "split.kind=louvain"],
         "model.classifier logreg does not fit task node_classification: choose one of gcn, sage, gat"),
    ],
)  # fmt: skip
def test_settings_the_run_never_reads_are_refused(overrides: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(overrides=overrides)


@pytest.mark.parametrize("example", sorted(p.name for p in (REPO / "examples").glob("*.yaml")))
def test_every_example_and_its_saved_config_load(example: str, tmp_path: Path) -> None:
    config = load_config(REPO / "examples" / example)
    (tmp_path / "config.yaml").write_text(dump_config(config))
    assert load_config(tmp_path / "config.yaml") == config


def test_resolved_config_round_trips(tmp_path: Path) -> None:
    config = load_config(overrides=["rounds=9", "model.dim=8"])
    (tmp_path / "c.yaml").write_text(dump_config(config))
    assert load_config(tmp_path / "c.yaml") == config
    assert "federation.execution" in valid_keys()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["devices.speed_spread=3"], "devices.speed_spread does not apply to devices kind uniform (its keys: "
         "examples_per_s, down_bytes_per_s, up_bytes_per_s); speed_spread is a key of kind lognormal"),
        (["devices.kind=uniform", "devices.availability=0.5"], "devices.availability does not apply to devices kind "
         "uniform"),
        (["federation.policy.buffer_size=5"], "federation.policy.buffer_size does not apply to federation.policy kind "
         "sync (its keys: deadline_s, quorum, over_selection); buffer_size is a key of kind fedbuff"),
        (["federation.policy=fedbuff", "federation.policy.quorum=0.5"], "federation.policy.quorum does not apply to "
         "federation.policy kind fedbuff"),
        (["federation.server_optimizer.beta2=0.5"], "federation.server_optimizer.beta2 does not apply to "
         "federation.server_optimizer kind sgd (its keys: lr); beta2 is a key of kind adam and yogi"),
        (["federation.algorithm.mu=0.1"], "federation.algorithm.mu does not apply to federation.algorithm kind fedavg "
         "(its keys: none but kind); mu is a key of kind fedprox"),
        (["privacy.dp.clip_norm=2"], "privacy.dp.clip_norm does not apply to privacy.dp kind none"),
        (["privacy.dp=local", "privacy.dp.noise_multiplier=1", "privacy.dp.epsilon_budget=2"],
         "privacy.dp.epsilon_budget does not apply to privacy.dp kind local"),  # once silently ignored
        (["federation.policy=async"], "federation.policy: unknown round policy 'async'; choose sync, fedbuff or a "
         "registered one"),
        (["devices.kind=trace"], "devices.trace must be set for devices kind trace"),
        (["federation.buffer_size=5"], "config key 'federation.buffer_size' has moved: set "
         "federation.policy.buffer_size"),
        (["privacy.threshold=0.7"], "config key 'privacy.threshold' has moved: set privacy.secure_aggregation.threshold"
         ),
    ],
)  # fmt: skip
def test_a_key_that_only_another_kind_reads_cannot_be_set(overrides: list[str], message: str) -> None:
    """Tagged sections: a key of another kind is refused even at its default value, in one line naming the keys
    the chosen kind takes and the kind that takes it."""
    with pytest.raises(ConfigError, match="^" + re.escape(message)) as caught:
        load_config(overrides=overrides)
    assert "\n" not in str(caught.value)


def test_a_kind_and_its_keys_in_either_order_and_as_a_string_or_a_mapping(tmp_path: Path) -> None:
    config = load_config(overrides=["devices.kind=lognormal", "devices.up_bytes_per_s=1000"])
    assert isinstance(config.devices, LognormalDevices) and config.devices.up_bytes_per_s == 1000
    for overrides in (["federation.policy=fedbuff", "federation.policy.buffer_size=5"],
                      ["federation.policy.buffer_size=5", "federation.policy=fedbuff"]):  # fmt: skip
        policy = load_config(overrides=overrides).federation.policy
        assert isinstance(policy, FedBuffPolicy) and policy.buffer_size == 5
    on = load_config(overrides=["privacy.secure_aggregation.dropout=0.2", "privacy.secure_aggregation=true"])
    assert on.privacy.secure_aggregation == SecureAggregation(dropout=0.2)
    assert load_config(overrides=["privacy.secure_aggregation=true"]).privacy.secure_aggregation == SecureAggregation()
    assert load_config(overrides=["privacy.secure_aggregation=false"]).privacy.secure_aggregation is None
    (tmp_path / "c.yaml").write_text("federation:\n  algorithm: {kind: fedprox, mu: 0.5}\n")
    assert load_config(tmp_path / "c.yaml").federation.algorithm == FedProxClients(kind="fedprox", mu=0.5)
    assert load_config(
        overrides=["federation.algorithm=scaffold", "train.optimizer=sgd"]
    ).federation.algorithm.kind == ("scaffold")


def test_a_saved_config_of_every_kind_round_trips(tmp_path: Path) -> None:
    """The resolved config holds only the chosen kinds' keys, so it loads again."""
    config = load_config(overrides=["devices.kind=lognormal", "privacy.dp=local", "federation.policy.quorum=0.5",
                                    "privacy.dp.noise_multiplier=1", "federation.server_optimizer=adam"])  # fmt: skip
    (tmp_path / "c.yaml").write_text(dump_config(config))
    assert load_config(tmp_path / "c.yaml") == config


def test_every_example_config_loads() -> None:
    for path in sorted((Path(__file__).parents[1] / "examples").glob("*.yaml")):
        assert load_config(path).seed >= 0, path


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["privacy.dp=user", "privacy.noise_multiplier=1"], "config key 'privacy.noise_multiplier' has moved: set "
         "privacy.dp.noise_multiplier"),
        (["privacy.dp=local", "privacy.noise_multiplier=1"], "config key 'privacy.noise_multiplier' has moved"),
        (["privacy.dp=true"], "privacy.dp: give a kind (none, user, local) or a mapping {kind: ..., <its keys>}"),
        (["federation.policy=null"], "federation.policy: give a kind (sync, fedbuff or a registered one)"),
        (["privacy.secure_aggregation=maybe"], "privacy.secure_aggregation: give true, false or {threshold: ..."),
        (["data=ml-1m"], "invalid value for data"),
        (["plugins=coord_median"], "plugins must be a list of module names: plugins=[coord_median]"),
    ],
)  # fmt: skip
def test_the_cause_is_named_first(overrides: list[str], message: str) -> None:
    """A moved key is named before what it causes (a DP section missing its noise), and a value that is no
    section names the forms a section takes."""
    with pytest.raises(ConfigError, match="^" + re.escape(message)):
        load_config(overrides=overrides)


def test_another_kind_starts_from_its_own_defaults_and_keys_turn_an_optional_section_on() -> None:
    dp = REPO / "examples" / "ml100k_dp.yaml"
    assert load_config(dp, ["privacy.dp=none"]).privacy.dp == NoDP()  # not the file's clip_norm on kind none
    assert load_config(dp, ["federation.server_optimizer=sgd"]).federation.server_optimizer.lr == 1.0  # not adam's
    assert load_config(dp, ["privacy.dp=user"]).privacy.dp.noise_multiplier == 1.0  # same kind: the file's keys
    fedbuff = load_config(REPO / "examples" / "ml100k_fedbuff.yaml", ["federation.policy=sync"])
    assert fedbuff.federation.policy == SyncPolicy()
    on = load_config(dp, ["privacy.secure_aggregation.threshold=0.6"]).privacy.secure_aggregation  # file: false
    assert on == SecureAggregation(threshold=0.6)
    adagrad = ["federation.server_optimizer=adagrad", "federation.server_optimizer.beta1=0.0"]
    assert load_config(overrides=adagrad).federation.server_optimizer.model_dump()["beta1"] == 0.0
    centralized = load_config(overrides=["mode=centralized", "federation.algorithm=scaffold"])  # reads neither
    assert centralized.mode == "centralized"
