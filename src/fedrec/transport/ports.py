"""Checks of a listening address before a server starts: a port in range, and free.

gRPC binds with SO_REUSEPORT, so a second server on a busy port would start "listening" and share the
port's connections with the first; a plain bind (with SO_REUSEADDR, so that connections still in TIME_WAIT
from a previous run do not count) fails while another process listens there.
"""

from __future__ import annotations

import errno
import socket

PORTS = range(1, 65536)


def port_of(address: str) -> tuple[str, int]:
    """``HOST:PORT`` -> (host, port); raises ValueError for a missing host or a port outside 1-65535."""
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"{address!r} is not HOST:PORT (for example 127.0.0.1:50051)")
    number = int(port)
    if number not in PORTS:
        raise ValueError(f"port {number} of {address!r} is out of range; choose a port from 1 to 65535")
    return host.removeprefix("[").removesuffix("]"), number


def ensure_free(address: str) -> None:
    """Raises ValueError naming the cause when nothing could listen on ``address`` now (busy, not local)."""
    host, port = port_of(address)
    try:
        family, kind, proto, _, where = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as exc:
        raise ValueError(f"cannot listen on {address}: unknown host {host!r} ({exc.strerror})") from None
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(where)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise ValueError(
                    f"port {port} is busy: another process listens on {address}; choose another port"
                ) from None
            raise ValueError(f"cannot listen on {address}: {exc.strerror}") from None
