"""One Transport interface and one traffic meter for the simulation and the cluster."""

from __future__ import annotations

import numpy as np

from fedrec.runtime.message import SERVER, Message, MessageKind
from fedrec.runtime.protocols import JoinInfo
from fedrec.runtime.worker import Worker, handles
from fedrec.transport.base import TrafficMeter, Transport
from fedrec.transport.grpc_common import WireOptions
from fedrec.transport.grpc_server import GrpcServerTransport
from fedrec.transport.inprocess import InProcessTransport


class Sink(Worker):
    """A server that counts JOINs and finishes after the first."""

    finished = False
    joins = 0

    @handles(MessageKind.JOIN)
    def on_join(self, message: Message) -> list[Message]:
        self.joins += 1
        self.finished = True
        return []


class Host(Worker):
    def __init__(self, ids: list[int]) -> None:
        self.client_ids = np.asarray(ids, dtype=np.int64)


def test_both_transports_are_transports_with_one_meter() -> None:
    simulated = InProcessTransport(Sink(), [Host([1, 2])])
    cluster = GrpcServerTransport(Sink(), "127.0.0.1:0", lambda meta, ids: None, {}, WireOptions())
    for transport in (simulated, cluster):
        assert isinstance(transport, Transport) and isinstance(transport.meter, TrafficMeter)


def test_the_simulation_meters_what_crosses_the_network_and_its_clock() -> None:
    server = Sink()
    transport = InProcessTransport(server, [Host([1, 2])])
    join = JoinInfo(np.array([1, 2]), np.array([3, 4]))
    transport.send(Message(MessageKind.JOIN, (1, 2), SERVER, 0, join, 2.5))
    transport.run()
    assert server.joins == 1 and transport.elapsed_s() == 2.5
    assert transport.meter == TrafficMeter(join.nbytes, 0, join.nbytes, 0, 1)


def test_a_meter_adds_each_direction_on_its_own() -> None:
    meter = TrafficMeter()
    meter.sent_up(100, 80)
    meter.sent_down(30, 20)
    meter.sent_down(30, 20)
    assert meter == TrafficMeter(bytes_up=100, bytes_down=60, raw_up=80, raw_down=40, messages=3)
