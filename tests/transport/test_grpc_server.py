"""A server that cannot listen says so in one line (a busy port, even one another process holds)."""

from __future__ import annotations

import socket

import pytest

from fedrec.errors import FedrecError
from fedrec.transport.grpc_common import WireOptions
from fedrec.transport.grpc_server import GrpcServerTransport


def test_a_busy_port_is_refused_in_one_line() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        transport = GrpcServerTransport(object(), f"127.0.0.1:{port}", lambda meta, ids: None, {}, WireOptions())  # type: ignore[arg-type]
        with pytest.raises(FedrecError, match=f"cannot listen on 127.0.0.1:{port}: the port is taken"):
            transport.run()
