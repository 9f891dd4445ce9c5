"""A client process that speaks the wire format by hand over real gRPC: it says whatever a test likes."""

from __future__ import annotations

import queue
import threading

import grpc
import numpy as np

from fedrec.runtime.message import Message
from fedrec.transport.codec import encode
from fedrec.transport.grpc_common import HELLO, METHOD, WireOptions, control
from fedrec.transport.proto import wire_pb2 as wire


class RawClient:
    def __init__(self, address: str, gzip: bool = False) -> None:
        compression = grpc.Compression.Gzip if gzip else grpc.Compression.NoCompression
        self.channel = grpc.insecure_channel(address, WireOptions().channel_options(), compression)
        self.outbox: queue.Queue[bytes | None] = queue.Queue()
        self.inbox: queue.Queue[wire.Envelope | None] = queue.Queue()
        self.call = self.channel.stream_stream(METHOD)(iter(self.outbox.get, None))
        self.ended: str | None = None
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        try:
            for data in self.call:
                self.inbox.put(wire.Envelope.FromString(data))
        except grpc.RpcError as exc:
            self.ended = exc.code().name  # type: ignore[attr-defined]
        else:
            self.ended = "OK"
        self.inbox.put(None)

    def hello(self, ids: np.ndarray, **meta: str) -> wire.Envelope | None:
        self.outbox.put(control(HELLO, ids, {"tasks": "rating", **meta}))
        return self.next()

    def send(self, message: Message | bytes) -> None:
        self.outbox.put(message if isinstance(message, bytes) else encode(message))

    def next(self, timeout: float = 30.0) -> wire.Envelope | None:
        """The next envelope from the server; None when the stream has ended."""
        return self.inbox.get(timeout=timeout)

    def close(self) -> None:
        self.outbox.put(None)
        self.call.cancel()
        self.channel.close()
