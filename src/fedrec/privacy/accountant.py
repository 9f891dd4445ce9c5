"""The privacy accountant of user-level DP-FedAvg, on Google's ``dp-accounting`` (no home-made composition).

One round is the sampled Gaussian mechanism: every client is sampled independently with probability ``q``
(Poisson sampling, the assumption of the amplification bound; the sampler draws cohorts that way when DP is
on), and the sum of the clipped updates gets Gaussian noise of standard deviation ``noise_multiplier`` times
the clip norm. ``steps`` rounds compose. RDP (Mironov et al.) or PLD (privacy loss distributions) turn the
composition into (epsilon, delta) for user-level adjacency: adding or removing one user's whole data.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:  # dp-accounting takes ~2 s to import: only runs with DP pay for it
    import dp_accounting

AccountantKind = Literal["rdp", "pld"]
SAMPLING = "poisson"

# the RDP accountant warns for each fractional order it cannot evaluate and leaves out (harmless: the others bound)
logging.getLogger("absl").setLevel(logging.ERROR)

CONVENTIONAL_DELTA = 1e-5  # Abadi et al., "Deep Learning with Differential Privacy", CCS 2016


def default_delta(num_users: int) -> float:
    """The delta of a run that does not set one: ``min(1e-5, 1 / (10 N))`` for N users.

    Delta bounds the probability that the epsilon guarantee fails outright, and a mechanism that publishes
    one user's whole data, chosen at random, is (0, 1/N)-DP: so delta must be well below 1/N (Dwork & Roth,
    "The Algorithmic Foundations of Differential Privacy", 2014, sec. 2.3). The rule keeps the conventional
    1e-5 and lowers it for large populations, so that ``delta * N <= 0.1`` always (ML-100K: 1e-5, 1/94 of 1/N).
    """
    return min(CONVENTIONAL_DELTA, 1.0 / (10 * num_users))


def delta_warning(delta: float, num_users: int) -> str | None:
    """Why a chosen delta is unsafe for N users (at least 1/N), or None."""
    if delta * num_users < 1.0:
        return None
    return (
        f"privacy.dp.delta = {delta:.3g} is at least 1/N = {1 / num_users:.3g} for N = {num_users} users: it allows a "
        f"mechanism that publishes one user's whole data; choose delta well below 1/N (the default is "
        f"{default_delta(num_users):.3g})"
    )


def round_event(noise_multiplier: float, sampling_rate: float, steps: int) -> dp_accounting.DpEvent:
    """``steps`` rounds of the Poisson-sampled Gaussian mechanism."""
    import dp_accounting

    one = dp_accounting.PoissonSampledDpEvent(sampling_rate, dp_accounting.GaussianDpEvent(noise_multiplier))
    return dp_accounting.SelfComposedDpEvent(one, steps)


def _fresh(kind: AccountantKind) -> dp_accounting.PrivacyAccountant:
    from dp_accounting import pld, rdp

    return rdp.RdpAccountant() if kind == "rdp" else pld.PLDAccountant()


def epsilon_of(event: dp_accounting.DpEvent, delta: float, kind: AccountantKind = "rdp") -> float:
    """The epsilon of a ``dp_accounting`` event at ``delta``, by the RDP or PLD accountant."""
    accountant = _fresh(kind)
    accountant.compose(event)
    return float(accountant.get_epsilon(delta))


@functools.lru_cache(maxsize=4096)
def _rounds_epsilon(
    noise_multiplier: float, sampling_rate: float, delta: float, kind: AccountantKind, steps: int
) -> float:
    """Epsilon after ``steps`` rounds (cached: the server asks before every round, the recorder after)."""
    if steps <= 0:
        return 0.0
    return epsilon_of(round_event(noise_multiplier, sampling_rate, steps), delta, kind)


def calibrate_noise(
    target_epsilon: float, delta: float, sampling_rate: float, steps: int, kind: AccountantKind = "rdp"
) -> float:
    """The smallest noise multiplier whose ``steps`` rounds spend at most ``target_epsilon``."""
    import dp_accounting

    return float(
        dp_accounting.calibrate_dp_mechanism(
            lambda: _fresh(kind),
            lambda z: round_event(z, sampling_rate, steps),
            target_epsilon,
            delta,
            bracket_interval=dp_accounting.ExplicitBracketInterval(0.05, 500.0),
            tol=1e-4,
        )
    )


@dataclass(frozen=True)
class PrivacyLedger:
    """What a run spends: epsilon after any number of rounds, and the block ``summary.json`` carries (every
    input needed to recompute epsilon independently)."""

    noise_multiplier: float
    sampling_rate: float
    delta: float
    clip_norm: float
    kind: AccountantKind = "rdp"
    budget: float | None = None  # stop before a round that would spend more

    def epsilon(self, steps: int) -> float:
        """Epsilon spent after ``steps`` rounds (Poisson-subsampled Gaussian mechanism, composed)."""
        return _rounds_epsilon(self.noise_multiplier, self.sampling_rate, self.delta, self.kind, steps)

    @functools.cached_property
    def last_round(self) -> int:
        """The most rounds the budget allows (epsilon grows with rounds: a doubling, then a bisection)."""
        assert self.budget is not None
        if self.epsilon(1) > self.budget:
            return 0
        low, high = 1, 2
        while self.epsilon(high) <= self.budget and high < 1 << 24:
            low, high = high, high * 2
        while high - low > 1:
            middle = (low + high) // 2
            low, high = (middle, high) if self.epsilon(middle) <= self.budget else (low, middle)
        return low

    def refuses(self, next_round: int) -> str | None:
        """Why round ``next_round`` may not run (its epsilon would exceed the budget), or None."""
        if self.budget is None or next_round <= self.last_round:
            return None
        return (
            f"privacy budget spent: round {next_round} would bring epsilon to {self.epsilon(next_round):.3f}, "
            f"above privacy.dp.epsilon_budget {self.budget:g}; stopped after round {next_round - 1} "
            + (
                "(raise the budget or the noise multiplier)"
                if next_round == 1
                else "(raise the budget or the noise multiplier, or run fewer rounds)"
            )
        )

    def report(self, steps: int) -> dict[str, float | int | str]:
        """The summary's privacy block after ``steps`` rounds: epsilon, delta, noise multiplier, clip norm, sampling
        rate, accountant, adjacency."""
        return {
            "epsilon": round(self.epsilon(steps), 6),
            "delta": self.delta,
            "noise_multiplier": self.noise_multiplier,
            "clip_norm": self.clip_norm,
            "sampling_rate": self.sampling_rate,
            "steps": steps,
            "sampling": SAMPLING,
            "accountant": self.kind,
            "adjacency": "add or remove one user",
        }


def local_dp_report(
    noise_multiplier: float, delta: float, clip_norm: float, uploads: int, kind: AccountantKind = "rdp"
) -> dict[str, float | int | str]:
    """Local DP: each upload is the Gaussian mechanism on the device (no sampling amplification: the
    device knows it takes part); ``uploads`` of them compose (a client uploads at most once a round)."""
    import dp_accounting

    one = dp_accounting.GaussianDpEvent(noise_multiplier)
    composed = epsilon_of(dp_accounting.SelfComposedDpEvent(one, uploads), delta, kind) if uploads else 0.0
    return {
        "per_upload_epsilon": round(epsilon_of(one, delta, kind), 6),
        "epsilon": round(composed, 6),
        "delta": delta,
        "noise_multiplier": noise_multiplier,
        "clip_norm": clip_norm,
        "sampling_rate": 1.0,
        "steps": uploads,
        "sampling": "none (every upload counted)",
        "accountant": kind,
        "adjacency": "any two values of one user's upload",
    }
