"""Secure aggregation's virtual time comes from a cost model, so a seeded run's clock is the same twice."""

from __future__ import annotations

from pathlib import Path

import pytest

from fedrec.config import load_config
from fedrec.experiment.build import load_task_data
from fedrec.experiment.simulation import run_simulation
from fedrec.privacy.secagg.costs import SecAggCosts

SECURE = ["rounds=2", "federation.clients_per_round=20", "federation.eval_every=2",
          "privacy.secure_aggregation.dropout=0.2"]  # fmt: skip


def test_a_seeded_secure_run_reports_the_same_virtual_time_twice() -> None:
    config = load_config(Path("examples/ml100k_secagg.yaml"), SECURE)
    split = load_task_data(config)
    first, second = run_simulation(config, split), run_simulation(config, split)
    assert first.virtual_time_s == second.virtual_time_s
    plain = run_simulation(load_config(Path("examples/ml100k_secagg.yaml"), [*SECURE[:3]] + [
        "privacy.secure_aggregation=false"]), split)  # fmt: skip
    assert first.virtual_time_s > plain.virtual_time_s  # the protocol's extra stages and work take time


def test_the_cost_of_each_step_grows_as_the_protocol_says() -> None:
    costs = SecAggCosts()
    assert costs.share(100, 51) > 2 * costs.share(50, 26)  # quadratic sharing terms
    assert costs.mask(100, 2_000_000) == pytest.approx(
        99 * (costs.seal_s + costs.agreement_s) + 100 * 2_000_000 * costs.prg_word_s
    )
    no_dropout, dropouts = costs.unmask(80, 0, 41, 10_000), costs.unmask(80, 20, 41, 10_000)
    assert dropouts - no_dropout > 20 * 80 * (costs.agreement_s + 10_000 * costs.prg_word_s) * 0.99


@pytest.fixture(autouse=True)
def _in_the_repository(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(Path(__file__).resolve().parents[2])
