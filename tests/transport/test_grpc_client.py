"""A client's message over the server's limit: split by clients, and a client too large alone withdraws."""

from __future__ import annotations

import queue

import numpy as np
import pytest
import torch

from fedrec.payloads import ClientUpdates, RowDeltas
from fedrec.runtime.message import SERVER, Message, MessageKind
from fedrec.runtime.protocols import Withdrawal
from fedrec.transport.codec import decode, encode
from fedrec.transport.grpc_client import Unrecoverable, _send


def _updates(rows_per_client: list[int]) -> Message:
    ids = np.arange(1, len(rows_per_client) + 1, dtype=np.int64)
    owner = torch.cat([torch.full((n,), i, dtype=torch.int64) for i, n in enumerate(rows_per_client)])
    index = torch.cat([torch.arange(n) for n in rows_per_client])
    rows = RowDeltas(owner, index, torch.ones(len(owner)), {"item_emb": torch.ones(len(owner), 8)})
    update = ClientUpdates(ids, torch.ones(len(ids)), {"global_bias": torch.zeros(len(ids), 1)}, rows)
    return Message(MessageKind.UPDATE, tuple(ids.tolist()), SERVER, 3, update, 0.0)


def _sent(message: Message, limit: int) -> list[Message]:
    outbox: queue.Queue[bytes | None] = queue.Queue()
    _send(outbox, encode(message), limit, message)
    sent = []
    while not outbox.empty():
        data = outbox.get()
        assert data is not None and len(data) <= limit
        sent.append(decode(data)[0])
    return sent


def test_an_update_over_the_limit_is_split_by_clients_and_nothing_is_lost() -> None:
    message = _updates([100] * 8)
    sent = _sent(message, len(encode(message)) // 3)
    assert len(sent) > 1 and all(m.kind is MessageKind.UPDATE for m in sent)
    assert sorted(c for m in sent for c in m.payload.client_ids.tolist()) == list(range(1, 9))
    whole = ClientUpdates.concat([m.payload for m in sent])
    assert torch.equal(whole.rows.values["item_emb"], message.payload.rows.values["item_emb"])


def test_a_client_too_large_alone_withdraws_and_the_others_are_sent() -> None:
    message = _updates([10, 10, 2000, 10])
    sent = _sent(message, len(encode(_updates([400]))))
    withdrawn = [m for m in sent if m.kind is MessageKind.WITHDRAW]
    assert len(withdrawn) == 1 and withdrawn[0].senders() == (3,) and withdrawn[0].round == 3
    notice = withdrawn[0].payload
    assert isinstance(notice, Withdrawal) and notice.reason == "too_large" and notice.of == "update"
    assert sorted(c for m in sent if m.kind is MessageKind.UPDATE for c in m.senders()) == [1, 2, 4]


def test_a_join_over_the_limit_ends_the_client_saying_what_to_raise() -> None:
    join = Message(MessageKind.SECAGG_ROSTER, (1,), SERVER, 0, None, 0.0)
    with pytest.raises(Unrecoverable, match="raise distributed.max_message_mb"):
        _send(queue.Queue(), b"x" * 100, 10, join)
