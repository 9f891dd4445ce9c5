"""The transport seam: how messages move between the server worker and the client hosts, and what they cost.

Two implementations: ``InProcessTransport`` (a priority queue in virtual time; the simulation) and
``GrpcServerTransport`` (gRPC streams to client processes; the cluster). Both count their traffic with one
``TrafficMeter``, which the summary reports whichever ran.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from fedrec.runtime.worker import Worker


@dataclass
class TrafficMeter:
    """Bytes that crossed the network, each way: ``bytes_*`` as sent (after compression, with envelopes), and
    ``raw_*`` the tensors' own bytes they carried; ``messages`` delivered. A broadcast counts once per
    receiver. The simulation wraps nothing, so there the two agree."""

    bytes_up: int = 0
    bytes_down: int = 0
    raw_up: int = 0
    raw_down: int = 0
    messages: int = 0

    def sent_up(self, wire_bytes: int, raw_bytes: int) -> None:
        """One message from a client host to the server."""
        self.bytes_up += wire_bytes
        self.raw_up += raw_bytes
        self.messages += 1

    def sent_down(self, wire_bytes: int, raw_bytes: int) -> None:
        """One message from the server to a client host."""
        self.bytes_down += wire_bytes
        self.raw_down += raw_bytes
        self.messages += 1


@runtime_checkable
class Transport(Protocol):
    """Moves messages between ``server`` and the client hosts until the run ends."""

    server: Worker
    meter: TrafficMeter

    def run(self) -> None:
        """Deliver messages until the server finishes (or, in simulation, nothing is left to deliver)."""
        ...

    def elapsed_s(self) -> float:
        """Seconds since the run started: virtual time in simulation, the wall clock in a cluster."""
        ...
