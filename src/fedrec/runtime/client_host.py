"""The client side: a worker that hosts one or more clients.

A user's device hosts one client; a simulation hosts a whole cohort in one worker, so that a broadcast
reaches the task as one batch and trains in batched tensor operations. Either way each client's data and
private state stay with its host, and what leaves is only what the task puts in an update.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from fedrec.runtime.devices import DeviceProfiles
from fedrec.runtime.message import SERVER, Message, MessageKind, payload_nbytes
from fedrec.runtime.protocols import ClientTrainer, JoinInfo
from fedrec.runtime.worker import Worker, handles


class ClientHost(Worker):
    """The worker that hosts clients (one per device in a cluster, all of them in a simulation): trains and evaluates
    them through its ``trainer`` and answers in virtual time by their ``devices``."""

    def __init__(self, client_ids: np.ndarray, trainer: ClientTrainer, devices: DeviceProfiles | None = None):
        self.client_ids = np.sort(np.asarray(client_ids, dtype=np.int64))
        self.trainer = trainer
        self.devices = devices or DeviceProfiles.uniform(self.client_ids)
        self.finished = False

    def join(self, now: float = 0.0) -> Message:
        """The JOIN that registers the hosted clients with their example counts, at ``now``."""
        info = JoinInfo(self.client_ids, self.trainer.num_examples(self.client_ids))
        return Message(MessageKind.JOIN, _address(self.client_ids), SERVER, 0, info, now)

    @handles(MessageKind.TRAIN, emits=[MessageKind.UPDATE, MessageKind.OFFLINE])
    def on_train(self, message: Message) -> Iterator[Message]:
        """Train; each client's update arrives when its device has downloaded, trained and uploaded it.

        A client that is offline when invited, or goes offline before its upload ends, does not answer:
        the server hears of it (OFFLINE) when it drops, as it would notice a lost connection."""
        ids = self._mine(message)
        if len(ids) == 0 or self.finished:
            return
        update = self.trainer.train(ids, message.payload, message.round)
        ids = np.asarray(getattr(update, "client_ids", ids), dtype=np.int64)  # the payload's order is the message's
        down = payload_nbytes(message.payload)
        up = np.full(len(ids), payload_nbytes(update) // len(ids))
        arrivals = message.time + self.devices.arrival_delays(ids, self.trainer.num_examples(ids), down, up)
        stays = self.devices.online_until(ids, message.time, arrivals)
        if not stays.all():
            gone = ids[~stays]
            dropped = self.devices.offline_at(gone, message.time)
            yield Message(
                MessageKind.OFFLINE, _address(gone), SERVER, message.round, None, float(dropped.min()), arrivals=dropped
            )
            positions = np.flatnonzero(stays)
            if len(positions) == 0:
                return
            ids, arrivals, update = ids[positions], arrivals[positions], update.select(positions)
        yield Message(
            MessageKind.UPDATE, _address(ids), SERVER, message.round, update, float(arrivals.min()), arrivals=arrivals
        )

    @handles(MessageKind.EVALUATE, emits=[MessageKind.METRICS])
    def on_evaluate(self, message: Message) -> Iterator[Message]:
        """Evaluate the named clients on the received model; their metric sums (no data) go back."""
        ids = self._mine(message)
        if len(ids) == 0:
            return
        sums = self.trainer.evaluate(ids, message.payload)  # measurement: no virtual time, every client
        yield Message(MessageKind.METRICS, _address(ids), SERVER, message.round, sums, message.time)

    @handles(MessageKind.FINISH, emits=[])
    def on_finish(self, message: Message) -> Iterator[Message]:
        """The run is over: stop."""
        self.finished = True
        return iter(())

    def _mine(self, message: Message) -> np.ndarray:
        wanted = np.asarray(message.receivers(), dtype=np.int64)
        return wanted[np.isin(wanted, self.client_ids)]


def _address(ids: np.ndarray) -> tuple[int, ...]:
    return tuple(ids.tolist())
