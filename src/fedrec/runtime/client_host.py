"""The client side: a worker that hosts one or more clients.

A user's device hosts one client; a simulation hosts a whole cohort in one worker, so that a broadcast
reaches the task as one batch and trains in batched tensor operations. Either way each client's data and
private state stay with its host, and what leaves is only what the task puts in an update.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from fedrec.runtime.message import SERVER, Message, MessageKind, payload_nbytes
from fedrec.runtime.parts import ClientTrainer, JoinInfo
from fedrec.runtime.worker import Worker, handles


@dataclass(frozen=True)
class UniformDevices:
    """Every device computes and transfers at the same speed; gives replies a time in the virtual clock."""

    examples_per_second: float = 20_000.0
    bytes_per_second: float = 2_000_000.0

    def reply_delay(self, num_examples: np.ndarray, bytes_down: int, bytes_up: int) -> float:
        slowest = float(num_examples.max()) if len(num_examples) else 0.0
        return slowest / self.examples_per_second + (bytes_down + bytes_up) / self.bytes_per_second


class ClientHost(Worker):
    def __init__(self, client_ids: np.ndarray, trainer: ClientTrainer, devices: UniformDevices | None = None):
        self.client_ids = np.sort(np.asarray(client_ids, dtype=np.int64))
        self.trainer = trainer
        self.devices = devices or UniformDevices()
        self.finished = False

    def join(self, now: float = 0.0) -> Message:
        info = JoinInfo(self.client_ids, self.trainer.num_examples(self.client_ids))
        return Message(MessageKind.JOIN, _address(self.client_ids), SERVER, 0, info, now)

    @handles(MessageKind.TRAIN, emits=[MessageKind.UPDATE])
    def on_train(self, message: Message) -> Iterator[Message]:
        ids = self._mine(message)
        if len(ids) == 0:
            return
        update = self.trainer.train(ids, message.payload, message.round)
        yield self._reply(MessageKind.UPDATE, ids, message, update)

    @handles(MessageKind.EVALUATE, emits=[MessageKind.METRICS])
    def on_evaluate(self, message: Message) -> Iterator[Message]:
        ids = self._mine(message)
        if len(ids) == 0:
            return
        sums = self.trainer.evaluate(ids, message.payload)
        yield self._reply(MessageKind.METRICS, ids, message, sums)

    @handles(MessageKind.FINISH, emits=[])
    def on_finish(self, message: Message) -> Iterator[Message]:
        self.finished = True
        return iter(())

    def _mine(self, message: Message) -> np.ndarray:
        wanted = np.asarray(message.receivers(), dtype=np.int64)
        return wanted[np.isin(wanted, self.client_ids)]

    def _reply(self, kind: MessageKind, ids: np.ndarray, request: Message, payload: Any) -> Message:
        delay = self.devices.reply_delay(
            self.trainer.num_examples(ids),
            payload_nbytes(request.payload),
            payload_nbytes(payload) // max(1, len(ids)),
        )
        return Message(kind, _address(ids), SERVER, request.round, payload, request.time + delay)


def _address(ids: np.ndarray) -> tuple[int, ...]:
    return tuple(ids.tolist())
