"""The host protocol: a worker that hosts clients, as the transports and backends see it."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from fedrec.runtime.message import Message


class Host(Protocol):
    """A worker that hosts clients: the transport routes messages addressed to ``client_ids`` to it."""

    client_ids: np.ndarray

    def handle(self, message: Message) -> list[Message]:
        """Handle one message addressed to some of the hosted clients; the replies."""
        ...
