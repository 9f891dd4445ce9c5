"""The execution backend seam: where a simulation's client hosts execute (``federation.backend``).

The in-process transport owns the virtual-time queue and the routing; a ``Backend`` only runs a host's handler
for a message and returns the host's replies. ``inprocess`` calls the hosts in this process; a backend that runs
hosts elsewhere (Ray actors) implements the same three members. A backend never changes the numbers of a seeded
run: the transport decides what is delivered, and when.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np

from fedrec.runtime.message import Message
from fedrec.transport.host import Host


class Backend(Protocol):
    """Runs client hosts; host ``index`` is the ``index``-th host the backend was built with."""

    def host_client_ids(self) -> list[np.ndarray]:
        """The sorted client ids of each host, in host order."""
        ...

    def deliver(self, index: int, message: Message) -> list[Message]:
        """Hand ``message`` (addressed to some of host ``index``'s clients) to that host; its replies."""
        ...

    def close(self) -> None:
        """Release what the backend holds (processes, actors); the in-process backend holds nothing."""
        ...


BackendFactory = Callable[[Sequence[Host]], Backend]  # what ``fedrec.registry.BACKENDS`` holds


class InProcessBackend(Backend):
    """Calls each host's handlers directly, in this process (the default)."""

    def __init__(self, hosts: Sequence[Host]) -> None:
        self.hosts = list(hosts)

    def host_client_ids(self) -> list[np.ndarray]:
        return [np.asarray(h.client_ids, dtype=np.int64) for h in self.hosts]

    def deliver(self, index: int, message: Message) -> list[Message]:
        return self.hosts[index].handle(message)

    def close(self) -> None:
        return None
