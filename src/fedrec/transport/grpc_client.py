"""The client end of the gRPC transport: a process that hosts clients, connected to the server.

It says hello, receives the run's config, builds its host once (its data and private state live for the
whole process), joins, and answers what the server sends. If the connection drops before the run
finishes (the server restarted, the network failed) it reconnects with exponential backoff and joins
again, keeping its clients' state. A refusal (wrong credential, wrong version) is final.
"""

from __future__ import annotations

import logging
import queue
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

import grpc
import numpy as np

from fedrec.runtime.message import Message, MessageKind
from fedrec.transport.codec import decode, encode
from fedrec.transport.grpc_common import HELLO, METHOD, REFUSED, WELCOME, WireOptions, control
from fedrec.transport.proto import wire_pb2 as wire

log = logging.getLogger("fedrec.client")


class Refused(Exception):
    """The server refused this client process; the reason says why."""


class HostLike(Protocol):
    client_ids: np.ndarray
    finished: bool

    def join(self, now: float = 0.0) -> Message: ...

    def handle(self, message: Message) -> list[Message]: ...


@dataclass(frozen=True)
class Backoff:
    first_s: float = 0.5
    max_s: float = 8.0
    give_up_after_s: float = 300.0


class GrpcClientTransport:
    def __init__(
        self,
        address: str,
        client_ids: np.ndarray,
        hello: dict[str, str],
        build_host: Callable[[dict[str, str]], HostLike],
        options: WireOptions,
        credentials: grpc.ChannelCredentials | None = None,
        backoff: Backoff = Backoff(),
    ) -> None:
        self.address = address
        self.client_ids = client_ids
        self.hello = hello
        self.build_host = build_host
        self.options = options
        self.credentials = credentials
        self.backoff = backoff
        self.host: HostLike | None = None

    def run(self) -> None:
        """Serve the run until FINISH; raises Refused, or ConnectionError once backoff gives up."""
        wait, lost_since = self.backoff.first_s, None
        while True:
            try:
                self._session()
                return
            except grpc.RpcError as exc:
                if self.host is not None and self.host.finished:
                    return
                lost_since = lost_since or time.monotonic()
                if time.monotonic() - lost_since > self.backoff.give_up_after_s:
                    raise ConnectionError(
                        f"could not reach a fedrec server at {self.address} for {self.backoff.give_up_after_s:.0f} s "
                        f"(last error: {_detail(exc)}); check the address and that both sides agree on --tls"
                    ) from None
                log.info("connection to %s lost (%s); retrying in %.1f s", self.address, _code(exc), wait)
                time.sleep(wait)
                wait = min(wait * 2, self.backoff.max_s)
            else:
                lost_since = None

    def _session(self) -> None:
        channel = (
            grpc.secure_channel(
                self.address, self.credentials, self.options.channel_options(), self.options.grpc_compression
            )
            if self.credentials
            else grpc.insecure_channel(self.address, self.options.channel_options(), self.options.grpc_compression)
        )
        outbox: queue.Queue[bytes | None] = queue.Queue()
        outbox.put(control(HELLO, self.client_ids, self.hello))
        call = channel.stream_stream(METHOD)(_drain(outbox))
        try:
            responses = iter(call)
            first = wire.Envelope.FromString(next(responses))
            if first.kind == REFUSED:
                raise Refused(first.meta.get("reason", "no reason given"))
            if first.kind != WELCOME:
                raise Refused(f"the server answered {first.kind!r} instead of a welcome")
            if self.host is None:
                self.host = self.build_host(dict(first.meta))
            limit = int(first.meta.get("max_message_bytes", self.options.max_message_bytes))
            log.info("connected to %s; hosting %d clients", self.address, len(self.client_ids))
            outbox.put(encode(self.host.join()))
            for data in responses:
                message, _ = decode(data)
                started = time.perf_counter()
                for reply in self.host.handle(message):
                    _send(outbox, encode(reply), limit, reply)
                if message.kind is MessageKind.TRAIN:
                    log.info(
                        "round %d: trained %d clients in %.2f s",
                        message.round,
                        len(message.receivers()),
                        time.perf_counter() - started,
                    )
                if self.host.finished:
                    log.info("the run is finished")
                    return
            if not self.host.finished:
                raise _Dropped()
        finally:
            outbox.put(None)
            call.cancel()
            channel.close()


class _Dropped(grpc.RpcError):  # type: ignore[misc]
    def code(self) -> grpc.StatusCode:
        return grpc.StatusCode.UNAVAILABLE


def _detail(exc: grpc.RpcError) -> str:
    details = getattr(exc, "details", None)
    text = details() if callable(details) else None
    return str(text or _code(exc)).splitlines()[0][:200]


def _code(exc: grpc.RpcError) -> str:
    code = getattr(exc, "code", None)
    return str(code().name) if callable(code) else type(exc).__name__


def _send(outbox: queue.Queue[bytes | None], data: bytes, limit: int, message: Message) -> None:
    if len(data) > limit:
        log.error(
            "%s for round %d is %.1f MiB, over the server's limit of %.0f MiB (distributed.max_message_mb); not sent",
            message.kind.name,
            message.round,
            len(data) / 2**20,
            limit / 2**20,
        )
        return
    outbox.put(data)


def _drain(outbox: queue.Queue[bytes | None]) -> Iterator[bytes]:
    while (data := outbox.get()) is not None:
        yield data
