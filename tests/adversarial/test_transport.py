"""The gRPC server transport against streams that misbehave, over real gRPC on loopback (the server worker is
a small stand-in here: what is under test is the transport's own defence)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest

from fedrec.runtime.message import SERVER, Message, MessageKind
from fedrec.runtime.protocols import JoinInfo
from fedrec.runtime.worker import Worker, handles
from fedrec.transport import grpc_server
from fedrec.transport.grpc_common import HELLO, WELCOME, WireOptions, control
from fedrec.transport.grpc_server import GrpcServerTransport
from tests.adversarial.wire_client import RawClient
from tests.experiment.processes import free_port, wait_for


class Fragile(Worker):
    """A server worker that raises on every JOIN (as a handler meeting input it did not foresee would)."""

    finished = False
    joins = 0

    @handles(MessageKind.JOIN)
    def on_join(self, message: Message) -> Iterator[Message]:
        self.joins += 1
        raise ValueError("unforeseen input")

    @handles(MessageKind.LEAVE)
    def on_leave(self, message: Message) -> Iterator[Message]:
        return iter(())


@pytest.fixture
def served(monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setattr(grpc_server, "HELLO_TIMEOUT_S", 1.0)
    monkeypatch.setattr(grpc_server, "MAX_UNGREETED", 4)
    worker = Fragile()
    address = f"127.0.0.1:{free_port()}"
    options = WireOptions(max_message_bytes=2**20, status_every_s=60)
    transport = GrpcServerTransport(worker, address, lambda meta, ids: None, {}, options)
    thread = threading.Thread(target=transport.run, daemon=True)
    thread.start()
    time.sleep(0.5)
    yield transport, worker, address
    transport.stop()
    thread.join(timeout=10)


def test_a_stream_that_says_no_hello_is_closed_after_the_hello_timeout(served) -> None:  # type: ignore[no-untyped-def]
    _, _, address = served
    mute, started = RawClient(address), time.monotonic()
    assert mute.next(timeout=10) is None  # the server ended the stream
    assert 0.8 < time.monotonic() - started < 5
    mute.close()


def test_new_streams_crowd_out_the_oldest_silent_ones_so_an_honest_hello_gets_in(served) -> None:  # type: ignore[no-untyped-def]
    _, _, address = served
    mute = [RawClient(address) for _ in range(grpc_server.MAX_UNGREETED)]
    time.sleep(0.3)
    honest = RawClient(address)
    welcome = honest.hello(np.array([1, 2]))
    assert welcome is not None and welcome.kind == WELCOME
    assert mute[0].next(timeout=5) is None  # the oldest silent stream made room
    for client in [*mute, honest]:
        client.close()


def test_a_message_whose_handling_raises_is_refused_and_a_process_that_persists_is_cut_off(served) -> None:  # type: ignore[no-untyped-def]
    transport, worker, address = served
    client = RawClient(address)
    assert client.hello(np.array([7])).kind == WELCOME  # type: ignore[union-attr]
    join = Message(MessageKind.JOIN, (7,), SERVER, 0, JoinInfo(np.array([7]), np.array([3])), 0.0)
    for _ in range(grpc_server.STRIKES):
        client.send(join)
    assert client.next(timeout=10) is None and client.ended == "CANCELLED"  # disconnected after its strikes
    assert worker.joins == grpc_server.STRIKES and transport.refused["handler_error"] == grpc_server.STRIKES
    wait_for(lambda: not transport.sessions, timeout=5, what="the session to be dropped")
    second = RawClient(address)  # the server still serves
    assert second.hello(np.array([8])).kind == WELCOME  # type: ignore[union-attr]
    second.close()
    client.close()


def test_a_gzip_bomb_ends_its_own_stream_and_nothing_else(served) -> None:  # type: ignore[no-untyped-def]
    transport, worker, address = served
    bomb = RawClient(address, gzip=True)
    assert bomb.hello(np.array([9])).kind == WELCOME  # type: ignore[union-attr]
    bomb.send(bytes(64 * 2**20))  # 64 MiB of zeros, about 64 KiB on the wire; the limit is 1 MiB unpacked
    assert bomb.next(timeout=10) is None  # its stream is ended
    wait_for(lambda: not transport.sessions, timeout=5, what="the session to be dropped")
    honest = RawClient(address)
    assert honest.hello(np.array([10])).kind == WELCOME  # type: ignore[union-attr]
    assert worker.joins == 0
    for client in (bomb, honest):
        client.close()


class _Host:
    """A client host that only joins (what the reconnecting process does first)."""

    def __init__(self) -> None:
        self.client_ids, self.finished, self.built = np.array([5]), False, threading.Event()

    def join(self, now: float = 0.0) -> Message:
        self.built.set()
        return Message(MessageKind.JOIN, (5,), SERVER, 0, JoinInfo(self.client_ids, np.array([3])), now)

    def handle(self, message: Message) -> list[Message]:
        return []


def test_a_process_whose_old_connection_still_holds_its_ids_retries_until_it_is_let_in(served) -> None:  # type: ignore[no-untyped-def]
    from fedrec.transport.grpc_client import Backoff, GrpcClientTransport

    _, _, address = served
    old = RawClient(address)  # the connection the server has not yet seen end
    assert old.hello(np.array([5])).kind == WELCOME  # type: ignore[union-attr]
    refused = RawClient(address).hello(np.array([5]))
    assert refused is not None and refused.meta["retry"] == "1" and "already connected" in refused.meta["reason"]
    host = _Host()
    client = GrpcClientTransport(address, np.array([5]), {"tasks": "rating"}, lambda welcome: host, WireOptions(),
                                 backoff=Backoff(first_s=0.1, max_s=0.2, give_up_after_s=5))  # fmt: skip

    def run() -> None:
        try:
            client.run()
        except Exception:  # noqa: BLE001 - once the test's server stops, the client gives up: not under test
            pass

    threading.Thread(target=run, daemon=True).start()
    time.sleep(1.0)
    assert not host.built.is_set()  # still refused, and still trying
    old.close()
    assert host.built.wait(timeout=10)  # let in once the old connection is gone


def test_a_process_that_leaves_during_its_welcome_holds_no_ids(served) -> None:  # type: ignore[no-untyped-def]
    transport, _, address = served
    for _ in range(30):  # say hello and go at once, again and again
        quick = RawClient(address)
        quick.outbox.put(control(HELLO, np.array([11]), {"tasks": "rating"}))
        quick.close()
    wait_for(lambda: not transport.sessions, timeout=5, what="every session to be dropped")
    honest = RawClient(address)
    assert honest.hello(np.array([11])).kind == WELCOME  # type: ignore[union-attr]
    honest.close()
