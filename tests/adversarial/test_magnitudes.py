"""Kind 3: finite is not the same as sane. Values no honest training or evaluation produces are refused per
client; a new version that is not finite anyway (an overflowing sum) is discarded and the model kept."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from fedrec.algorithms.validation import UpdateCheck
from fedrec.payloads import ClientUpdates, MetricSums, RowDeltas
from fedrec.runtime.message import SERVER, Message, MessageKind
from fedrec.runtime.protocols import Withdrawal
from tests.adversarial.arena import HOSTILE, baseline, play, same_model

UPDATE, METRICS = MessageKind.UPDATE, MessageKind.METRICS
HUGE = 3e38  # finite in float32


def _filled(update: ClientUpdates, value: float) -> ClientUpdates:
    rows = update.rows
    values = {k: torch.full_like(v, value) for k, v in rows.values.items()}
    dense = {k: torch.full_like(v, value) for k, v in update.dense.items()}
    return ClientUpdates(
        update.client_ids, update.num_examples, dense, RowDeltas(rows.owner, rows.index, rows.weight, values)
    )


def test_an_update_of_huge_finite_values_is_refused() -> None:
    attacked = play(lambda m, s: [replace(m, payload=_filled(m.payload, HUGE))] if m.kind is UPDATE else None)
    assert attacked.server.rejections.updates["implausible_magnitude"] == 2 * len(HOSTILE)
    assert same_model(attacked, baseline())
    assert all(bool(torch.isfinite(v).all()) for v in attacked.params.values())


def test_an_aggregate_that_overflows_is_discarded_and_the_model_kept() -> None:
    """With the magnitude check off (a check that lets 3e38 through), the sum overflows: the round passes."""

    def huge(m: Message, server) -> list[Message] | None:  # type: ignore[no-untyped-def]
        server.check = UpdateCheck(max_abs=float("inf"))
        return [replace(m, payload=_filled(m.payload, HUGE))] if m.kind is UPDATE and m.round == 1 else None

    attacked = play(huge)
    assert attacked.server.rejections.messages["non_finite_aggregate"] == 1
    assert attacked.server.aggregated_rounds == 1 and attacked.server.round == 2
    assert all(bool(torch.isfinite(v).all()) for v in attacked.params.values())
    assert np.isfinite(attacked.server.last_metrics["test_rmse"])


def _withdrawn(m: Message) -> list[Message]:
    ids = np.asarray(m.senders(), dtype=np.int64)
    return [Message(MessageKind.WITHDRAW, m.sender, SERVER, m.round, Withdrawal(ids, "test", "metrics"), m.time)]


@pytest.mark.parametrize(
    "change",
    [
        {"sse": 1e300},  # the example: RMSE 1.2e148
        {"sse": 17.0},  # per rating at most (5 - 1)^2 = 16
        {"sae": 5.0},  # per rating at most 4
        {"count": 0.5},  # not a whole count
        {"count": 1e6},  # more test ratings than the dataset holds: an RMSE pulled towards 0
        {"sse": -1.0},
    ],
    ids=["sse_1e300", "sse_beyond_scale", "sae_beyond_scale", "half_count", "count_beyond_data", "negative"],
)
def test_metric_sums_no_evaluation_can_produce_are_refused(change: dict[str, float]) -> None:
    def lie(m: Message, server) -> list[Message] | None:  # type: ignore[no-untyped-def]
        if m.kind is not METRICS:
            return None
        sums = dict(m.payload.sums)
        for name, per_rating in change.items():
            scale = sums["count"] if name != "count" and abs(per_rating) < 1e100 else 1.0
            sums[name] = torch.full_like(sums[name], per_rating) * scale
        return [replace(m, payload=MetricSums(m.payload.client_ids, sums))]

    attacked = play(lie)
    withdrawn = play(lambda m, s: _withdrawn(m) if m.kind is METRICS else None)
    assert sum(attacked.server.rejections.metrics.values()) == 2 * len(HOSTILE)  # implausible, or bad_metrics
    assert attacked.server.last_metrics == withdrawn.server.last_metrics
    assert 0.8 < attacked.server.last_metrics["test_rmse"] < 1.5
