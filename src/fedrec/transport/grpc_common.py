"""What both ends of the gRPC transport share: the method, channel options, control envelopes, addresses."""

from __future__ import annotations

from dataclasses import dataclass

import grpc
import numpy as np

from fedrec.transport.codec import PROTOCOL_VERSION
from fedrec.transport.proto import wire_pb2 as wire

SERVICE, SESSION = "fedrec.Federation", "Session"
METHOD = f"/{SERVICE}/{SESSION}"
HELLO, WELCOME, REFUSED = "control/hello", "control/welcome", "control/refused"


@dataclass(frozen=True)
class WireOptions:
    max_message_bytes: int = 256 * 1024 * 1024
    compression: bool = False
    status_every_s: float = 30.0  # a server that has heard nothing for this long says what it waits for

    @property
    def grpc_compression(self) -> grpc.Compression:
        """gzip if compression is on, else none."""
        return grpc.Compression.Gzip if self.compression else grpc.Compression.NoCompression

    def channel_options(self) -> list[tuple[str, int]]:
        """gRPC options: message size limits both ways, keep-alive pings."""
        return [
            ("grpc.max_receive_message_length", self.max_message_bytes),
            ("grpc.max_send_message_length", self.max_message_bytes),
            ("grpc.keepalive_time_ms", 10_000),  # heartbeats: a vanished peer is noticed within ~15 s
            ("grpc.keepalive_timeout_ms", 5_000),
            ("grpc.http2.ping_timeout_ms", 5_000),  # without it an unanswered ping is given up on after 60 s
            ("grpc.keepalive_permit_without_calls", 1),
            ("grpc.http2.max_pings_without_data", 0),
            ("grpc.http2.min_ping_interval_without_data_ms", 5_000),
        ]


def control(kind: str, ids: np.ndarray | None = None, meta: dict[str, str] | None = None) -> bytes:
    """A control envelope (hello, welcome, refused) naming ``ids`` with ``meta``."""
    envelope = wire.Envelope(protocol_version=PROTOCOL_VERSION, kind=kind, payload_type="none")
    if ids is not None:
        envelope.sender.extend(ids.tolist())
    envelope.meta.update(meta or {})
    data: bytes = envelope.SerializeToString()
    return data


def parse_client_ids(text: str) -> np.ndarray:
    """``"1-100,205,300-310"`` -> sorted unique ids; raises ValueError with a readable reason."""
    ids: set[int] = set()
    for part in text.split(","):
        part = part.strip()
        low, sep, high = part.partition("-")
        if not low.isdigit() or (sep and not high.isdigit()):
            raise ValueError(f"{part!r} is not a client id or a range like 1-100")
        start, stop = int(low), int(high) if sep else int(low)
        if stop < start:
            raise ValueError(f"range {part!r} runs backwards")
        ids.update(range(start, stop + 1))
    return np.array(sorted(ids), dtype=np.int64)


def parse_address(text: str) -> str:
    """``HOST:PORT`` checked; raises ``FedrecError`` naming the expected form."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"{text!r} is not HOST:PORT (for example 127.0.0.1:50051)")
    return text
