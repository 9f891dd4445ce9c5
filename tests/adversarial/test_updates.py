"""The malformed updates the server already refused before (kept here so they stay refused): each is refused
for the clients that sent it, and the model ends as if they had dropped out."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np
import pytest
import torch

from fedrec.payloads import ClientUpdates, RowDeltas
from fedrec.runtime.message import Message, MessageKind
from tests.adversarial.arena import HONEST, baseline, play, same_model

UPDATE = MessageKind.UPDATE


def _rows(u: ClientUpdates, **change: object) -> ClientUpdates:
    rows = u.rows
    fields = {"owner": rows.owner, "index": rows.index, "weight": rows.weight, "values": rows.values, **change}
    return ClientUpdates(u.client_ids, u.num_examples, u.dense, RowDeltas(**fields))  # type: ignore[arg-type]


def _set(t: torch.Tensor, value: float) -> torch.Tensor:
    return torch.full_like(t, value)  # every client's rows alike: the whole message is hostile


def _values(u: ClientUpdates, name: str, value: float) -> ClientUpdates:
    return _rows(u, values={**u.rows.values, name: _set(u.rows.values[name], value)})


CORRUPTIONS: dict[str, Callable[[ClientUpdates], ClientUpdates]] = {
    "nan_row": lambda u: _values(u, "item_emb", float("nan")),
    "inf_row": lambda u: _values(u, "item_bias", float("inf")),
    "nan_dense": lambda u: replace(u, dense={k: _set(v, float("nan")) for k, v in u.dense.items()}),
    "dense_shape": lambda u: replace(u, dense={k: torch.zeros(len(u.client_ids), 3) for k in u.dense}),
    "dense_dtype": lambda u: replace(u, dense={k: v.double() for k, v in u.dense.items()}),
    "missing_tensor": lambda u: replace(u, dense={}),
    "extra_tensor": lambda u: replace(u, dense={**u.dense, "backdoor": torch.zeros(len(u.client_ids), 2)}),
    "row_dtype": lambda u: _rows(u, values={k: v.double() for k, v in u.rows.values.items()}),
    "row_outside": lambda u: _rows(u, index=u.rows.index + 10**6),
    "row_negative": lambda u: _rows(u, index=-1 - u.rows.index),
    "row_twice": lambda u: _rows(u, index=torch.zeros_like(u.rows.index)),
    "owner_outside": lambda u: _rows(u, owner=u.rows.owner + 99),
    "lengths": lambda u: _rows(u, weight=u.rows.weight[1:]),
    "zero_count": lambda u: replace(u, num_examples=torch.zeros_like(u.num_examples)),
    "negative_count": lambda u: replace(u, num_examples=-u.num_examples),
    "nan_count": lambda u: replace(u, num_examples=torch.full_like(u.num_examples, float("nan"))),
    "count_above_join": lambda u: replace(u, num_examples=u.num_examples + 1),
    "zero_weight": lambda u: _rows(u, weight=_set(u.rows.weight, 0.0)),
    "negative_weight": lambda u: _rows(u, weight=_set(u.rows.weight, -1.0)),
    "nan_weight": lambda u: _rows(u, weight=_set(u.rows.weight, float("nan"))),
    "impersonation": lambda u: replace(u, client_ids=HONEST[: len(u.client_ids)].copy()),
    "counts_per_client": lambda u: replace(u, num_examples=u.num_examples[:1]),
}


@pytest.mark.parametrize("corrupt", list(CORRUPTIONS.values()), ids=list(CORRUPTIONS))
def test_a_malformed_update_is_refused_and_the_model_is_the_dropout_runs(corrupt) -> None:  # type: ignore[no-untyped-def]
    attacked = play(lambda m, s: [replace(m, payload=corrupt(m.payload))] if m.kind is UPDATE else None)
    refused = sum(attacked.server.rejections.updates.values()) + len(attacked.hostile.refused)
    assert refused > 0 and attacked.server.round == 2
    assert same_model(attacked, baseline())


def test_a_replayed_update_of_an_earlier_round_is_late_and_dropped() -> None:
    def replay(m: Message, server) -> list[Message] | None:  # type: ignore[no-untyped-def]
        if m.kind is not UPDATE:
            return None
        if m.round == 1:
            replay.first = m  # type: ignore[attr-defined]
            return None
        return [replace(replay.first, time=m.time)]  # type: ignore[attr-defined]

    attacked = play(replay)
    assert attacked.server.stats.late >= 3
    assert same_model(attacked, baseline(from_round=2))


def test_an_update_sent_twice_counts_once() -> None:
    twice = play(lambda m, s: [m, m] if m.kind is UPDATE else None)
    once = play(lambda m, s: None)
    assert twice.server.stats.late == 2 * 3 and same_model(twice, once)


def test_an_update_for_clients_split_across_messages_is_judged_per_client() -> None:
    def split(m: Message, server) -> list[Message] | None:  # type: ignore[no-untyped-def]
        if m.kind is not UPDATE:
            return None
        first, rest = m.part(np.array([0])), m.part(np.array([1, 2]))
        return [replace(first, payload=CORRUPTIONS["nan_row"](first.payload)), rest]

    attacked = play(split)
    assert attacked.server.rejections.updates["non_finite"] == 2  # one client, two rounds
    assert attacked.server.stats.aggregated == 2 * (len(HONEST) + 2)
