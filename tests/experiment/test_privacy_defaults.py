"""The run's delta: well below 1/N by default, and a warning when a user chooses one that is not."""

from __future__ import annotations

import logging

import pytest

from fedrec.config import load_config
from fedrec.experiment import build_privacy

DP = ["privacy.dp=user", "privacy.dp.noise_multiplier=1"]


def test_a_delta_of_one_over_n_or_more_is_warned_and_kept(caplog: pytest.LogCaptureFixture) -> None:
    config = load_config(overrides=[*DP, "privacy.dp.delta=0.002"])
    with caplog.at_level(logging.WARNING, logger="fedrec.privacy"):
        assert build_privacy.delta(config, 943) == 0.002, "the user's choice stands"
    assert "privacy.dp.delta = 0.002 is at least 1/N = 0.00106 for N = 943 users" in caplog.text


def test_the_default_delta_is_not_warned(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="fedrec.privacy"):
        assert build_privacy.delta(load_config(overrides=DP), 943) == 1e-5
        assert build_privacy.delta(load_config(overrides=DP), 6_040) == 1e-5
        assert build_privacy.delta(load_config(overrides=DP), 10**6) == pytest.approx(1e-7)
    assert not caplog.text
