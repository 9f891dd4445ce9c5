"""Privacy in whole runs: DP-FedAvg's accounting in the summary, the budget, secure aggregation in the
simulation and over gRPC, local DP and pseudo-items."""

from __future__ import annotations

import json
from pathlib import Path

import dp_accounting
import pytest
from dp_accounting import rdp

from fedrec.config import load_config
from fedrec.errors import ConfigError
from fedrec.experiment.runner import execute
from fedrec.privacy.accountant import calibrate_noise
from tests.experiment.processes import finish, free_port, history, start

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SMALL = ["rounds=6", "federation.eval_every=3"]


def _run(tmp_path: Path, name: str, overrides: list[str], config: Path | None = None) -> dict:  # type: ignore[type-arg]
    return execute(load_config(config, [*SMALL, *overrides]), tmp_path / name, quiet=True).summary


def test_dp_run_reports_an_epsilon_that_dp_accounting_recomputes(tmp_path: Path) -> None:
    summary = _run(tmp_path, "dp", [], EXAMPLES / "ml100k_dp.yaml")
    p = summary["privacy"]
    assert {"epsilon", "delta", "noise_multiplier", "sampling_rate", "steps", "sampling", "accountant"} <= set(p)
    assert p["steps"] == 6 and p["sampling"] == "poisson" and p["delta"] == 1e-5
    event = dp_accounting.PoissonSampledDpEvent(
        p["sampling_rate"], dp_accounting.GaussianDpEvent(p["noise_multiplier"])
    )
    accountant = rdp.RdpAccountant()
    accountant.compose(dp_accounting.SelfComposedDpEvent(event, p["steps"]))
    assert p["epsilon"] == pytest.approx(accountant.get_epsilon(p["delta"]), abs=1e-5)
    lines = [json.loads(line) for line in (tmp_path / "dp" / "history.jsonl").read_text().splitlines()]
    assert [line["round"] for line in lines] == [3, 6] and lines[0]["epsilon"] < lines[1]["epsilon"] == p["epsilon"]
    participants = summary["participation"]["invited"]
    assert participants != round(6 * p["sampling_rate"] * 943), "Poisson sampling: cohorts vary"


def test_a_target_epsilon_sets_the_noise_and_the_run_spends_no_more(tmp_path: Path) -> None:
    summary = _run(
        tmp_path, "target", ["privacy.dp=user", "privacy.dp.target_epsilon=2.0", "federation.client_fraction=0.1"]
    )
    p = summary["privacy"]
    assert 1.95 < p["epsilon"] <= 2.0
    assert p["noise_multiplier"] == pytest.approx(calibrate_noise(2.0, 1e-5, 0.1, 6), rel=1e-9)


def test_a_spent_budget_stops_the_run_with_its_reason(tmp_path: Path) -> None:
    summary = _run(tmp_path, "budget", ["privacy.dp=user", "privacy.dp.noise_multiplier=0.8",
                                        "privacy.dp.epsilon_budget=4",
                                        "federation.client_fraction=0.2", "rounds=50"])  # fmt: skip
    p = summary["privacy"]
    assert p["steps"] < 50 and p["epsilon"] <= 4.0
    assert "privacy budget spent" in summary["stopped"] and f"after round {p['steps']}" in summary["stopped"]


def test_dp_learns_something_but_less_than_without_noise(tmp_path: Path) -> None:
    common = ["rounds=30", "federation.eval_every=30"]
    noisy = _run(tmp_path, "noisy", common, EXAMPLES / "ml100k_dp.yaml")["metrics"]["test_rmse"]
    no_dp = ["privacy.dp={kind: none}"]  # the whole section: DP's keys go with it
    plain = _run(tmp_path, "plain", [*common, *no_dp], EXAMPLES / "ml100k_dp.yaml")["metrics"]["test_rmse"]
    assert plain < noisy < 1.12  # 1.12: predicting every rating from the initial model's mean


def test_secure_aggregation_gives_the_plain_runs_model(tmp_path: Path) -> None:
    common = ["federation.clients_per_round=40"]
    plain = _run(tmp_path, "plain", common)
    secure = _run(tmp_path, "secure", [*common, "privacy.secure_aggregation=true"])
    assert secure["metrics"]["test_rmse"] == pytest.approx(plain["metrics"]["test_rmse"], abs=1e-5)
    assert secure["privacy"]["secure_aggregation"] is True
    assert secure["bytes_up"] > 10 * plain["bytes_up"], "the masked vector covers the whole item table"


def test_secure_aggregation_survives_dropouts_after_masking(tmp_path: Path) -> None:
    summary = _run(tmp_path, "drop", ["federation.clients_per_round=40", "privacy.secure_aggregation=true",
                                      "privacy.secure_aggregation.dropout=0.3"])  # fmt: skip
    lines = history(tmp_path / "drop")
    assert summary["participation"]["offline"] > 0 and all(line["participants"] < 40 for line in lines)
    assert lines[-1]["test_rmse"] < lines[0]["test_rmse"] < 1.2


def test_dp_with_secure_aggregation_accounts_alike(tmp_path: Path) -> None:
    small = ["federation.client_fraction=0.05"]  # about 47 clients a round: pairwise masks grow as the square
    dp = _run(tmp_path, "dp", small, EXAMPLES / "ml100k_dp.yaml")
    both = _run(tmp_path, "both", [*small, "privacy.secure_aggregation=true"], EXAMPLES / "ml100k_dp.yaml")
    assert both["privacy"]["epsilon"] == dp["privacy"]["epsilon"] and both["privacy"]["secure_aggregation"]
    # secure aggregation's noise shares assume only a majority survives: ~1.4x the noise of the central sum
    assert dp["metrics"]["test_rmse"] < both["metrics"]["test_rmse"] < dp["metrics"]["test_rmse"] + 0.1


def test_local_dp_and_pseudo_items_report_and_cost(tmp_path: Path) -> None:
    common = ["federation.clients_per_round=40"]
    plain = _run(tmp_path, "plain", common)
    local = _run(tmp_path, "local", [*common, "privacy.dp=local", "privacy.dp.noise_multiplier=1.0"])
    p = local["privacy"]
    assert p["mechanism"] == "local DP" and p["steps"] == 6 and p["per_upload_epsilon"] < p["epsilon"]
    assert local["bytes_up"] > 10 * plain["bytes_up"]  # a local-DP upload covers the table
    padded = _run(tmp_path, "padded", [*common, "privacy.pseudo_items=1.0"])
    assert 1.8 * plain["bytes_up"] < padded["bytes_up"] < 2.2 * plain["bytes_up"]
    for run in (local, padded):  # every update was accepted
        assert run["participation"]["aggregated"] == run["participation"]["invited"] == 6 * 40
    assert padded["metrics"]["test_rmse"] < plain["metrics"]["test_rmse"] + 0.05


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["privacy.dp=user"], "exactly one of privacy.dp.noise_multiplier and privacy.dp.target_epsilon"),
        (["privacy.dp=user", "privacy.dp.noise_multiplier=1", "federation.policy=fedbuff"], "synchronous rounds"),
        (["privacy.dp=local", "privacy.dp.noise_multiplier=1", "privacy.secure_aggregation=true"], "do not combine"),
        (
            ["privacy.secure_aggregation=true", "privacy.secure_aggregation.dropout=0.6"],
            "dropout leaves fewer clients than threshold",
        ),
        (["privacy.dp=local", "privacy.dp.noise_multiplier=1", "task=ranking"], "task rating"),
    ],
)
def test_privacy_misconfigurations_name_the_fix(overrides: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(overrides=overrides)


def _cluster(tmp_path: Path, overrides: list[str]) -> dict:  # type: ignore[type-arg]
    port, out, log = free_port(), tmp_path / "run", tmp_path / "log.txt"
    sets = [arg for o in overrides for arg in ("--set", o)]
    server = start("server", "--listen", f"127.0.0.1:{port}", "--out", str(out), *sets, log=log)
    clients = [start("client", "--server", f"127.0.0.1:{port}", "--clients", r, log=log) for r in ("1-500", "501-943")]
    assert finish([server, *clients]) == [0, 0, 0], log.read_text()[-3000:]
    summary: dict = json.loads((out / "summary.json").read_text())  # type: ignore[type-arg]
    return summary


def test_secure_aggregation_over_grpc_equals_the_simulation(tmp_path: Path) -> None:
    overrides = ["rounds=2", "federation.eval_every=2", "federation.clients_per_round=30",
                 "privacy.secure_aggregation=true", "privacy.secure_aggregation.dropout=0.2",
                 "privacy.pseudo_items=0.5"]  # fmt: skip
    summary = _cluster(tmp_path, overrides)
    simulated = execute(load_config(overrides=overrides), tmp_path / "sim", quiet=True).summary
    assert summary["metrics"]["test_rmse"] == pytest.approx(simulated["metrics"]["test_rmse"], abs=1e-6)
    assert summary["participation"]["offline"] == simulated["participation"]["offline"] > 0
    assert summary["rejected_updates"]["total"] == 0


def test_dp_with_secure_aggregation_over_grpc(tmp_path: Path) -> None:
    overrides = ["rounds=3", "federation.eval_every=3", "privacy.dp=user", "privacy.dp.noise_multiplier=1.0",
                 "federation.client_fraction=0.05", "privacy.secure_aggregation=true"]  # fmt: skip
    summary = _cluster(tmp_path, overrides)
    simulated = execute(load_config(overrides=overrides), tmp_path / "sim", quiet=True).summary
    assert summary["privacy"]["epsilon"] == simulated["privacy"]["epsilon"] and summary["privacy"]["steps"] == 3
    # the devices' noise comes from the OS, so the models differ; both stay near the simulation's
    assert summary["metrics"]["test_rmse"] == pytest.approx(simulated["metrics"]["test_rmse"], abs=0.05)
