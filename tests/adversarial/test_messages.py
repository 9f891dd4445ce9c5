"""Kind 1: a message the server does not expect (a kind no client may send, a payload of the wrong type, a
JOIN or METRICS that is not what its kind requires) is refused; the run goes on as if the sender had dropped
out of what it failed to send."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from fedrec.payloads import MetricSums
from fedrec.runtime.message import SERVER, Message, MessageKind
from fedrec.runtime.protocols import JoinInfo, Withdrawal
from tests.adversarial.arena import HONEST, HOSTILE, baseline, play, same_model

UPDATE, METRICS, JOIN = MessageKind.UPDATE, MessageKind.METRICS, MessageKind.JOIN
SERVER_KINDS = [
    MessageKind.TRAIN, MessageKind.EVALUATE, MessageKind.FINISH, MessageKind.SECAGG_ROSTER,
    MessageKind.SECAGG_ROUTED, MessageKind.SECAGG_SURVIVORS, MessageKind.DEADLINE, MessageKind.LEAVE,
]  # fmt: skip


@pytest.mark.parametrize("kind", SERVER_KINDS, ids=lambda k: k.name)
def test_a_kind_only_the_server_or_the_transport_sends_is_refused(kind: MessageKind) -> None:
    attacked = play(lambda m, s: [replace(m, kind=kind)] if m.kind is UPDATE else None)
    assert set(attacked.hostile.refused) == {"unexpected_kind"}
    assert attacked.server.round == 2 and attacked.server.stats.timed_out == 2 * len(HOSTILE)
    assert same_model(attacked, baseline())


def _metric_sums(m: Message) -> MetricSums:
    return MetricSums(np.asarray(m.senders()), {"count": torch.ones(len(m.senders()), dtype=torch.float64)})


@pytest.mark.parametrize(
    "payload, reason",
    [
        (lambda m: _metric_sums(m), "wrong_payload"),  # a JOIN that carries metric sums
        (lambda m: JoinInfo(m.payload.client_ids, m.payload.num_examples[:, None]), "malformed"),  # 2-D counts
        (lambda m: JoinInfo(m.payload.client_ids, m.payload.num_examples[:2]), "malformed"),  # lengths differ
        (lambda m: JoinInfo(m.payload.client_ids, -m.payload.num_examples), "bad_count"),
        (lambda m: JoinInfo(m.payload.client_ids, np.full(3, 10**12)), "bad_count"),  # more than the data holds
        (lambda m: JoinInfo(HONEST, np.zeros(len(HONEST), dtype=np.int64)), "impersonation"),  # a takeover
    ],
    ids=["metrics", "2d_counts", "lengths", "negative", "too_many", "takeover"],
)
def test_a_join_that_is_not_a_join_is_refused_and_nobody_is_taken_over(payload, reason: str) -> None:  # type: ignore[no-untyped-def]
    attacked = play(lambda m, s: [replace(m, payload=payload(m))] if m.kind is JOIN else None)
    refused = attacked.hostile.refused + list(attacked.server.rejections.messages)
    assert refused == [reason]
    assert attacked.server.round == 2 and len(attacked.server.clients) == len(HONEST)
    assert same_model(attacked, baseline(first=JOIN))


def test_a_join_that_speaks_for_clients_no_one_hosts_or_the_honest_ones_is_refused() -> None:
    for sender in [(*HOSTILE.tolist(), 5000), tuple(HONEST.tolist())]:
        join = JoinInfo(np.array(sender), np.ones(len(sender), dtype=np.int64))
        attacked = play(
            lambda m, s, j=join, who=sender: [Message(JOIN, who, SERVER, 0, j, m.time)] if m.kind is JOIN else None
        )
        assert attacked.hostile.refused == ["impersonation"]
        assert same_model(attacked, baseline(first=JOIN))


def _withdrawn(m: Message) -> list[Message]:
    ids = np.asarray(m.senders(), dtype=np.int64)
    return [Message(MessageKind.WITHDRAW, m.sender, SERVER, m.round, Withdrawal(ids, "test", "metrics"), m.time)]


@pytest.mark.parametrize(
    "metrics",
    [
        lambda m: MetricSums(m.payload.client_ids, {k: v for k, v in m.payload.sums.items() if k != "count"}),
        lambda m: MetricSums(m.payload.client_ids, {**m.payload.sums, "sse": m.payload.sums["sse"][:, None]}),
    ],
    ids=["no_count", "2d_sums"],
)
def test_metrics_the_combiner_cannot_use_are_refused(metrics) -> None:  # type: ignore[no-untyped-def]
    attacked = play(lambda m, s: [replace(m, payload=metrics(m))] if m.kind is METRICS else None)
    withdrawn = play(lambda m, s: _withdrawn(m) if m.kind is METRICS else None)
    assert attacked.server.rejections.metrics["malformed"] > 0
    assert attacked.server.last_metrics == withdrawn.server.last_metrics
    assert same_model(attacked, withdrawn)


def test_metrics_whose_payload_is_an_update_are_refused_on_the_wire() -> None:
    def swap(m: Message, server) -> list[Message] | None:  # type: ignore[no-untyped-def]
        if m.kind is UPDATE:
            swap.update = m.payload  # type: ignore[attr-defined]
        if m.kind is METRICS:
            return [replace(m, payload=swap.update)]  # type: ignore[attr-defined]
        return None

    attacked = play(swap)
    assert set(attacked.hostile.refused) == {"wrong_payload"}
    withdrawn = play(lambda m, s: _withdrawn(m) if m.kind is METRICS else None)
    assert attacked.server.last_metrics == withdrawn.server.last_metrics
    assert np.isfinite(attacked.server.last_metrics["test_rmse"])


def test_an_offline_notice_for_clients_the_process_does_not_host_is_refused() -> None:
    honest = tuple(HONEST[:100].tolist())
    attacked = play(
        lambda m, s: [Message(MessageKind.OFFLINE, honest, SERVER, m.round, None, m.time)] if m.kind is UPDATE else None
    )
    assert set(attacked.hostile.refused) == {"impersonation"} and attacked.server.stats.offline == 0
    assert same_model(attacked, baseline())
