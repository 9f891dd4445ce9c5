"""The run's epsilon is what dp-accounting computes for the same mechanism, and the budget is enforced."""

from __future__ import annotations

import dp_accounting
import pytest
from dp_accounting import pld, rdp

from fedrec.privacy.accountant import PrivacyLedger, calibrate_noise, default_delta, delta_warning, local_dp_report


def _direct(q: float, z: float, steps: int, delta: float, accountant: dp_accounting.PrivacyAccountant) -> float:
    event = dp_accounting.PoissonSampledDpEvent(q, dp_accounting.GaussianDpEvent(z))
    accountant.compose(dp_accounting.SelfComposedDpEvent(event, steps))
    return float(accountant.get_epsilon(delta))


@pytest.mark.parametrize(("q", "z", "steps"), [(0.01, 1.1, 1000), (0.1, 1.0, 100), (0.2, 0.8, 30)])
def test_ledger_epsilon_equals_a_direct_rdp_computation(q: float, z: float, steps: int) -> None:
    ledger = PrivacyLedger(z, q, 1e-5, 1.0)
    assert ledger.epsilon(steps) == pytest.approx(_direct(q, z, steps, 1e-5, rdp.RdpAccountant()), rel=1e-12)


def test_pld_ledger_equals_a_direct_pld_computation() -> None:
    ledger = PrivacyLedger(1.1, 0.01, 1e-5, 1.0, "pld")
    assert ledger.epsilon(1000) == pytest.approx(_direct(0.01, 1.1, 1000, 1e-5, pld.PLDAccountant()), rel=1e-9)
    assert ledger.epsilon(1000) == pytest.approx(1.5154, abs=1e-3)  # ENVIRONMENT.md's figure


def test_epsilon_grows_with_rounds_and_the_report_carries_what_recomputes_it() -> None:
    ledger = PrivacyLedger(1.0, 0.1, 1 / 943, 0.5)
    eps = [ledger.epsilon(t) for t in (0, 1, 10, 100)]
    assert eps[0] == 0.0 and eps[1] < eps[2] < eps[3]
    report = ledger.report(100)
    recomputed = _direct(report["sampling_rate"], report["noise_multiplier"], report["steps"], report["delta"],
                         rdp.RdpAccountant())  # fmt: skip
    assert report["epsilon"] == pytest.approx(recomputed, abs=1e-6)
    assert report["sampling"] == "poisson" and report["accountant"] == "rdp" and report["clip_norm"] == 0.5


def test_calibrated_noise_meets_the_target_and_no_less_would() -> None:
    z = calibrate_noise(3.0, 1e-4, 0.05, 200)
    assert PrivacyLedger(z, 0.05, 1e-4, 1.0).epsilon(200) <= 3.0
    assert PrivacyLedger(z * 0.98, 0.05, 1e-4, 1.0).epsilon(200) > 3.0


def test_a_spent_budget_refuses_the_next_round_and_says_why() -> None:
    ledger = PrivacyLedger(1.0, 0.1, 1e-3, 1.0, budget=2.0)
    last = next(t for t in range(1, 200) if ledger.refuses(t + 1) is not None)
    assert all(ledger.refuses(t) is None for t in range(1, last + 1))
    assert ledger.epsilon(last) <= 2.0 < ledger.epsilon(last + 1)
    message = ledger.refuses(last + 1)
    assert message is not None and "epsilon_budget" in message and f"after round {last}" in message


def test_local_dp_report_composes_every_upload() -> None:
    report = local_dp_report(2.0, 1e-5, 1.0, 10)
    one = rdp.RdpAccountant()
    one.compose(dp_accounting.GaussianDpEvent(2.0))
    many = rdp.RdpAccountant()
    many.compose(dp_accounting.SelfComposedDpEvent(dp_accounting.GaussianDpEvent(2.0), 10))
    assert report["per_upload_epsilon"] == pytest.approx(one.get_epsilon(1e-5), abs=1e-6)
    assert report["epsilon"] == pytest.approx(many.get_epsilon(1e-5), abs=1e-6)


@pytest.mark.parametrize(("users", "delta"), [(610, 1e-5), (943, 1e-5), (6_040, 1e-5), (10_000, 1e-5), (10**6, 1e-7)])
def test_the_default_delta_is_well_below_one_over_n(users: int, delta: float) -> None:
    assert default_delta(users) == pytest.approx(delta)
    assert default_delta(users) * users <= 0.1 and delta_warning(default_delta(users), users) is None


def test_a_delta_of_one_over_n_or_more_is_named_unsafe() -> None:
    assert delta_warning(1 / 943, 943) is not None and delta_warning(0.9 / 943, 943) is None
