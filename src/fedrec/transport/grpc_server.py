"""The server end of the gRPC transport: one bidirectional stream per client process.

A client process opens a stream, says hello (protocol version, credential, the client ids it hosts, the
tasks it can run) and is welcomed with the run's config or refused with the reason. The server worker runs
on one thread that takes messages from an inbox; each stream's reader decodes what arrives and puts it
there, and a stream that ends puts a LEAVE for its clients. Deadlines the server sets for itself become
timers on the wall clock. Broadcasts are encoded once and addressed per stream.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from concurrent import futures
from dataclasses import dataclass, field, replace
from itertools import count

import grpc
import numpy as np

from fedrec.errors import FedrecError
from fedrec.runtime.message import SERVER, Message, MessageKind, payload_nbytes
from fedrec.runtime.worker import Worker
from fedrec.transport.codec import PROTOCOL_VERSION, CodecError, decode, encode
from fedrec.transport.grpc_common import HELLO, REFUSED, SERVICE, SESSION, WELCOME, WireOptions, control
from fedrec.transport.proto import wire_pb2 as wire

log = logging.getLogger("fedrec.server")

# (hello meta, client ids) -> reason to refuse, or None
HelloCheck = Callable[[dict[str, str], np.ndarray], str | None]


@dataclass
class _Session:
    number: int
    client_ids: np.ndarray
    outbox: queue.Queue[bytes | None] = field(default_factory=queue.Queue)


@dataclass
class WireTraffic:
    """Bytes on the wire, and the raw bytes of the tensors they carried."""

    bytes_up: int = 0
    bytes_down: int = 0
    raw_up: int = 0
    raw_down: int = 0


class GrpcServerTransport:
    def __init__(
        self,
        server: Worker,
        listen: str,
        hello_check: HelloCheck,
        welcome: dict[str, str],
        options: WireOptions,
        credentials: grpc.ServerCredentials | None = None,
    ) -> None:
        self.server = server
        self.listen = listen
        self.hello_check = hello_check
        self.welcome = welcome
        self.options = options
        self.credentials = credentials
        self.inbox: queue.Queue[Message | None] = queue.Queue()
        self.sessions: dict[int, _Session] = {}
        self.traffic = WireTraffic()
        self._lock = threading.Lock()
        self._numbers = count(1)
        self._started = time.monotonic()
        self._done = threading.Event()

    def now(self) -> float:
        return time.monotonic() - self._started

    def serve(self) -> None:
        """Run until the server worker finishes and every client process has been told."""
        grpc_server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=256),
            options=[*self.options.channel_options(), ("grpc.so_reuseport", 0)],  # a busy port is refused
            maximum_concurrent_rpcs=250,
        )
        handler = grpc.stream_stream_rpc_method_handler(self._session)
        grpc_server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, {SESSION: handler}),))
        try:
            port = (
                grpc_server.add_secure_port(self.listen, self.credentials)
                if self.credentials
                else grpc_server.add_insecure_port(self.listen)
            )
        except RuntimeError:
            port = 0
        if port == 0:
            raise FedrecError(f"cannot listen on {self.listen}: the port is taken or the address is not this "
                              "machine's; choose another --listen")  # fmt: skip
        grpc_server.start()
        log.info("listening on %s; waiting for clients", self.listen)
        try:
            self._loop()
        finally:
            self._done.set()
            self._close_sessions()
            grpc_server.stop(grace=2.0).wait()

    def _loop(self) -> None:
        while not getattr(self.server, "finished", False):
            try:
                message = self.inbox.get(timeout=self.options.status_every_s)
            except queue.Empty:
                waiting = getattr(self.server, "waiting_for", None)
                log.info("%s", waiting() if callable(waiting) else "waiting for clients")
                continue
            if message is None:
                return
            for reply in self.server.handle(message):
                self._route(reply)

    def _route(self, message: Message) -> None:
        if message.receiver == SERVER:
            delay = max(0.0, message.time - self.now())
            timer = threading.Timer(delay, self.inbox.put, args=(message,))
            timer.daemon = True
            timer.start()
            return
        base = encode(replace(message, receiver=()))
        if len(base) > self.options.max_message_bytes:
            limit = self.options.max_message_bytes / 2**20
            raise FedrecError(
                f"a {message.kind.name} message of {len(base) / 2**20:.1f} MiB exceeds the limit of {limit:.0f} MiB; "
                "raise distributed.max_message_mb"
            )
        raw = payload_nbytes(message.payload)
        receivers = np.asarray(message.receivers(), dtype=np.int64)
        with self._lock:
            sessions = list(self.sessions.values())
        for session in sessions:
            ids = session.client_ids[np.isin(session.client_ids, receivers)]
            if len(ids):
                data = base + wire.Envelope(receiver=ids.tolist()).SerializeToString()  # protobuf merge appends
                self.traffic.bytes_down += len(data)
                self.traffic.raw_down += raw
                session.outbox.put(data)

    def _session(self, requests: Iterator[bytes], context: grpc.ServicerContext) -> Iterator[bytes]:
        hello = wire.Envelope.FromString(next(requests, b""))
        ids = np.array(sorted(set(hello.sender)), dtype=np.int64)
        reason = self._refusal(hello, ids)
        if reason is not None:
            log.warning("refused a client process (%s): %s", context.peer(), reason)
            yield control(REFUSED, meta={"reason": reason})
            return
        session = _Session(next(self._numbers), ids)
        with self._lock:
            self.sessions[session.number] = session
        log.info("client process %d connected from %s with %d clients", session.number, context.peer(), len(ids))
        yield control(WELCOME, meta=self.welcome)
        threading.Thread(target=self._read, args=(session, requests), daemon=True).start()
        while (data := session.outbox.get()) is not None:
            yield data

    def _refusal(self, hello: wire.Envelope, ids: np.ndarray) -> str | None:
        if hello.kind != HELLO:
            return "the first message must be a hello"
        if hello.protocol_version != PROTOCOL_VERSION:
            return f"protocol version {hello.protocol_version}; this server speaks {PROTOCOL_VERSION}: upgrade fedrec"
        if len(ids) == 0 or ids[0] < 1:
            return "a client process must host at least one client, with ids from 1"
        with self._lock:
            taken = [s.client_ids for s in self.sessions.values()]
        busy = np.intersect1d(ids, np.concatenate(taken)) if taken else np.empty(0)
        if len(busy):
            return f"clients {busy[:5].tolist()} are already connected through another process"
        return self.hello_check(dict(hello.meta), ids)

    def _read(self, session: _Session, requests: Iterator[bytes]) -> None:
        why = "its stream ended"
        try:
            for data in requests:
                self.traffic.bytes_up += len(data)
                self._accept(session, data)
        except grpc.RpcError as exc:  # e.g. RESOURCE_EXHAUSTED: it sent a message over the limit
            code, details = getattr(exc, "code", None), getattr(exc, "details", None)
            why = f"{code().name if callable(code) else 'error'}: {details() if callable(details) else exc}"
        finally:
            with self._lock:
                self.sessions.pop(session.number, None)
            session.outbox.put(None)
            if not self._done.is_set() and not getattr(self.server, "finished", False):
                log.warning("client process %d disconnected (%s); its %d clients leave the run", session.number,
                            str(why).splitlines()[0][:200], len(session.client_ids))  # fmt: skip
                ids = tuple(session.client_ids.tolist())
                self.inbox.put(Message(MessageKind.LEAVE, ids, SERVER, 0, None, self.now()))

    def _accept(self, session: _Session, data: bytes) -> None:
        try:
            message, _ = decode(data)
        except CodecError as exc:
            log.warning("client process %d sent a malformed message (%s); ignored", session.number, exc)
            return
        senders = np.asarray(message.senders(), dtype=np.int64)
        if message.kind in (MessageKind.LEAVE, MessageKind.DEADLINE) or not np.isin(senders, session.client_ids).all():
            log.warning(
                "client process %d sent %s for clients it does not host; ignored", session.number, message.kind.name
            )
            return
        self.traffic.raw_up += payload_nbytes(message.payload)
        self.inbox.put(replace(message, time=self.now()))

    def _close_sessions(self) -> None:
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:
            with self._lock:
                if not self.sessions:
                    return
            time.sleep(0.05)
        with self._lock:
            for session in self.sessions.values():
                session.outbox.put(None)

    def stop(self) -> None:
        self.inbox.put(None)
