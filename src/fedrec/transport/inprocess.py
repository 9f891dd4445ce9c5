"""In-process transport: a priority queue of messages in virtual time.

Messages are delivered in ``(time, seq)`` order. A batch of replies whose clients arrive at different
times is delivered in parts, each part before the next other message, so that a server sees every
arrival in its place among the other events. A broadcast to many clients is split by host, so a host
that holds a whole cohort receives one message naming all of its receivers, and trains them together.
The transport also counts the bytes that would have crossed the network in each direction.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from fedrec.runtime.message import SERVER, Message, payload_nbytes
from fedrec.runtime.worker import Worker
from fedrec.transport.backends import Backend, InProcessBackend
from fedrec.transport.base import TrafficMeter
from fedrec.transport.host import Host


class VirtualTimeQueue:
    """Messages in flight, by ``(time, seq)``."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Message]] = []
        self._next_seq = 0

    def push(self, message: Message) -> Message:
        """Queue ``message``, stamped with the next sequence number; the stamped message."""
        stamped = message.stamped(message.time, self._next_seq)
        self._next_seq += 1
        heapq.heappush(self._heap, (stamped.time, stamped.seq, stamped))
        return stamped

    def state_dict(self) -> dict[str, Any]:
        """The messages in flight (objects: the checkpoint writer encodes them) and the next sequence number."""
        return {"messages": [entry[2] for entry in self._heap], "next_seq": self._next_seq}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._heap = [(m.time, m.seq, m) for m in state["messages"]]
        heapq.heapify(self._heap)
        self._next_seq = int(state["next_seq"])

    def pop(self) -> Message:
        """The earliest message."""
        return heapq.heappop(self._heap)[2]

    def next_time(self) -> float:
        """When the earliest message is due (inf when none is queued)."""
        return self._heap[0][0] if self._heap else math.inf

    def __len__(self) -> int:
        return len(self._heap)


class InProcessTransport:
    """Routes messages between one server and client hosts living in this process (a ``Transport``)."""

    def __init__(self, server: Worker, hosts: Sequence[Host], backend: Backend | None = None) -> None:
        """``hosts``: the client hosts; ``backend``: what runs them (default: calls them in this process)."""
        self.server = server
        self.hosts = hosts
        self.backend: Backend = backend if backend is not None else InProcessBackend(hosts)
        self.queue = VirtualTimeQueue()
        self.meter = TrafficMeter()
        self.now = 0.0
        ids = self.backend.host_client_ids()
        self._client_ids = np.concatenate(ids) if ids else np.empty(0, dtype=np.int64)
        self._host_of = np.concatenate([np.full(len(x), i) for i, x in enumerate(ids)]) if ids else self._client_ids
        order = np.argsort(self._client_ids)
        self._client_ids, self._host_of = self._client_ids[order], self._host_of[order]

    def elapsed_s(self) -> float:
        """The virtual time of the last message delivered."""
        return self.now

    def send(self, message: Message) -> None:
        """Queue a message for delivery at its time."""
        self.queue.push(message)

    def run(self, between: Callable[[], None] | None = None) -> None:
        """Deliver messages until none is left (after FINISH, or when the protocol stalls); ``between`` is
        called after each delivery, when every worker and the queue are consistent (to checkpoint)."""
        while len(self.queue):
            message = self.queue.pop()
            if message.arrivals is not None and message.receiver == SERVER:
                message = self._due_part(message)
            self._deliver(message)
            if between is not None:
                between()

    def _due_part(self, message: Message) -> Message:
        """The part of a batch of replies that arrives before the next other message; the rest waits its turn."""
        arrivals = message.arrivals
        assert arrivals is not None
        due = arrivals <= self.queue.next_time()
        if due.all():
            return message
        self.queue.push(message.part(np.flatnonzero(~due)))
        return message.part(np.flatnonzero(due))

    def _deliver(self, message: Message) -> None:
        self.now = max(self.now, message.time)
        size = payload_nbytes(message.payload)
        if message.receiver == SERVER:
            self.meter.sent_up(size, size)
            replies = self.server.handle(message)
        else:
            receivers = np.asarray(message.receivers(), dtype=np.int64)
            self.meter.sent_down(size * len(receivers), size * len(receivers))
            replies = []
            for host_index, ids in self._split_by_host(receivers):
                replies += self.backend.deliver(host_index, _readdressed(message, ids))
        for reply in replies:
            self.send(reply)

    def _split_by_host(self, receivers: np.ndarray) -> list[tuple[int, np.ndarray]]:
        pos = np.searchsorted(self._client_ids, receivers)
        pos = np.clip(pos, 0, max(0, len(self._client_ids) - 1))
        known = self._client_ids[pos] == receivers
        hosts = self._host_of[pos[known]]
        ids = receivers[known]
        return [(int(h), ids[hosts == h]) for h in np.unique(hosts)]


def _readdressed(message: Message, ids: np.ndarray) -> Message:
    return replace(message, receiver=tuple(ids.tolist()))
