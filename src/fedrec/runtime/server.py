"""The server worker: registration, checks, aggregation; a round policy decides who trains and when.

It owns no algorithm: sampling, the round policy (``runtime.rounds``: synchronous, FedBuff, secure
aggregation, or a plug-in, seen through ``RoundPolicy``), update checks, aggregation, evaluation
(``runtime.evaluation``), metric combination, checkpointing and reporting are objects it is given. ``round``
counts the aggregations so far (the model's version). Clients whose connection ends (LEAVE) are dropped for
good; clients that go offline (OFFLINE, in simulation) only from what they were doing, and may be invited
again once back online.

What a client says is checked before it is believed: a JOIN must speak for its senders with one count each,
within ``max_examples``, and a client's count is the one it first joined with; updates and metric sums are
judged per client (``check``, the metric combiner's ``implausible``). A new version that is not finite is
discarded and the model kept. In a cluster, a client silent for ``reply_timeout_s`` after TRAIN or EVALUATE
is dropped from that step, and a run whose every client left waits ``rejoin_wait_s`` for them to return
before it stops (resumable), instead of passing rounds with nobody.
"""

from __future__ import annotations

import copy
import logging
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from fedrec.runtime.evaluation import Evaluation
from fedrec.runtime.message import SERVER, Message, MessageKind
from fedrec.runtime.protocols import (
    Aggregator,
    Checkpointer,
    ClientRoster,
    Deadline,
    MetricCombiner,
    NullObserver,
    Rejections,
    ReplyTimeout,
    RoundObserver,
    Timer,
    UpdateCheck,
    Withdrawal,
)
from fedrec.runtime.rounds.base import RoundPolicy
from fedrec.runtime.rounds.sync import SyncRounds
from fedrec.runtime.sampling import ClientSampler
from fedrec.runtime.screening import join_problem, refusals, screened
from fedrec.runtime.steps import RunStats, ServerPlan
from fedrec.runtime.worker import ProtocolError, Worker, handles

log = logging.getLogger(__name__)

SILENT_STEPS = 3  # reply timeouts in a row after which a client is dropped from the run
EMITS = [MessageKind.TRAIN, MessageKind.EVALUATE, MessageKind.FINISH, MessageKind.DEADLINE]

Online = Callable[[np.ndarray, float], np.ndarray]
Budget = Callable[[int], "str | None"]  # why version r may not be made (a privacy budget spent), or None


def _state_of(part: object) -> dict[str, Any]:
    state = getattr(part, "state_dict", None)
    return state() if callable(state) else {}


def _load_state(part: object, state: dict[str, Any], *flags: bool) -> None:
    load = getattr(part, "load_state_dict", None)
    if callable(load) and state:
        load(state, *flags)


# why a client may withdraw a reply (any other reason counts as "other": a client cannot add counter keys)
WITHDRAWN_BECAUSE = ("too_large", "non_finite")


class Server(Worker):
    """The server of one run. ``model`` is the initial global model (opaque here); ``num_clients`` clients must
    join before the first round; ``online`` tells, in simulation, which clients are checked in at a time;
    ``budget`` why a version may not be made (a privacy budget spent). The round policy may speak message kinds
    of its own (``RoundPolicy.receives``/``emits``); every other kind a client sends is refused and counted.
    Raises ``ProtocolError`` only for a message the server itself could not have been sent (a programming
    error), never for what a client sends."""

    def __init__(
        self,
        model: Any,
        plan: ServerPlan,
        num_clients: int,
        sampler: ClientSampler,
        aggregator: Aggregator,
        metrics: MetricCombiner,
        checkpointer: Checkpointer | None = None,
        observer: RoundObserver | None = None,
        check: UpdateCheck | None = None,
        policy: RoundPolicy | None = None,
        online: Online | None = None,
        budget: Budget | None = None,
    ) -> None:
        self.model = model
        self.plan = plan
        self.num_clients = num_clients
        self.sampler = sampler
        self.aggregator = aggregator
        self.metrics = metrics
        self.checkpointer = checkpointer
        self.evaluations = Evaluation(plan, metrics, observer or NullObserver())
        self.check = check
        self.policy: RoundPolicy = policy or SyncRounds(plan.deadline_s, plan.quorum)
        self.online = online  # who is checked in at a time (simulation); None: every registered client
        self.budget = budget
        self.stopped: str | None = None  # why the run ended before its planned rounds
        self.clients = ClientRoster()
        self.round = plan.first_round - 1
        self.busy = np.empty(0, dtype=np.int64)  # clients training now, sorted
        self.busy_rounds = np.empty(0, dtype=np.int64)  # the round each was invited to train for
        self.started = False
        self.finished = False
        self.aggregated_rounds = 0  # versions made from at least one update (the others passed without one)
        self.rejections = Rejections()
        self.stats = RunStats()
        self.now = 0.0
        self._participants = 0
        self._final = False  # the final model's evaluation has been opened
        self._strandings = 0  # times every client left (a cluster then waits for them)
        self._silent = np.zeros(0, dtype=np.int64)  # per client id: steps in a row it let time out

    # -- handlers ---------------------------------------------------------------------------------------

    @handles(MessageKind.JOIN, emits=EMITS)
    def on_join(self, message: Message) -> Iterator[Message]:
        """Register the clients a JOIN speaks for (checked first); the first round opens once ``num_clients`` joined."""
        if self.finished:
            return
        problem = join_problem(message, self.plan.max_examples)
        if problem is not None:
            self.rejections.messages[problem[0]] += 1
            log.warning("refused a JOIN from clients %s: %s", list(message.senders()[:5]), problem[1])
            return
        ids = np.asarray(message.payload.client_ids, dtype=np.int64)
        counts = np.asarray(message.payload.num_examples, dtype=np.int64)
        changed = self.clients.changed(ids, counts)
        if changed.any():
            self.rejections.messages["count_changed"] += int(changed.sum())
            log.warning("refused the JOIN of clients %s: they joined before with other example counts",
                        ids[changed][:5].tolist())  # fmt: skip
            ids, counts = ids[~changed], counts[~changed]
        self.clients.add(ids, counts)
        if not self.started and len(self.clients) >= self.num_clients:
            self.started = True
            log.info("%d clients joined; starting at round %d", len(self.clients), self.round + 1)
            if self._evaluation_lost():
                yield from self._open_evaluation(message.time)  # its close opens the next round
            else:
                yield from self.policy.on_ready(self, message.time)

    def _evaluation_lost(self) -> bool:
        """Whether the current version was due an evaluation that never closed (the server stopped, or every
        client left, while it was open): it is opened again before the next round."""
        return self.round >= 1 and self.metrics_round != self.round and self.plan.evaluates(self.round)

    @handles(MessageKind.LEAVE, emits=EMITS)
    def on_leave(self, message: Message) -> Iterator[Message]:
        """Clients whose connection ended are dropped for good; with none left a cluster waits ``rejoin_wait_s``."""
        gone = np.fromiter(set(message.senders()), dtype=np.int64)
        gone = gone[self.clients.known(gone)]
        if not len(gone):
            return  # clients that never joined (their process left before its JOIN, or it was refused)
        self.clients.remove(gone)
        self.stats.left += len(gone)
        log.warning("%d clients left; %d remain", len(gone), len(self.clients))
        if not len(self.clients) and self.started and not self.finished and self.plan.rejoin_wait_s is not None:
            yield from self._strand(message.time)
            return
        yield from self._gone(gone, message.time)

    def _strand(self, now: float) -> Iterator[Message]:
        """Every client has left: forget the open step (its round is run again) and wait for clients."""
        assert self.plan.rejoin_wait_s is not None
        self.started = False
        self.evaluations.forget()
        self.arrived(self.busy)
        self.policy.abandon()
        self._strandings += 1
        log.warning("every client left after round %d; waiting up to %.0f s for clients to join again", self.round,
                    self.plan.rejoin_wait_s)  # fmt: skip
        yield Message(MessageKind.DEADLINE, SERVER, SERVER, self._strandings, Deadline(Timer.REJOIN),
                      now + self.plan.rejoin_wait_s)  # fmt: skip

    @handles(MessageKind.OFFLINE, emits=EMITS)
    def on_offline(self, message: Message) -> Iterator[Message]:
        """Clients that went offline (simulation) are out of what they were doing."""
        gone = self._awaited(np.asarray(message.senders(), dtype=np.int64), message.round)
        if not len(gone):
            return
        self.stats.offline += len(gone)
        yield from self._gone(gone, float(message.arrival_times().max()))

    @handles(MessageKind.DEADLINE, emits=EMITS)
    def on_deadline(self, message: Message) -> Iterator[Message]:
        """A timer the server set: a reply timeout, the rejoin wait, the evaluation's deadline, or the round
        policy's."""
        if self.finished:
            return
        if isinstance(message.payload, ReplyTimeout):
            yield from self._timed_out(message.payload, message.round, message.time)
            return
        deadline = message.payload
        if not isinstance(deadline, Deadline):
            raise ProtocolError(f"a DEADLINE carries Deadline or ReplyTimeout, not {type(deadline).__name__}")
        if deadline.timer is Timer.REJOIN:  # the wait for clients after every one left
            if not self.started and message.round == self._strandings:
                self.stopped = f"every client left after round {self.round} of {self.plan.rounds} and none came back"
                log.warning("%s within %.0f s; stopping (resume with --resume)", self.stopped, self.plan.rejoin_wait_s)
                yield from self.finish(message.time)
            return
        if deadline.timer is Timer.EVALUATION:
            self.evaluations.deadline_passed(message.round)
            yield from self._maybe_close_evaluation(message.time)
            return
        step = deadline.step if deadline.timer is Timer.ROUND else None
        yield from self.policy.on_deadline(self, message.round, step, message.time)

    @handles(MessageKind.UPDATE, emits=[*EMITS, MessageKind.UPDATE])  # UPDATE: the rest of a batch, deferred
    def on_update(self, message: Message) -> Iterator[Message]:
        """Each client's update is judged on its own: a refused client loses only its own contribution."""
        if self.finished:
            return
        asked = self._solicited(message)
        if asked is None:
            return
        passed, refused = self._screen(asked, self.rejections.updates)
        self._heard(np.asarray(asked.senders(), dtype=np.int64))
        if passed is not None:
            yield from self.policy.on_updates(self, passed)
        if len(refused):
            yield from self._refuse(refused, float(message.arrival_times().max()))

    @handles(MessageKind.WITHDRAW, emits=EMITS)
    def on_withdraw(self, message: Message) -> Iterator[Message]:
        """Clients that say they cannot send their reply this round (over the message limit, diverged)."""
        notice = message.payload
        ids = np.asarray(message.senders(), dtype=np.int64)
        if self.finished or not isinstance(notice, Withdrawal) or not np.array_equal(notice.client_ids, ids):
            return
        if notice.of not in ("update", "metrics"):
            self.rejections.messages["malformed"] += 1
            return
        reason = notice.reason if notice.reason in WITHDRAWN_BECAUSE else "other"
        if notice.of == "metrics":
            ids = np.unique(ids[self.evaluations.awaits(ids, message.round)])
        else:
            ids = ids[self.invited_round(ids) == message.round]
        if not len(ids):  # nobody waits for these replies: the notice changes nothing
            return
        log.warning("clients %s withdrew their %s for round %d: %s", ids[:5].tolist(), notice.of, message.round, reason)
        if notice.of == "metrics":
            self.rejections.metrics[reason] += len(ids)
            self.evaluations.drop(ids)
            yield from self._maybe_close_evaluation(message.time)
            return
        self.rejections.updates[reason] += len(ids)
        yield from self._refuse(ids, message.time)

    @handles(MessageKind.METRICS, emits=EMITS)
    def on_metrics(self, message: Message) -> Iterator[Message]:
        """Metric sums of clients the open evaluation waits for, checked per client."""
        if not self.evaluations.is_open or self.finished:
            return
        ids = np.asarray(message.senders(), dtype=np.int64)
        if not self.evaluations.awaits(ids, message.round).all():
            log.info("ignoring metrics from clients not expected now: %s", sorted(ids.tolist())[:10])
            return
        self._heard(ids)
        passed, refused = self._screen(message, self.rejections.metrics)
        if passed is not None:
            self.evaluations.add(passed.payload)
        self.evaluations.drop(refused)
        yield from self._maybe_close_evaluation(message.time)

    def parts_emit(self) -> frozenset[MessageKind]:
        return self.policy.emits

    def _policy_message(self, message: Message) -> Iterator[Message]:
        """A kind the round policy speaks (secure aggregation's stages), or one nobody here speaks."""
        if self.finished:
            return
        if message.kind not in self.policy.receives:
            if message.sender == SERVER:
                raise ProtocolError(f"Server has no handler for {message.kind.name}")
            self.rejections.updates["unexpected_kind"] += len(message.senders())
            log.warning("ignoring %s from %s: this run's round policy does not speak it", message.kind.name,
                        message.senders()[:5])  # fmt: skip
            return
        self._heard(np.asarray(message.senders(), dtype=np.int64))
        yield from self.policy.on_message(self, message)

    def handle(self, message: Message) -> list[Message]:
        """Handle ``message``; with a reply timeout, every TRAIN and EVALUATE sent is followed by its own."""
        if message.kind in self.handlers:
            replies = super().handle(message)
        else:
            replies = list(self._policy_message(message))
            undeclared = [r.kind.name for r in replies if r.kind not in {*EMITS, *self.policy.emits}]
            if undeclared:
                raise ProtocolError(f"the round policy emitted {undeclared}, which it does not declare")
        if self.plan.reply_timeout_s is None:
            return replies
        timeouts = [
            Message(
                MessageKind.DEADLINE,
                SERVER,
                SERVER,
                r.round,
                ReplyTimeout(r.kind, np.asarray(r.receivers())),
                r.time + self.plan.reply_timeout_s,
            )  # fmt: skip
            for r in replies
            if r.kind in (MessageKind.TRAIN, MessageKind.EVALUATE)
        ]
        return replies + timeouts

    def _timed_out(self, timeout: ReplyTimeout, round_index: int, now: float) -> Iterator[Message]:
        ids = np.asarray(timeout.ids, dtype=np.int64)
        if timeout.of is MessageKind.EVALUATE:
            silent = np.unique(ids[self.evaluations.awaits(ids, round_index)])
        else:
            silent = ids[self.invited_round(ids) == round_index]
            awaiting = self.policy.awaiting()  # secure aggregation: who a stage awaits
            if awaiting is not None:
                silent = silent[np.isin(silent, np.fromiter(awaiting, dtype=np.int64))]
        if not len(silent):
            return
        self.stats.timed_out += len(silent)
        self._silence(silent)
        log.warning("%d clients (%s) did not answer the %s of round %d within %.0f s; dropped from it", len(silent),
                    silent[:5].tolist(), timeout.of.name, round_index, self.plan.reply_timeout_s)  # fmt: skip
        if timeout.of is MessageKind.EVALUATE:
            self.evaluations.drop(silent)
            yield from self._maybe_close_evaluation(now)
        else:
            yield from self._refuse(silent, now)

    # -- what the round policies use (``RoundControl``) -------------------------------------------------

    def trainable_count(self) -> int:
        """Registered clients with data to train on."""
        return len(self.clients.trainable())

    def training_count(self) -> int:
        """Clients invited and not yet answered."""
        return len(self.busy)

    def report_late(self, count: int) -> None:
        """Count ``count`` replies that came too late."""
        self.stats.late += count

    def report_refused(self, reason: str, count: int) -> None:
        """Count ``count`` clients' replies refused for ``reason``."""
        self.rejections.updates[reason] += count

    def deadline(self, now: float, delay: float, step: str = "") -> Message:
        """A DEADLINE for round ``round + 1`` in ``delay`` seconds; ``step``: the policy's name for the step it
        closes."""
        return Message(MessageKind.DEADLINE, SERVER, SERVER, self.round + 1, Deadline(Timer.ROUND, step), now + delay)

    def candidates(self, now: float) -> np.ndarray:
        """Clients that could train now: registered with data, not already training, online."""
        ids = self.clients.trainable()
        ids = ids[~np.isin(ids, self.busy)]
        if self.online is not None and len(ids):
            ids = ids[self.online(ids, now)]
        return ids

    def invite(self, ids: np.ndarray, now: float) -> Message:
        """Send the current model to ``ids`` to train for round ``round + 1``."""
        ids = np.asarray(ids, dtype=np.int64)
        keep = ~np.isin(self.busy, ids)
        busy = np.concatenate([self.busy[keep], ids])
        rounds = np.concatenate([self.busy_rounds[keep], np.full(len(ids), self.round + 1, dtype=np.int64)])
        order = np.argsort(busy, kind="stable")
        self.busy, self.busy_rounds = busy[order], rounds[order]
        self.stats.invited += len(ids)
        return Message(MessageKind.TRAIN, SERVER, tuple(ids.tolist()), self.round + 1, self.model, now)

    def arrived(self, ids: np.ndarray) -> None:
        """``ids`` no longer train (answered or given up on)."""
        keep = ~np.isin(self.busy, ids)
        self.busy, self.busy_rounds = self.busy[keep], self.busy_rounds[keep]

    def invited_round(self, ids: np.ndarray) -> np.ndarray:
        """int64 ``[len(ids)]``: the round each client was invited to train for, or -1 if it is not training."""
        ids = np.asarray(ids, dtype=np.int64)
        if not len(self.busy):
            return np.full(len(ids), -1, dtype=np.int64)
        where = np.minimum(np.searchsorted(self.busy, ids), len(self.busy) - 1)
        return np.where(self.busy[where] == ids, self.busy_rounds[where], -1)

    def apply(self, updates: list[Any], now: float, staleness: list[int]) -> Iterator[Message]:
        """Aggregate ``updates`` into a new version; evaluate and checkpoint it as planned. A version that is
        not finite (values no honest training makes, overflowing the sum) is discarded: the round passes."""
        saved = copy.deepcopy(_state_of(self.aggregator))
        model = self.aggregator.aggregate(self.model, updates)
        problem = self.check.model_problem(model) if self.check is not None else None
        if problem is not None:
            _load_state(self.aggregator, saved)
            self.rejections.messages["non_finite_aggregate"] += 1
            log.warning("round %d: the aggregate is discarded (%s); the model is kept", self.round + 1, problem)
            yield from self.skip(now)
            return
        self.model = model
        self.round += 1
        self.aggregated_rounds += 1
        self._participants = len(staleness)
        self.stats.aggregated += len(staleness)
        self.stats.staleness_sum += float(sum(staleness))
        self.stats.staleness_max = max([self.stats.staleness_max, *staleness])
        self.now = now
        log.info("round %d aggregated %d updates at t=%.3f", self.round, len(staleness), now)
        if self.checkpointer is not None:
            self.checkpointer.save(self)
        if self.plan.evaluates(self.round):
            yield from self._open_evaluation(now)

    def skip(self, now: float) -> Iterator[Message]:
        """Close a round without an update: the model stays, the round counts."""
        self.round += 1
        self._participants = 0
        log.warning("round %d closed with no update; the model is unchanged", self.round)
        if self.plan.evaluates(self.round):
            yield from self._open_evaluation(now)

    def done(self) -> bool:
        """Whether the run may make no further version. No side effects (``finish`` records why it stopped)."""
        return self.round >= self.plan.rounds or self._stop_reason() is not None

    def _stop_reason(self) -> str | None:
        """Why the run stops before its planned rounds, or None."""
        if self.stopped:
            return self.stopped
        if not len(self.clients) and self.plan.rejoin_wait_s is None:
            return f"every client left after round {self.round} of {self.plan.rounds}"
        return self.budget(self.round + 1) if self.budget is not None and self.round < self.plan.rounds else None

    def finish(self, now: float) -> Iterator[Message]:
        """End the run. The final model is evaluated first, whatever ended the run, unless its figures are
        known already or nobody is left to evaluate it: the summary's metrics are the final model's."""
        if self.finished:
            return
        if self.stopped is None and self.round < self.plan.rounds:
            self.stopped = self._stop_reason()
            if self.stopped:
                log.warning(self.stopped)
        if self.metrics_round != self.round and len(self.clients) and not self.evaluating and not self._final:
            self._final = True
            log.info("evaluating the final model (round %d) before finishing", self.round)
            yield from self._open_evaluation(now)
            return  # the evaluation's close comes back here through the policy
        self.finished = True
        self.now = max(self.now, now)
        yield Message(MessageKind.FINISH, SERVER, tuple(self.clients.ids.tolist()), self.round, None, now)

    def wake(self, now: float, delay: float) -> Message:
        """A reminder to the policy (a DEADLINE without a step), to retry when nobody was online."""
        return Message(MessageKind.DEADLINE, SERVER, SERVER, self.round, Deadline(Timer.REMINDER), now + delay)

    def state_dict(self) -> dict[str, Any]:
        """Everything the next rounds depend on. ``progress``: the model, the aggregator's state (server
        optimizer moments, DP's noise round), the round policy's, and the run's counts and figures; what a
        restarted cluster server resumes from. ``in_flight``: the registry, the clients training and the open
        evaluation; a simulation, whose clients and messages are checkpointed with it, resumes these too.
        Payload objects (the model, buffered updates) are left for the checkpoint writer to encode."""
        progress = {
            "round": self.round,
            "model": self.model,
            "aggregator": _state_of(self.aggregator),
            "policy": _state_of(self.policy),
            "rejections": self.rejections.state_dict(),
            "stats": dict(vars(self.stats)),
            "aggregated_rounds": self.aggregated_rounds,
            "metrics_round": self.evaluations.metrics_round,
            "last_metrics": dict(self.evaluations.last_metrics),
            "now": self.now,
            "participants": self._participants,
            "sworn": (self.clients.sworn_ids, self.clients.sworn_counts),
        }
        in_flight = {
            "clients": (self.clients.ids, self.clients.counts),
            "busy": self.busy,
            "busy_rounds": self.busy_rounds,
            "started": self.started,
            **self.evaluations.state_dict(),
            "final": self._final,
            "stopped": self.stopped,
        }
        return {"progress": progress, "in_flight": in_flight}

    def load_state_dict(self, state: dict[str, Any], in_flight: bool = True) -> None:
        """Resume from ``state_dict()``; ``in_flight`` False keeps only the progress (a restarted server whose
        clients reconnect and join again)."""
        progress = state["progress"]
        self.round, self.model = int(progress["round"]), progress["model"]
        _load_state(self.aggregator, progress["aggregator"])
        _load_state(self.policy, progress["policy"], in_flight)
        self.rejections.load_state_dict(progress["rejections"])
        self.stats = RunStats(**progress["stats"])
        self.aggregated_rounds = int(progress["aggregated_rounds"])
        self.evaluations.metrics_round = progress["metrics_round"]
        self.evaluations.last_metrics, self.now = dict(progress["last_metrics"]), float(progress["now"])
        self._participants = int(progress["participants"])
        sworn_ids, sworn_counts = progress.get("sworn", (np.empty(0), np.empty(0)))
        self.clients.sworn_ids = np.asarray(sworn_ids, dtype=np.int64)
        self.clients.sworn_counts = np.asarray(sworn_counts, dtype=np.int64)
        if not in_flight:
            return
        flight = state["in_flight"]
        ids, counts = flight["clients"]
        self.clients.ids, self.clients.counts = np.asarray(ids, dtype=np.int64), np.asarray(counts, dtype=np.int64)
        self.busy, self.started = np.asarray(flight["busy"], dtype=np.int64), bool(flight["started"])
        rounds = flight.get("busy_rounds", np.full(len(self.busy), self.round + 1))
        self.busy_rounds = np.asarray(rounds, dtype=np.int64)
        self.evaluations.load_state_dict(flight)
        self._final = bool(flight["final"])
        self.stopped = flight["stopped"]

    def waiting_for(self) -> str:
        """What the run waits for, in words (for a server that has heard nothing for a while)."""
        if not self.started:
            return f"waiting for clients to join: {len(self.clients)} of {self.num_clients} have joined"
        waits = []
        if len(self.busy):
            waits.append(f"the updates of {len(self.busy)} clients for round {self.round + 1}")
        if self.evaluating:
            waits.append(f"the metrics of {self.evaluations.outstanding} clients for round {self.evaluations.round}")
        if not waits:
            return f"round {self.round + 1}: waiting for a client to be online"
        return "waiting for " + " and ".join(waits) + f" ({len(self.clients)} clients connected)"

    # -- internals --------------------------------------------------------------------------------------

    @property
    def evaluating(self) -> bool:
        """An evaluation is open."""
        return self.evaluations.is_open

    @property
    def last_metrics(self) -> dict[str, float]:
        """The figures of the last evaluation that closed (of version ``metrics_round``)."""
        return self.evaluations.last_metrics

    @property
    def metrics_round(self) -> int | None:
        """The version ``last_metrics`` belong to (None before any evaluation closed)."""
        return self.evaluations.metrics_round

    def _screen(self, message: Message, counter: Counter[str]) -> tuple[Message | None, np.ndarray]:
        """The part of ``message`` whose clients pass the checks, and the ids of those refused."""
        found = refusals(message, self.check, self.model, self.clients, self.metrics)
        return screened(message, found, counter)

    def _awaited(self, ids: np.ndarray, round_index: int) -> np.ndarray:
        """The clients of ``ids`` that something waits for: training for ``round_index``, or evaluating it."""
        training = (self.invited_round(ids) == round_index) | self.evaluations.awaits(ids, round_index)
        awaited: np.ndarray = ids[training]
        return awaited

    def _silence(self, ids: np.ndarray) -> None:
        """Count a step ``ids`` let pass in silence; a client silent for ``SILENT_STEPS`` steps in a row is
        dropped from the run (its process may join again), so it stops costing every round a timeout."""
        grown = int(ids.max()) + 1
        if len(self._silent) < grown:
            self._silent = np.concatenate([self._silent, np.zeros(grown - len(self._silent), dtype=np.int64)])
        self._silent[ids] += 1
        gone = ids[self._silent[ids] >= SILENT_STEPS]
        if len(gone):
            log.warning("clients %s were silent for %d steps in a row; dropped from the run", gone[:5].tolist(),
                        SILENT_STEPS)  # fmt: skip
            self.clients.remove(gone)
            self._silent[gone] = 0

    def _heard(self, ids: np.ndarray) -> None:
        ids = ids[ids < len(self._silent)]
        self._silent[ids] = 0

    def _solicited(self, message: Message) -> Message | None:
        """The part of ``message`` from clients invited to train for the round it names: an update nobody
        asked for (a replay, a duplicate, a client not training, a round it was not invited to) is late,
        and changes nothing."""
        ids = np.asarray(message.senders(), dtype=np.int64)
        asked = self.invited_round(ids) == message.round
        if asked.all():
            return message
        before = self.stats.late
        self.stats.late += int((~asked).sum())
        if before.bit_length() != self.stats.late.bit_length():  # a line each time the count doubles, not each
            log.info("dropped updates nobody asked for (round %d; %d late so far)", message.round, self.stats.late)
        if not asked.any() or not hasattr(message.payload, "select"):
            return None
        return message.part(np.flatnonzero(asked))

    def _refuse(self, ids: np.ndarray, now: float) -> Iterator[Message]:
        """Clients whose update was refused: out of the current step, still registered and evaluated."""
        self.arrived(ids)
        if self.started and not self.finished:
            yield from self.policy.on_gone(self, ids, now)

    def _gone(self, ids: np.ndarray, now: float) -> Iterator[Message]:
        self.arrived(ids)
        self.evaluations.drop(ids)
        if self.started and not self.finished:
            yield from self.policy.on_gone(self, ids, now)
            yield from self._maybe_close_evaluation(now)

    def _open_evaluation(self, now: float) -> Iterator[Message]:
        yield from self.evaluations.open(self.round, self.model, self.clients.ids, self._participants, now)

    def _maybe_close_evaluation(self, now: float) -> Iterator[Message]:
        if not self.evaluations.can_close:
            return
        recorded = self.evaluations.close(self.stats.as_dict())
        if recorded and self.checkpointer is not None and self.evaluations.metrics_round == self.round:
            self.checkpointer.save(self)  # after the history line: a resumed server evaluates again or not
        yield from self.policy.on_evaluated(self, now)
