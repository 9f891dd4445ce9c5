"""Kind 2: what a client says about itself (its example count, its rows' weights) is checked against what
it joined with, and bounded; kind 4's silent client is dropped from the step after the reply timeout."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from fedrec.payloads import ClientUpdates, RowDeltas
from fedrec.runtime.message import SERVER, Message, MessageKind
from fedrec.runtime.protocols import JoinInfo
from tests.adversarial.arena import HOSTILE, baseline, play, same_model

UPDATE = MessageKind.UPDATE


def test_the_arena_can_tell_a_harmed_model_from_a_sound_one() -> None:
    assert not same_model(play(lambda m, s: None), baseline())  # the hostile clients' honest updates count


def _reweighted(update: ClientUpdates, weight: torch.Tensor | None = None, count: float | None = None) -> ClientUpdates:
    rows = update.rows
    weights = rows.weight if weight is None else weight
    counts = update.num_examples if count is None else torch.full_like(update.num_examples, count)
    return ClientUpdates(
        update.client_ids, counts, update.dense, RowDeltas(rows.owner, rows.index, weights, rows.values)
    )


def test_a_rejoin_claiming_more_examples_and_an_update_claiming_them_are_refused() -> None:
    def inflate(m: Message, server) -> list[Message] | None:  # type: ignore[no-untyped-def]
        if m.kind is not UPDATE:
            return None
        rejoin = JoinInfo(HOSTILE, np.full(3, 20_000, dtype=np.int64))  # within the data's size, above its first
        return [Message(MessageKind.JOIN, m.sender, SERVER, 0, rejoin, m.time),
                replace(m, payload=_reweighted(m.payload, count=20_000.0))]  # fmt: skip

    attacked = play(inflate)
    assert attacked.server.rejections.messages["count_changed"] == 2 * len(HOSTILE)
    assert attacked.server.rejections.updates["bad_count"] == 2 * len(HOSTILE)
    assert same_model(attacked, baseline())


def test_a_row_weight_beyond_what_the_clients_examples_touch_is_refused() -> None:
    for weight in (1e30, None):  # None: twice the client's count, finite and plausible-looking

        def heavy(m: Message, server, weight=weight) -> list[Message] | None:  # type: ignore[no-untyped-def]
            if m.kind is not UPDATE:
                return None
            u = m.payload
            w = torch.full_like(u.rows.weight, weight) if weight else 2 * u.num_examples[u.rows.owner] + 1
            return [replace(m, payload=_reweighted(u, w))]

        attacked = play(heavy)
        assert attacked.server.rejections.updates["bad_row_weight"] == 2 * len(HOSTILE)
        assert same_model(attacked, baseline())


def test_a_client_that_never_answers_is_dropped_from_the_round_after_the_reply_timeout() -> None:
    attacked = play(lambda m, s: [] if m.kind is UPDATE else None)
    assert attacked.server.stats.timed_out == 2 * len(HOSTILE)
    assert attacked.server.round == 2 and same_model(attacked, baseline())


def test_a_client_silent_at_evaluation_is_dropped_from_it_and_the_figures_stand() -> None:
    attacked = play(lambda m, s: [] if m.kind is MessageKind.METRICS else None)
    assert attacked.server.stats.timed_out == 2 * len(HOSTILE) and attacked.server.metrics_round == 2
    assert np.isfinite(attacked.server.last_metrics["test_rmse"])


def test_a_client_silent_step_after_step_is_dropped_from_the_run() -> None:
    from fedrec.runtime.server import SILENT_STEPS

    mute = play(lambda m, s: [] if m.kind in (UPDATE, MessageKind.METRICS) else None, rounds=3)
    assert mute.server.stats.timed_out == SILENT_STEPS * len(HOSTILE) and len(mute.server.clients) == 940
    assert mute.server.round == 3 and same_model(mute, baseline(rounds=3))
