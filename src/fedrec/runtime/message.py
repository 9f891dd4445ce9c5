"""Messages: the only thing workers exchange.

A message names its kind with an Enum (never a string), who sent it, who receives it, the round it belongs
to and a typed payload. ``(time, seq)`` orders messages in virtual time; the transport stamps ``seq`` so that
messages sent at the same instant are delivered in the order they were sent.

``sender``/``receiver`` are worker addresses: ``SERVER`` (0) or client ids (>= 1). A broadcast names a tuple
of client ids; a client host answering for several of its clients names them as the sender tuple.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

SERVER = 0

Address = int | tuple[int, ...]


class MessageKind(enum.Enum):
    """What a message is; the protocol every worker declares is over these kinds."""

    JOIN = "join"  # client -> server: I exist, with my number of training examples
    TRAIN = "train"  # server -> clients: here is the global model, train on it
    UPDATE = "update"  # clients -> server: my update to the global model
    EVALUATE = "evaluate"  # server -> clients: evaluate this global model on your test data
    METRICS = "metrics"  # clients -> server: sums of your evaluation metrics
    FINISH = "finish"  # server -> clients: the run is over
    LEAVE = "leave"  # transport -> server, for clients whose connection ended
    DEADLINE = "deadline"  # server -> itself: the current step's deadline has passed
    OFFLINE = "offline"  # client host -> server, in simulation: these clients went offline before answering
    WITHDRAW = "withdraw"  # clients -> server: we cannot send our reply this round, and why (Withdrawal)
    # secure aggregation (privacy.secagg): the update never travels in the clear
    SECAGG_KEYS = "secagg_keys"  # clients -> server: two public keys each
    SECAGG_ROSTER = "secagg_roster"  # server -> clients: every client's public keys, and the threshold
    SECAGG_SHARES = "secagg_shares"  # clients -> server: secret shares sealed for the other clients
    SECAGG_ROUTED = "secagg_routed"  # server -> one client: the sealed shares addressed to it
    SECAGG_MASKED = "secagg_masked"  # client -> server: its masked vector
    SECAGG_SURVIVORS = "secagg_survivors"  # server -> clients: whose masked vectors arrived
    SECAGG_REVEAL = "secagg_reveal"  # clients -> server: the shares that unmask the sum


# what clients send during secure aggregation's stages
SECURE_REPLIES = (
    MessageKind.SECAGG_KEYS,
    MessageKind.SECAGG_SHARES,
    MessageKind.SECAGG_MASKED,
    MessageKind.SECAGG_REVEAL,
)


@dataclass(frozen=True, eq=False)
class Message:
    kind: MessageKind
    sender: Address
    receiver: Address
    round: int
    payload: Any = None
    time: float = 0.0
    seq: int = field(default=0)
    # in simulation, a host answering for several clients gives each one's arrival time (``time`` is the
    # earliest); the transport delivers them in time order among the other messages. None: all at ``time``.
    arrivals: np.ndarray | None = None

    def arrival_times(self) -> np.ndarray:
        """float ``[len(senders)]``: when each sender's part arrives (virtual seconds); the message's time for all
        without ``arrivals``."""
        if self.arrivals is not None:
            return self.arrivals
        return np.full(len(self.senders()), self.time)

    def part(self, positions: np.ndarray) -> Message:
        """The senders at ``positions`` of a batch of replies, with their payload and arrival times, as a
        message of their own at their earliest arrival (payloads split with ``select``)."""
        senders = np.asarray(self.senders())[positions]
        payload = self.payload.select(positions) if self.payload is not None else None
        arrivals = self.arrival_times()[positions]
        return replace(self, sender=tuple(senders.tolist()), payload=payload, time=float(arrivals.min()),
                       arrivals=arrivals)  # fmt: skip

    @property
    def order_key(self) -> tuple[float, int]:
        """``(time, seq)``: the delivery order."""
        return (self.time, self.seq)

    def __lt__(self, other: Message) -> bool:
        return self.order_key < other.order_key

    def stamped(self, time: float, seq: int) -> Message:
        """The message with its delivery time and sequence number."""
        return replace(self, time=time, seq=seq)

    def receivers(self) -> tuple[int, ...]:
        """The receiving client ids (``()`` for the server)."""
        return self.receiver if isinstance(self.receiver, tuple) else (self.receiver,)

    def senders(self) -> tuple[int, ...]:
        """The sending client ids (``()`` for the server)."""
        return self.sender if isinstance(self.sender, tuple) else (self.sender,)


def payload_nbytes(payload: Any) -> int:
    """Bytes a payload would occupy on the wire (payloads report ``nbytes``; others count as empty)."""
    return int(getattr(payload, "nbytes", 0))
