"""An extension written outside the package: a backend that runs the hosts in this process, as the built-in
one does, and counts the deliveries it makes. Registered as ``federation.backend: counting``."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fedrec.registry import BACKENDS
from fedrec.runtime.message import Message
from fedrec.transport.backends import InProcessBackend
from fedrec.transport.host import Host

DELIVERIES: list[int] = [0]  # across every backend built: the test reads them
CLOSED: list[int] = [0]


class CountingBackend:
    def __init__(self, hosts: Sequence[Host]) -> None:
        self.inner = InProcessBackend(hosts)

    def host_client_ids(self) -> list[np.ndarray]:
        return self.inner.host_client_ids()

    def deliver(self, index: int, message: Message) -> list[Message]:
        DELIVERIES[0] += 1
        return self.inner.deliver(index, message)

    def close(self) -> None:
        CLOSED[0] += 1
        self.inner.close()


BACKENDS.register("counting", CountingBackend)
