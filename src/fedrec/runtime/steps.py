"""The plain records the server keeps: its plan, the run's participation counts, and the replies one step
(a synchronous round, or an evaluation) expects and has received."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fedrec.runtime.protocols import ClientBatch


@dataclass
class ServerPlan:
    """How many versions, which are evaluated, and when an evaluation may close without every reply."""

    rounds: int
    eval_every: int = 1
    first_round: int = 1
    deadline_s: float | None = None
    quorum: float = 1.0  # share of a step's clients whose replies close it once the deadline has passed
    reply_timeout_s: float | None = None  # wall-clock seconds a cluster client may stay silent (None: forever)
    rejoin_wait_s: float | None = None  # how long a cluster with no client left waits (None: stop at once)
    max_examples: int | None = None  # what a JOIN may claim for one client (None: no bound)

    def evaluates(self, round_index: int) -> bool:
        """Whether version ``round_index`` is evaluated (every ``eval_every``, and the last)."""
        return round_index % self.eval_every == 0 or round_index == self.rounds


@dataclass
class RunStats:
    """Participation and staleness over the run, for the summary."""

    invited: int = 0
    aggregated: int = 0
    late: int = 0  # answered after their round closed, or staler than allowed
    offline: int = 0  # went offline before answering
    left: int = 0  # their connection ended during the run (a client process that stopped or was cut off)
    timed_out: int = 0  # silent for the reply timeout after TRAIN or EVALUATE: dropped from that step
    staleness_sum: float = 0.0
    staleness_max: int = 0

    def as_dict(self) -> dict[str, float]:
        """The summary's ``participation`` block."""
        mean = self.staleness_sum / self.aggregated if self.aggregated else 0.0
        return {
            "invited": self.invited,
            "aggregated": self.aggregated,
            "late": self.late,
            "offline": self.offline,
            "left": self.left,
            "timed_out": self.timed_out,
            "staleness_mean": round(mean, 4),
            "staleness_max": self.staleness_max,
        }


@dataclass
class Replies:
    """Replies expected and received for one step (a synchronous round, or an evaluation)."""

    expected: set[int] = field(default_factory=set)
    answered: set[int] = field(default_factory=set)
    payloads: list[Any] = field(default_factory=list)
    quorum: int = 0
    deadline_passed: bool = False

    def add(self, payload: ClientBatch) -> None:
        """Replies of the clients in ``payload``."""
        self.answered |= set(np.asarray(payload.client_ids).tolist())
        self.payloads.append(payload)

    def drop(self, ids: set[int]) -> None:
        """``ids`` will not answer (those that did keep their replies)."""
        self.expected -= ids - self.answered

    @property
    def outstanding(self) -> int:
        """Expected replies not yet in."""
        return len(self.expected - self.answered)

    def state_dict(self) -> dict[str, Any]:
        return {"expected": sorted(self.expected), "answered": sorted(self.answered), "payloads": list(self.payloads),
                "quorum": self.quorum, "deadline_passed": self.deadline_passed}  # fmt: skip

    @staticmethod
    def from_state(state: dict[str, Any]) -> Replies:
        """Replies as ``state_dict`` saved them."""
        return Replies(set(state["expected"]), set(state["answered"]), list(state["payloads"]), int(state["quorum"]),
                       bool(state["deadline_passed"]))  # fmt: skip

    @property
    def can_close(self) -> bool:
        """Every expected reply is in, or the deadline passed with a quorum."""
        return self.outstanding == 0 or (self.deadline_passed and len(self.answered) >= self.quorum)
