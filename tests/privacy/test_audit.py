"""The rated-item attack succeeds against plain uploads (so the audit can fail) and fails against masks."""

from __future__ import annotations

import numpy as np
import pytest

from fedrec.config import load_config
from fedrec.experiment.audit import AuditSettings, run_audit
from fedrec.privacy.audit import attack


def test_the_attack_scores_guesses_against_the_truth() -> None:
    scores = np.array([[0.0, 2.0, 1.0, 0.0], [0.5, 0.0, 0.0, 0.0]])
    result = attack(scores, [np.array([1, 3]), np.array([0])], 100.0)
    assert result.precision == pytest.approx((0.5 + 1.0) / 2) and result.recall == pytest.approx((0.5 + 1.0) / 2)
    assert result.precision_at_m == pytest.approx((0.5 + 1.0) / 2)  # top-2 of client 1 is {1, 2}
    assert result.random_precision == pytest.approx((2 / 4 + 1 / 4) / 2)


def test_the_audit_finds_every_rated_item_in_plain_uploads_and_none_under_secure_aggregation() -> None:
    results = run_audit(load_config(), AuditSettings(clients=30, pseudo_items=3.0, local_noise=1.0))
    plain = results["plain"]
    assert plain.precision == 1.0 and plain.recall == 1.0 and plain.precision_at_m == 1.0
    padded = results["pseudo-items x3"]
    assert padded.recall == 1.0 and 0.2 < padded.precision < 0.3  # about 1 real row in 4
    assert padded.upload_bytes > 3 * plain.upload_bytes
    masked = results["secure aggregation"]
    assert masked.recall == 1.0 and masked.precision == pytest.approx(masked.random_precision, abs=1e-9)
    assert abs(masked.precision_at_m - masked.random_precision) < 0.03
    local = results["local DP z=1"]
    assert abs(local.precision_at_m - local.random_precision) < 0.03
