"""The client end of the gRPC transport: a process that hosts clients, connected to the server.

It says hello, receives the run's config, builds its host once (its data and private state live for the
whole process), joins, and answers what the server sends. If the connection drops before the run
finishes (the server restarted, the network failed) it reconnects with exponential backoff and joins
again, keeping its clients' state. A refusal (wrong credential, wrong version) is final, except one the
server marks for retry (its clients still look connected: the server has not yet noticed the old
connection end).
"""

from __future__ import annotations

import logging
import queue
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

import grpc
import numpy as np

from fedrec.runtime.message import SECURE_REPLIES, SERVER, Message, MessageKind
from fedrec.runtime.protocols import Withdrawal
from fedrec.transport.codec import decode, encode
from fedrec.transport.grpc_common import HELLO, METHOD, REFUSED, WELCOME, WireOptions, control
from fedrec.transport.proto import wire_pb2 as wire

log = logging.getLogger("fedrec.client")


class Refused(Exception):
    """The server refused this client process; the reason says why."""


class Unrecoverable(Exception):
    """A failure that retrying cannot fix (TLS on one side only, a message over the server's limit); the
    message says what to change."""


class HostLike(Protocol):
    """What the client transport drives: a host that joins and handles messages."""

    client_ids: np.ndarray
    finished: bool

    def join(self, now: float = 0.0) -> Message:
        """The JOIN of the hosted clients."""
        ...

    def handle(self, message: Message) -> list[Message]:
        """Handle one message from the server; the replies."""
        ...


@dataclass(frozen=True)
class Backoff:
    first_s: float = 0.5
    max_s: float = 8.0
    give_up_after_s: float = 300.0


class GrpcClientTransport:
    """A client process's side of a cluster: one gRPC stream to the server, reconnecting with backoff; raises
    ``Refused`` when the server refuses the process and ``Unrecoverable`` when retrying cannot help."""

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
                hopeless = _tls_mismatch(exc, self.address, self.credentials is not None)
                if hopeless is not None:
                    raise Unrecoverable(hopeless) from None
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
            if first.kind == REFUSED and first.meta.get("retry"):  # e.g. its old connection not yet noticed as gone
                log.info("the server asks this process to retry: %s", first.meta.get("reason", ""))
                raise _Dropped()
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


def _tls_mismatch(exc: grpc.RpcError, address: str, tls: bool) -> str | None:
    """Why no retry can connect, when TLS is on at one end only or the certificates do not match; else None."""
    details = getattr(exc, "details", None)
    text = str(details() if callable(details) else "")
    if tls and "handshake failed" in text.lower():
        if "WRONG_VERSION_NUMBER" in text:
            return f"the server at {address} does not speak TLS: drop --tls, or start the server with --tls"
        return (
            f"the TLS handshake with {address} failed ({text.split('handshake failed')[-1][:120].strip(' :')}); "
            "check that --tls holds the ca.pem that signed the server's certificate (and, for --mtls, client.pem)"
        )
    if not tls and "Socket closed" in text and _speaks_tls(address):
        return f"the server at {address} requires TLS: pass --tls FOLDER (the folder made by `fedrec certs`)"
    return None


def _speaks_tls(address: str) -> bool:
    """Whether ``address`` answers a TLS handshake (certificates unchecked: this only tells the protocol)."""
    host, _, port = address.rpartition(":")
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=3.0) as raw:
            with context.wrap_socket(raw, server_hostname=host.strip("[]")):
                return True
    except (OSError, ValueError):
        return False


def _code(exc: grpc.RpcError) -> str:
    code = getattr(exc, "code", None)
    return str(code().name) if callable(code) else type(exc).__name__


def _send(outbox: queue.Queue[bytes | None], data: bytes, limit: int, message: Message) -> None:
    """Send ``message`` (``data`` encoded). One over the server's limit is split by clients into messages
    under it; a client whose own part is still over the limit withdraws from the round, so the server hears
    of it at once instead of waiting. A message that cannot be split or withdrawn ends the process."""
    if len(data) <= limit:
        outbox.put(data)
        return
    senders = message.senders()
    if len(senders) > 1 and hasattr(message.payload, "select"):
        half = len(senders) // 2
        for positions in (np.arange(half), np.arange(half, len(senders))):
            part = message.part(positions)
            _send(outbox, encode(part), limit, part)
        return
    size = f"{len(data) / 2**20:.1f} MiB, over the server's limit of {limit / 2**20:.0f} MiB"
    of = WITHDRAWN_REPLIES.get(message.kind)
    if of is None:
        raise Unrecoverable(f"a {message.kind.name} of {size} cannot be sent; raise distributed.max_message_mb")
    log.error("the %s of client %s for round %d is %s (distributed.max_message_mb): withdrawn from the round",
              message.kind.name, senders[0], message.round, size)  # fmt: skip
    ids = np.asarray(senders, dtype=np.int64)
    notice = Message(MessageKind.WITHDRAW, senders, SERVER, message.round, Withdrawal(ids, "too_large", of), 0.0)
    outbox.put(encode(notice))


# replies a client may withdraw when they cannot be sent, and what the server is told they were
WITHDRAWN_REPLIES = {
    MessageKind.UPDATE: "update",
    MessageKind.METRICS: "metrics",
    **{kind: "update" for kind in SECURE_REPLIES},
}


def _drain(outbox: queue.Queue[bytes | None]) -> Iterator[bytes]:
    while (data := outbox.get()) is not None:
        yield data
