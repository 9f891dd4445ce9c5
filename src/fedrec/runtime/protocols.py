"""The interfaces through which the server and the client hosts use the parts they are given.

The runtime knows no tensors: models, updates and metric sums are opaque objects here; the algorithms and
the tasks implement these protocols.
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from fedrec.runtime.message import MessageKind


@dataclass(frozen=True)
class JoinInfo:
    """Payload of JOIN: the clients a host speaks for and how many training examples each holds."""

    client_ids: np.ndarray
    num_examples: np.ndarray

    @property
    def nbytes(self) -> int:
        """Bytes the JOIN carries."""
        return int(self.client_ids.nbytes + self.num_examples.nbytes)


class ClientRoster:
    """The clients that joined and how many training examples each holds, as sorted arrays, so that a
    round's thousands of clients are looked up in one batched operation.

    A client's count is the one it gave at its first JOIN, for the life of the run: a client that leaves and
    joins again (a reconnecting process) must give the same count, so no one can raise its weight later."""

    def __init__(self) -> None:
        self.ids = np.empty(0, dtype=np.int64)
        self.counts = np.empty(0, dtype=np.int64)
        self.sworn_ids = np.empty(0, dtype=np.int64)  # every client that ever joined, sorted
        self.sworn_counts = np.empty(0, dtype=np.int64)  # the count each gave first

    def changed(self, ids: np.ndarray, counts: np.ndarray) -> np.ndarray:
        """bool ``[len(ids)]``: clients that joined before with another count."""
        ids, counts = np.asarray(ids, dtype=np.int64), np.asarray(counts, dtype=np.int64)
        if not len(self.sworn_ids):
            return np.zeros(len(ids), dtype=bool)
        where = np.minimum(np.searchsorted(self.sworn_ids, ids), len(self.sworn_ids) - 1)
        return np.asarray((self.sworn_ids[where] == ids) & (self.sworn_counts[where] != counts))

    def add(self, ids: np.ndarray, counts: np.ndarray) -> None:
        """Register clients (those already registered keep their count)."""
        every = np.concatenate([self.ids, np.asarray(ids, dtype=np.int64)])
        counts_all = np.concatenate([self.counts, np.asarray(counts, dtype=np.int64)])
        self.ids, first = np.unique(every, return_index=True)
        self.counts = counts_all[first]
        sworn = np.concatenate([self.sworn_ids, self.ids])
        sworn_counts = np.concatenate([self.sworn_counts, self.counts])
        self.sworn_ids, first = np.unique(sworn, return_index=True)
        self.sworn_counts = sworn_counts[first]

    def remove(self, ids: np.ndarray) -> None:
        """Unregister ``ids`` (their first counts are kept for a later JOIN)."""
        keep = ~np.isin(self.ids, ids)
        self.ids, self.counts = self.ids[keep], self.counts[keep]

    def known(self, ids: np.ndarray) -> np.ndarray:
        """bool ``[len(ids)]``: which of ``ids`` are registered."""
        where = np.minimum(np.searchsorted(self.ids, ids), max(0, len(self.ids) - 1))
        return self.ids[where] == ids if len(self.ids) else np.zeros(len(ids), dtype=bool)

    def counts_of(self, ids: np.ndarray) -> np.ndarray:
        """Counts of clients that are all known (check ``known`` first)."""
        counts: np.ndarray = self.counts[np.searchsorted(self.ids, ids)]
        return counts

    def trainable(self) -> np.ndarray:
        """Clients with data to train on (the others only evaluate)."""
        ids: np.ndarray = self.ids[self.counts > 0]
        return ids

    def __len__(self) -> int:
        return len(self.ids)

    def __iter__(self) -> Iterator[int]:
        return iter(self.ids.tolist())


class Timer(enum.Enum):
    """What a DEADLINE the server sends itself is for."""

    REMINDER = "reminder"  # the round policy looks again (nobody was online to invite)
    ROUND = "round"  # a step of the round policy closes (``Deadline.step`` names which)
    EVALUATION = "evaluation"  # the open evaluation closes with a quorum
    REJOIN = "rejoin"  # the wait for clients after every one left ends


@dataclass(frozen=True)
class Deadline:
    """Payload of the server's own DEADLINE: which timer has run out; ``step`` is the round policy's own name
    for the step it closes (secure aggregation's stage; empty for a plain round)."""

    timer: Timer
    step: str = ""


@dataclass(frozen=True)
class ReplyTimeout:
    """Payload of the server's own DEADLINE: ``ids`` were sent ``of`` (TRAIN or EVALUATE) for round ``round``
    and are dropped from that step if they have not answered by then (a cluster's silent clients)."""

    of: MessageKind
    ids: np.ndarray  # int64 [k]


@dataclass(frozen=True)
class Withdrawal:
    """Payload of WITHDRAW: clients that will not send their reply (``of``: UPDATE or METRICS) this round, and
    why, e.g. ``too_large`` (over the server's message limit) or ``non_finite`` (training diverged)."""

    client_ids: np.ndarray
    reason: str
    of: str = "update"

    @property
    def nbytes(self) -> int:
        """Bytes the notice carries."""
        return int(self.client_ids.nbytes + len(self.reason) + len(self.of))

    def select(self, positions: np.ndarray) -> Withdrawal:
        """The notice of the clients at ``positions``."""
        return Withdrawal(self.client_ids[positions], self.reason, self.of)


class Rejections:
    """Client replies refused (or withdrawn by their client), counted per client and per reason."""

    def __init__(self) -> None:
        self.updates: Counter[str] = Counter()
        self.metrics: Counter[str] = Counter()
        self.messages: Counter[str] = Counter()  # whole messages refused (unexpected kinds, bad JOINs, ...)

    @property
    def total_updates(self) -> int:
        """Client updates refused or withdrawn over the run."""
        return sum(self.updates.values())

    def as_dict(self) -> dict[str, dict[str, Any]]:
        """The summary's ``rejected_updates``, ``rejected_metrics`` and ``rejected_messages`` blocks."""
        return {
            "rejected_updates": {"total": self.total_updates, "by_reason": dict(sorted(self.updates.items()))},
            "rejected_metrics": {"total": sum(self.metrics.values()), "by_reason": dict(sorted(self.metrics.items()))},
            "rejected_messages": {"total": sum(self.messages.values()),
                                  "by_reason": dict(sorted(self.messages.items()))},
        }  # fmt: skip

    def state_dict(self) -> dict[str, dict[str, int]]:
        return {"updates": dict(self.updates), "metrics": dict(self.metrics), "messages": dict(self.messages)}

    def load_state_dict(self, state: dict[str, dict[str, int]]) -> None:
        self.updates, self.metrics = Counter(state.get("updates", {})), Counter(state.get("metrics", {}))
        self.messages = Counter(state.get("messages", {}))


class CheckpointRefused(RuntimeError):
    """A part cannot be checkpointed at this moment (the writer tries again at the next round)."""


class ClientBatch(Protocol):
    """A payload that carries one entry per client (updates, metric sums)."""

    @property
    def client_ids(self) -> np.ndarray:
        """int64 ``[n]``: the client of each entry."""
        ...


class Refusal(Protocol):
    """Why some clients of a payload (``positions`` in it; None: the whole message) are refused."""

    @property
    def reason(self) -> str:
        """A short key, counted in the summary (``implausible_magnitude``, ...)."""
        ...

    @property
    def detail(self) -> str:
        """One line for the log."""
        ...

    @property
    def positions(self) -> np.ndarray | None:
        """The refused entries of the payload, or None for the whole message."""
        ...


class UpdateCheck(Protocol):
    """Validates an incoming update (or metric sums) against the current model, per client."""

    def refusals(self, update: Any, model: Any, registered: ClientRoster) -> Sequence[Refusal]:
        """Why entries of ``update`` (or metric sums) cannot be believed against ``model`` and the clients
        ``registered``; empty when all pass."""
        ...

    def model_problem(self, model: Any) -> str | None:
        """Why a new version may not replace the model (values that are not finite), or None."""
        ...


class Aggregator(Protocol):
    """The server's aggregation rule (FedAvg with a server optimizer, DP-FedAvg, SCAFFOLD's, a plug-in's)."""

    def aggregate(self, model: Any, updates: list[Any]) -> Any:
        """The next version of ``model`` from a round's ``updates``."""
        ...


class MetricCombiner(Protocol):
    """Turns every client's metric sums into the round's figures."""

    def combine(self, sums: list[Any]) -> dict[str, float]:
        """The round's figures (``test_rmse``, ``hr@10``, ``test_accuracy``, ...) from the clients' sums."""
        ...

    def implausible(self, sums: Any) -> tuple[str | None, np.ndarray]:
        """Why the whole of ``sums`` cannot be combined (names or shapes; None: it can), and bool ``[n]``: the
        clients whose sums no honest evaluation can produce (a sum over more than the count, a count that is
        not a whole number, ...)."""
        ...


class Checkpointer(Protocol):
    """Saves the server's progress after a round."""

    def save(self, server: Any) -> None:
        """Save what resuming after ``server``'s current round needs (``server.state_dict()``)."""


class ClientTrainer(Protocol):
    """What a client host asks of its task: train or evaluate the given clients on a received model."""

    def num_examples(self, client_ids: np.ndarray) -> np.ndarray:
        """int64 ``[len(client_ids)]``: each client's training examples."""
        ...

    def train(self, client_ids: np.ndarray, model: Any, round_index: int) -> Any:
        """The clients' updates for round ``round_index`` from ``model``."""
        ...

    def evaluate(self, client_ids: np.ndarray, model: Any) -> Any:
        """The clients' metric sums on ``model``."""
        ...


class SecureCodec(Protocol):
    """Secure aggregation's view of updates: ring vectors of a fixed length, and the recovered sum decoded
    into what the aggregator takes."""

    def dim(self, model: Any) -> int:
        """Words (uint64) of each client's vector for ``model``."""
        ...

    def encode(self, updates: Any, model: Any, round_index: int) -> np.ndarray:
        """Each client's vector ``[n, dim]`` uint64 for round ``round_index``."""
        ...

    def decode(self, total: np.ndarray, model: Any) -> Any:
        """The aggregator's input from the unmasked sum ``[dim]`` uint64."""
        ...


@dataclass(frozen=True)
class RoundRecord:
    """What the server reports after an evaluated round."""

    round: int
    metrics: dict[str, float]
    num_participants: int
    virtual_time_s: float
    participation: dict[str, float] = field(default_factory=dict)  # the run's counts so far


class RoundObserver(Protocol):
    """Told of every evaluated round (the recorder: history, progress)."""

    def on_round(self, record: RoundRecord) -> None:
        """One evaluated round."""
        ...


class NullObserver:
    """Observes nothing."""

    def on_round(self, record: RoundRecord) -> None:
        """Nothing."""
        return None
