"""The protocol between the server and a round policy.

A round policy decides who is invited to train and when their updates are aggregated. It sees the server
only through ``RoundControl``: it asks (``candidates``, ``model``, ``round``), acts (``invite``, ``apply``,
``skip``, ``finish``, ``wake``, ``deadline``) and reports what it saw (``report_late``, ``report_refused``); it
never writes the server's state or counters. The server sees a policy only through ``RoundPolicy``. Neither
imports the other's module. A policy that speaks its own message kinds (secure aggregation's stages) declares
them in ``receives``/``emits``; the server routes those to ``on_message`` and knows nothing else of them.
"""

from __future__ import annotations

import logging
from collections.abc import Generator, Iterator
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from fedrec.runtime.message import Message, MessageKind
from fedrec.runtime.rounds.participation import ParticipationWeights
from fedrec.runtime.sampling import ClientSampler

if TYPE_CHECKING:
    from pydantic import BaseModel

log = logging.getLogger(__name__)

RETRY_S = 60.0  # when nobody is online to invite, look again this much later


class RoundControl(Protocol):
    """What a round policy may ask of the server, and do through it."""

    @property
    def round(self) -> int:
        """Versions of the model made so far; the policy works on version ``round + 1``."""
        ...

    @property
    def model(self) -> Any:
        """The current global model (opaque to the runtime)."""
        ...

    @property
    def sampler(self) -> ClientSampler:
        """Who a round invites among the candidates."""
        ...

    @property
    def evaluating(self) -> bool:
        """An evaluation is open: no round may open before it closes."""
        ...

    def trainable_count(self) -> int:
        """Registered clients with data to train on."""
        ...

    def training_count(self) -> int:
        """Clients invited and not yet answered."""
        ...

    def done(self) -> bool:
        """Whether the run may make no further version (planned rounds made, budget spent, nobody left). No side
        effects: asking twice gives the same answer."""
        ...

    def candidates(self, now: float) -> np.ndarray:
        """int64 ``[k]``: clients that could be invited now (registered with data, idle, online), sorted."""
        ...

    def invite(self, ids: np.ndarray, now: float) -> Message:
        """The TRAIN message that sends the current model to ``ids`` for round ``round + 1``."""
        ...

    def arrived(self, ids: np.ndarray) -> None:
        """``ids`` are no longer training (answered, or no longer awaited); anything they send later is late."""
        ...

    def apply(self, updates: list[Any], now: float, staleness: list[int]) -> Iterator[Message]:
        """Aggregate ``updates`` into version ``round + 1`` at virtual time ``now`` (seconds)."""
        ...

    def skip(self, now: float) -> Iterator[Message]:
        """Close round ``round + 1`` without an update: the model stays, the round counts."""
        ...

    def finish(self, now: float) -> Iterator[Message]:
        """End the run (after evaluating the final model, if it was not)."""
        ...

    def wake(self, now: float, delay: float) -> Message:
        """A reminder to the policy ``delay`` seconds later (``on_deadline`` with ``Timer.REMINDER``)."""
        ...

    def deadline(self, now: float, delay: float, step: str = "") -> Message:
        """A deadline for round ``round + 1`` ``delay`` seconds later; ``step`` names which of the policy's steps
        it closes (``on_deadline`` with ``Timer.ROUND``)."""
        ...

    def report_late(self, count: int) -> None:
        """``count`` client replies came after their round closed (or staler than allowed) and were dropped."""
        ...

    def report_refused(self, reason: str, count: int) -> None:
        """``count`` clients' replies were refused for ``reason`` (a short key, counted in the summary)."""
        ...


class RoundPolicy(Protocol):
    """A round policy (``SyncRounds``, ``BufferedAsync``, ``SecureRounds``, or a plug-in)."""

    receives: frozenset[MessageKind]  # kinds beyond UPDATE the policy handles itself (``on_message``)
    emits: frozenset[MessageKind]  # kinds it sends beyond TRAIN, EVALUATE, FINISH and DEADLINE

    def on_ready(self, control: RoundControl, now: float) -> Iterator[Message]:
        """The server may open a step (it started, or an evaluation closed)."""
        ...

    def abandon(self) -> None:
        """Forget the step in flight without closing it: every client left, and the server waits for them."""
        ...

    def on_updates(self, control: RoundControl, message: Message) -> Iterator[Message]:
        """Updates that passed the server's checks, from clients invited for ``message.round``."""
        ...

    def on_message(self, control: RoundControl, message: Message) -> Iterator[Message]:
        """A message of one of the kinds in ``receives``."""
        ...

    def on_gone(self, control: RoundControl, ids: np.ndarray, now: float) -> Iterator[Message]:
        """``ids`` will not answer (left, offline, refused, timed out)."""
        ...

    def on_deadline(self, control: RoundControl, round_index: int, step: str | None, now: float) -> Iterator[Message]:
        """A deadline the policy set (``step``: the name it gave) or a reminder (``step`` None) has come."""
        ...

    def on_evaluated(self, control: RoundControl, now: float) -> Iterator[Message]:
        """The evaluation the last version opened has closed."""
        ...

    def awaiting(self) -> set[int] | None:
        """The clients the open step waits for, if the policy knows better than the server's invitations
        (secure aggregation's stages); None: those invited and not yet answered."""
        ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any], in_flight: bool = True) -> None: ...


def ready_candidates(control: RoundControl, now: float) -> Generator[Message, None, np.ndarray | None]:
    """The clients a new synchronous round may invite; None when it cannot open now (an evaluation is open,
    the run is done and is finished here, or nobody is online and a reminder is sent)."""
    if control.evaluating:
        return None
    if control.done():
        yield from control.finish(now)
        return None
    candidates = control.candidates(now)
    if len(candidates) == 0:
        log.warning("nobody is online to train round %d; retrying in %.0f s", control.round + 1, RETRY_S)
        yield control.wake(now, RETRY_S)
        return None
    return candidates


def pass_round(policy: RoundPolicy, control: RoundControl, now: float) -> Iterator[Message]:
    """Close the next round without an update (it counts), then open the one after unless an evaluation opened."""
    yield from control.skip(now)
    if not control.evaluating:
        yield from policy.on_ready(control, now)


def in_arrival_order(message: Message) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the message's clients by arrival time (ties by id), and the sorted arrival times."""
    times = message.arrival_times()
    order = np.lexsort((np.asarray(message.senders()), times))
    return order, times[order]


class PlainPolicy(RoundPolicy):
    """Defaults for a policy that speaks no message kinds of its own and keeps no state of its own."""

    receives: frozenset[MessageKind] = frozenset()
    emits: frozenset[MessageKind] = frozenset()

    def on_message(self, control: RoundControl, message: Message) -> Iterator[Message]:
        """Never called: the server routes only the kinds in ``receives`` here."""
        return iter(())

    def awaiting(self) -> set[int] | None:
        return None


class PolicyContext(Protocol):
    """What building a round policy may read: the run's population and its participation weights."""

    @property
    def num_clients(self) -> int:
        """Clients in the run."""
        ...

    @property
    def clients_per_round(self) -> int:
        """How many clients a round invites (of ``num_clients``, as the configured sampling says)."""
        ...

    @property
    def seed(self) -> int:
        """The run's seed."""
        ...


class PolicySpec(Protocol):
    """A round policy a config names by its registered kind (``federation.policy: {kind: NAME, options: {...}}``),
    registered in ``fedrec.registry.POLICIES``. ``options``: the pydantic model of its options (None: it takes
    none); ``build`` makes the policy from the validated options, the run's context and its participation
    weights (FedAU, ``federation.participation_cap``)."""

    @property
    def options(self) -> type[BaseModel] | None:
        """The model its ``options`` are validated against, or None."""
        ...

    def build(self, options: Any, context: PolicyContext, participation: ParticipationWeights) -> RoundPolicy:
        """The policy of one run."""
        ...
