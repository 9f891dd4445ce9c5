"""The server end of the gRPC transport: one bidirectional stream per client process.

A client process opens a stream, says hello (protocol version, credential, the client ids it hosts, the
tasks it can run) and is welcomed with the run's config or refused with the reason. The server worker runs
on one thread that takes messages from an inbox; each stream's reader decodes what arrives, admits only what
a client may send (``admission``) and puts it there, and a stream that ends puts a LEAVE for its clients.
Deadlines the server sets for itself become timers on the wall clock. Broadcasts are encoded once and
addressed per stream.

No client can end the run: a message that fails admission, or whose handling raises, is refused, logged and
counted (``refused``), and a process whose messages keep being refused is disconnected. A stream must say
hello within ``HELLO_TIMEOUT_S``, at most ``MAX_UNGREETED`` streams may wait to say it (a new stream closes
the one that waited longest), and a hello larger than ``MAX_HELLO_BYTES`` is refused before it is parsed.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent import futures
from dataclasses import dataclass, field, replace
from itertools import count

import grpc
import numpy as np

from fedrec.errors import FedrecError
from fedrec.runtime.message import SERVER, Message, MessageKind, payload_nbytes
from fedrec.runtime.worker import Worker
from fedrec.transport.admission import admit
from fedrec.transport.base import TrafficMeter
from fedrec.transport.codec import PROTOCOL_VERSION, encode
from fedrec.transport.grpc_common import HELLO, REFUSED, SERVICE, SESSION, WELCOME, WireOptions, control
from fedrec.transport.proto import wire_pb2 as wire

log = logging.getLogger("fedrec.server")

# (hello meta, client ids; None: check the credential alone, before the ids are read) -> reason to refuse, or None
HelloCheck = Callable[[dict[str, str], np.ndarray | None], str | None]

HELLO_TIMEOUT_S = 10.0  # a stream that has not said hello by then is closed
MAX_UNGREETED = 32  # streams that may wait to say hello at once; a new one closes the oldest
MAX_HELLO_BYTES = 8 * 2**20  # about two million client ids
STRIKES = 10  # refused messages after which a client process is disconnected


@dataclass
class _Session:
    number: int
    client_ids: np.ndarray
    context: grpc.ServicerContext | None = None
    outbox: queue.Queue[bytes | None] = field(default_factory=queue.Queue)
    strikes: int = 0
    reading: bool = False  # its reader thread runs (and removes it when its stream ends)


def _doubling(n: int) -> bool:
    """Whether the ``n``-th occurrence (n >= 1) is logged: the first ten, then the 16th, 32nd, 64th, ..."""
    return n <= 10 or n & (n - 1) == 0


def printable(text: object, limit: int = 200) -> str:
    """``text`` as one short line safe to log or send back: what a client chose (a task list, a reason, an
    exception's message about its bytes) can neither forge log lines nor fill the disk."""
    flat = "".join(c if c.isprintable() else " " for c in str(text)[: limit + 1])
    return flat[:limit] + ("..." if len(flat) > limit else "")


class GrpcServerTransport:
    """The server's side of a cluster (a ``Transport``): client processes connect over gRPC, each message is
    admitted (``admission``) before the server worker sees it, and replies go back on each process's stream.
    ``run`` serves until the server worker finishes; raises ``FedrecError`` if ``listen`` cannot be bound."""

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
        self.inbox: queue.Queue[tuple[Message, int] | None] = queue.Queue()  # (message, session number; 0: timer)
        self.sessions: dict[int, _Session] = {}
        self.meter = TrafficMeter()
        self.refused: Counter[str] = Counter()  # messages refused, by reason (rejected_messages)
        self._hellos_refused = 0
        self._ungreeted: dict[int, grpc.ServicerContext] = {}  # streams waiting for their hello, oldest first
        self._lock = threading.Lock()
        self._numbers = count(1)
        self._streams = count(1)
        self._started = time.monotonic()
        self._done = threading.Event()

    def elapsed_s(self) -> float:
        """Wall-clock seconds since the transport was made."""
        return time.monotonic() - self._started

    def now(self) -> float:
        """Wall-clock seconds since the transport was made (the server's clock)."""
        return self.elapsed_s()

    def run(self) -> None:
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
                item = self.inbox.get(timeout=self.options.status_every_s)
            except queue.Empty:
                waiting = getattr(self.server, "waiting_for", None)
                log.info("%s", waiting() if callable(waiting) else "waiting for clients")
                continue
            if item is None:
                return
            message, number = item
            try:
                replies = self.server.handle(message)
            except Exception as exc:  # noqa: BLE001 - no message may end the run
                if number == 0:
                    raise  # the server's own timers: a fault of ours, not a client's
                log.debug("handling a %s raised", message.kind.name, exc_info=True)
                self._strike(number, "handler_error", f"handling its {message.kind.name} failed: {exc!r}"[:300])
                continue
            for reply in replies:
                self._route(reply)

    def _route(self, message: Message) -> None:
        if message.receiver == SERVER:
            delay = max(0.0, message.time - self.now())
            timer = threading.Timer(delay, self.inbox.put, args=((message, 0),))
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
                self.meter.sent_down(len(data), raw)
                session.outbox.put(data)

    def _session(self, requests: Iterator[bytes], context: grpc.ServicerContext) -> Iterator[bytes]:
        hello = self._hello(requests, context)
        if hello is None:
            return
        ids, reason = self._greet(hello)
        session = _Session(next(self._numbers), ids, context)
        retry = False
        if reason is None:
            with self._lock:  # checked and taken at once: two processes cannot both claim an id
                taken = [s.client_ids for s in self.sessions.values()]
                busy = np.intersect1d(ids, np.concatenate(taken)) if taken else np.empty(0)
                if not len(busy):
                    self.sessions[session.number] = session
            if not len(busy) and not context.add_callback(lambda: self._ended_unread(session)):
                self._ended_unread(session)  # the stream ended already
            if len(busy):  # its old connection may not have been noticed as ended yet: the process retries
                reason, retry = f"clients {busy[:5].tolist()} are already connected through another process", True
        if reason is not None:
            reason = printable(reason)
            self._hellos_refused += 1
            if _doubling(self._hellos_refused):  # a storm of refused hellos writes log2(n) lines, not n
                log.warning("refused a client process (%s; %d refused so far): %s", context.peer(),
                            self._hellos_refused, reason)  # fmt: skip
            yield control(REFUSED, meta={"reason": reason, **({"retry": "1"} if retry else {})})
            return
        log.info("client process %d connected from %s with %d clients", session.number, context.peer(), len(ids))
        yield control(WELCOME, meta=self.welcome)
        with self._lock:
            session.reading = session.number in self.sessions
        if not session.reading:
            return  # its stream ended before the welcome went out
        threading.Thread(target=self._read, args=(session, requests), daemon=True).start()
        while (data := session.outbox.get()) is not None:
            yield data

    def _ended_unread(self, session: _Session) -> None:
        """A stream that ended before its reader started (its process left during the welcome): its ids are
        free again (a reader that runs frees them itself)."""
        with self._lock:
            if session.reading:
                return
            self.sessions.pop(session.number, None)
        session.outbox.put(None)

    def _hello(self, requests: Iterator[bytes], context: grpc.ServicerContext) -> wire.Envelope | None:
        """The stream's hello, read within ``HELLO_TIMEOUT_S``; None if the stream closed first. At most
        ``MAX_UNGREETED`` streams wait for their hello: a new stream closes the one that has waited longest, so
        streams that say nothing cannot keep out a client that says hello at once."""
        key = next(self._streams)
        with self._lock:
            self._ungreeted[key] = context
            oldest = next(iter(self._ungreeted.items())) if len(self._ungreeted) > MAX_UNGREETED else None
        if oldest is not None:
            log.warning("closed the stream that waited longest to say hello: %d streams wait at once", MAX_UNGREETED)
            oldest[1].cancel()
        timer = threading.Timer(HELLO_TIMEOUT_S, context.cancel)
        timer.daemon = True
        timer.start()
        try:
            data = next(requests, b"")
        except Exception:  # noqa: BLE001 - cancelled (it said nothing in time, or was crowded out) or broken
            data = None
        finally:
            timer.cancel()
            with self._lock:
                self._ungreeted.pop(key, None)
        if not data or not context.is_active():  # b"": the stream ended (it was closed, or crowded out)
            log.warning("closed a stream from %s that said no hello within %.0f s", context.peer(), HELLO_TIMEOUT_S)
            return None
        if len(data) > MAX_HELLO_BYTES:
            return wire.Envelope(kind="oversized")
        try:
            return wire.Envelope.FromString(data)
        except Exception:  # noqa: BLE001 - not an envelope
            return wire.Envelope(kind="garbled")

    def _greet(self, hello: wire.Envelope) -> tuple[np.ndarray, str | None]:
        """The client ids a hello names and why it is refused (None: welcome). The credential is checked
        before the ids are read."""
        no_ids = np.empty(0, dtype=np.int64)
        if hello.kind == "oversized":
            return no_ids, f"a hello must be under {MAX_HELLO_BYTES // 2**20} MiB"
        if hello.kind != HELLO:
            return no_ids, "the first message must be a hello"
        if hello.protocol_version != PROTOCOL_VERSION:
            version = hello.protocol_version
            return no_ids, f"protocol version {version}; this server speaks {PROTOCOL_VERSION}: upgrade fedrec"
        meta = dict(hello.meta)
        reason = self.hello_check(meta, None)
        if reason is not None:
            return no_ids, reason
        ids = np.unique(np.fromiter(hello.sender, dtype=np.int64, count=len(hello.sender)))
        if len(ids) == 0 or ids[0] < 1:
            return ids, "a client process must host at least one client, with ids from 1"
        return ids, self.hello_check(meta, ids)

    def _read(self, session: _Session, requests: Iterator[bytes]) -> None:
        why = "its stream ended"
        try:
            for data in requests:
                self.meter.bytes_up += len(data)  # every byte read counts, refused or not
                self.meter.messages += 1
                self._accept(session, data)
        except grpc.RpcError as exc:  # e.g. RESOURCE_EXHAUSTED: it sent a message over the limit
            code, details = getattr(exc, "code", None), getattr(exc, "details", None)
            text = details() if callable(details) else str(exc)
            why = f"{code().name if callable(code) else 'error'}: {text}" if text else "the connection was reset"
        finally:
            with self._lock:
                self.sessions.pop(session.number, None)
            session.outbox.put(None)
            if not self._done.is_set() and not getattr(self.server, "finished", False):
                said = printable(why.splitlines()[0])
                log.warning("client process %d disconnected (%s); its %d clients leave the run", session.number, said,
                            len(session.client_ids))  # fmt: skip
                ids = tuple(session.client_ids.tolist())
                self.inbox.put((Message(MessageKind.LEAVE, ids, SERVER, 0, None, self.now()), 0))

    def _accept(self, session: _Session, data: bytes) -> None:
        admitted = admit(data, session.client_ids)
        if isinstance(admitted, tuple):
            self._strike(session.number, *admitted)
            return
        self.meter.raw_up += payload_nbytes(admitted.payload)
        self.inbox.put((replace(admitted, time=self.now()), session.number))

    def _strike(self, number: int, reason: str, detail: str) -> None:
        """Refuse one message of client process ``number``; after ``STRIKES`` refusals, disconnect it."""
        self.refused[reason] += 1
        with self._lock:
            session = self.sessions.get(number)
        if session is None:
            return
        session.strikes += 1
        if session.strikes <= STRIKES:
            log.warning("refused a message from client process %d (%s): %s", number, reason, printable(detail))
        if session.strikes == STRIKES and session.context is not None:
            log.warning("client process %d sent %d refused messages; disconnecting it", number, STRIKES)
            session.context.cancel()

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
        """End serving (from another thread)."""
        self.inbox.put(None)
