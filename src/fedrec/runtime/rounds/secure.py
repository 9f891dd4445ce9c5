"""Synchronous rounds whose updates are aggregated under secure aggregation: the server sees only the sum.

The server invites a cohort as ``SyncRounds`` does; instead of updates the clients then run the four
stages of ``privacy.secagg`` with it (keys, sealed shares, masked vectors, reveal). Each stage waits for
every client still in it; a client that goes away is dropped from the stage, and once the masked vectors
are in, a dropped client's masks are recovered from the others' shares. The unmasked sum is decoded
(``SecureCodec``) into one update the aggregator applies. A client whose message is refused (malformed,
or speaking for others) is dropped from the round like one that left. With ``federation.policy.deadline_s`` each
stage also closes when its deadline passes, without the clients that did not answer (the wall clock's
guard against a client that hangs without disconnecting). A round that falls below its threshold passes
without an update, with the reason in a warning.

One hostile client cannot veto a round. A sealed share that does not open is reported by its receiver,
which goes on without the sender; the server excludes every reported sender (counted in
``rejections.updates["bad_share"]``, one warning naming it) and removes the masks that clients who did hold
its shares shared with it. Revealed shares are checked: each reconstructed secret must match its commitment
(a self-mask seed's SHA-256 sent with the keys; a mask key's public key), and when one does not, the server
decodes the shares robustly (Berlekamp-Welch, then subsets) and sets aside each revealer whose shares lie off
the verified polynomial (``rejections.updates["bad_reveal"]``; its own masked vector, already in the sum,
stays there, as for a client that drops out at the reveal). The round goes on while at least the threshold
of clients count; the sum is exactly theirs.

What this protocol does not defend against (it is Bonawitz et al.'s honest-but-curious variant, made
robust to garbage shares, not the malicious-secure one):

- A client that masks an arbitrary well-formed vector: the server sees only the sum, so it cannot check a
  client's update (no range proofs, no norm bound); one client can shift the aggregate at will. DP's
  clipping happens on the device, so a hostile device skips it too.
- A client that misstates its own part of the sum in other ways, with the same effect: a wrong seed of a
  pair it reveals for an excluded client (nothing public checks that seed).
- False reports: a report that a sealed share did not open cannot be checked (the server cannot open it), so
  a hostile client can have honest clients excluded, up to the roster size minus the threshold of them (a
  client that reports more is itself refused); two such clients together can make a round fail. A client
  that is reported and reports back cannot be told from its accuser: both are excluded.
- Colluding clients that stay silent at the reveal after masking with an excluded client whose mask key has
  too few shares: the pair's mask cannot be removed and the round fails.
- More wrong revealed shares of one secret than can be decoded: Berlekamp-Welch corrects up to
  (r - t) / 2 of r shares; beyond that the server tries subsets of t (all of them if there are at most 2,000,
  else 2,000 at random) and the round fails if none verifies, though t right shares may exist.
- A malicious server: it can tell some clients that u dropped and others that u survived, collect shares
  of both u's mask key and its self-mask seed and unmask u's vector (there are no signatures and no
  consistency round); it can give clients different rosters, withhold shares, or alter a sealed share so
  that an honest client is reported and excluded. Privacy holds against a server that follows the protocol,
  alone or with up to t - 1 colluding clients; nothing more.
- Sybils: a party that controls t clients of a cohort (or the sampler) can reconstruct any one's secrets.
- Traffic analysis and timing: who is in a round and when each stage arrives are visible to the server.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fedrec.privacy.secagg.costs import SecAggCosts
from fedrec.privacy.secagg.protocol import SecAggError
from fedrec.privacy.secagg.session import SecAggSession, Stage
from fedrec.runtime.message import SECURE_REPLIES, SERVER, Message, MessageKind
from fedrec.runtime.protocols import CheckpointRefused, SecureCodec
from fedrec.runtime.rounds.base import PlainPolicy, RoundControl, pass_round, ready_candidates

log = logging.getLogger(__name__)

STAGE_OF = {
    MessageKind.SECAGG_KEYS: Stage.KEYS,
    MessageKind.SECAGG_SHARES: Stage.SHARES,
    MessageKind.SECAGG_MASKED: Stage.MASKED,
    MessageKind.SECAGG_REVEAL: Stage.REVEAL,
}


SENDS = frozenset({MessageKind.SECAGG_ROSTER, MessageKind.SECAGG_ROUTED, MessageKind.SECAGG_SURVIVORS})


@dataclass
class SecureRounds(PlainPolicy):
    """``codec`` turns updates into ring vectors and the unmasked sum into what the aggregator takes;
    ``threshold``: the share of a round's cohort whose sum may be unmasked; ``deadline_s``: seconds after which
    each stage closes with whoever answered; ``costs``: the server's unmasking work in virtual seconds."""

    receives = frozenset(SECURE_REPLIES)
    emits = SENDS
    codec: SecureCodec
    threshold: float = 0.5  # share of the cohort whose sum can be unmasked (more than half, at least)
    min_survivors: int = 1  # never unmask fewer (DP splits its noise among this many)
    deadline_s: float | None = None  # each stage closes this long after it opened, with whoever answered
    costs: SecAggCosts = field(default_factory=SecAggCosts)  # the server's unmasking in virtual time
    session: SecAggSession | None = None
    cohort: np.ndarray | None = None

    def state_dict(self) -> dict[str, Any]:
        """A round that has just opened (no client has answered yet) and nothing else: a client's secrets
        never enter a checkpoint. Checkpoints are taken as a round closes, when this holds."""
        session = self.session
        if session is None:
            return {"session": None}
        if session.stage is not Stage.KEYS or session.answered:
            raise CheckpointRefused("secure aggregation is in the middle of a round")
        return {"session": {"invited": session.invited, "threshold": session.threshold, "dim": session.dim,
                            "expected": sorted(session.expected)}}  # fmt: skip

    def load_state_dict(self, state: dict[str, Any], in_flight: bool = True) -> None:
        opened = state["session"]
        if not in_flight or opened is None:
            return
        invited = np.asarray(opened["invited"], dtype=np.int64)
        self.session = SecAggSession(invited, int(opened["threshold"]), int(opened["dim"]))
        self.session.expected = set(opened["expected"])
        self.cohort = invited

    def awaiting(self) -> set[int] | None:
        """The clients the current stage still waits for (none between rounds)."""
        session = self.session
        return set() if session is None else session.expected - session.answered

    def abandon(self) -> None:
        """Forget the round in flight (every client left): its secrets are gone with its clients."""
        self.session, self.cohort = None, None

    def on_ready(self, control: RoundControl, now: float) -> Iterator[Message]:
        candidates = yield from ready_candidates(control, now)
        if candidates is None:
            return
        invited = control.sampler.sample(control.round + 1, candidates)
        needed = max(len(invited) // 2 + 1, math.ceil(self.threshold * len(invited)), self.min_survivors)
        if needed > len(invited) or len(invited) < 3:  # two clients could unmask each other's input
            log.warning("round %d: %d clients sampled, too few for secure aggregation", control.round + 1,
                        len(invited))  # fmt: skip
            yield from pass_round(self, control, now)
            return
        self.session = SecAggSession(invited, needed, self.codec.dim(control.model))
        self.cohort = invited
        yield control.invite(invited, now)
        yield from self._deadline(control, now)

    def on_message(self, control: RoundControl, message: Message) -> Iterator[Message]:
        session = self.session
        if session is None or message.round != control.round + 1 or STAGE_OF[message.kind] is not session.stage:
            log.info("ignoring a %s for round %d", message.kind.name, message.round)
            return
        senders = np.asarray(message.senders(), dtype=np.int64)
        claimed = getattr(message.payload, "client_ids", None)
        if claimed is None or not np.array_equal(np.unique(np.asarray(claimed)), np.unique(senders)):
            log.warning("refused a %s that speaks for other clients than its sender", message.kind.name)
            control.report_refused("impersonation", len(senders))
            session.drop(set(senders.tolist()))
            yield from self._advance(control, message.time)
            return
        refused = self._add(session, message)
        if refused:
            control.report_refused("secagg_protocol", len(refused))
            session.drop(refused)  # out of this round, as if they had left
        yield from self._advance(control, message.time)

    @staticmethod
    def _add(session: SecAggSession, message: Message) -> set[int]:
        """Add ``message`` to the session; if it is refused, add each of its clients' parts on their own, so
        that one client's faulty part costs only that client. Returns the refused clients."""
        try:
            session.add(message.payload)
            return set()
        except SecAggError as error:
            log.warning("refused a %s from clients %s: %s", message.kind.name, message.senders()[:5], error)
            if len(message.senders()) == 1 or not hasattr(message.payload, "select"):
                return set(message.senders())
        refused: set[int] = set()
        payload = message.payload
        for position, cid in enumerate(np.asarray(payload.client_ids).tolist()):  # only on this error path
            try:
                session.add(payload.select(np.array([position])))
            except SecAggError:
                refused.add(cid)
        return refused

    def on_updates(self, control: RoundControl, message: Message) -> Iterator[Message]:
        control.arrived(np.asarray(message.senders(), dtype=np.int64))
        control.report_late(len(message.senders()))
        log.warning("ignoring a plain update under secure aggregation from %s", message.senders()[:5])
        return iter(())

    def on_gone(self, control: RoundControl, ids: np.ndarray, now: float) -> Iterator[Message]:
        if self.session is not None:
            self.session.drop(set(ids.tolist()))
            yield from self._advance(control, now)

    def on_deadline(self, control: RoundControl, round_index: int, step: str | None, now: float) -> Iterator[Message]:
        session = self.session
        if step is None:
            if session is None:
                yield from self.on_ready(control, now)
            return
        if session is None or round_index != control.round + 1 or step != session.stage.name:
            return  # a stage that has closed already
        late = session.expected - session.answered
        log.warning("round %d: %d clients missed the %s deadline", round_index, len(late), session.stage.name)
        session.drop(late)
        yield from self._advance(control, now)

    def _deadline(self, control: RoundControl, now: float) -> Iterator[Message]:
        if self.deadline_s is not None and self.session is not None:
            yield control.deadline(now, self.deadline_s, self.session.stage.name)

    def on_evaluated(self, control: RoundControl, now: float) -> Iterator[Message]:
        yield from self.on_ready(control, now)

    def _advance(self, control: RoundControl, now: float) -> Iterator[Message]:
        session = self.session
        if session is None or not session.complete:
            return
        r = control.round + 1
        try:
            if session.stage is Stage.KEYS:
                roster = session.publish_roster()
                yield Message(MessageKind.SECAGG_ROSTER, SERVER, tuple(roster.client_ids.tolist()), r, roster, now)
            elif session.stage is Stage.SHARES:
                routed = session.route_shares()
                for v in session.sharers.tolist():  # each client gets only the shares sealed for it
                    yield Message(MessageKind.SECAGG_ROUTED, SERVER, (v,), r, routed.addressed_to(np.array([v])), now)
            elif session.stage is Stage.MASKED:
                try:
                    survivors = session.call_survivors()
                finally:
                    self._excluded(control, r, session)
                yield Message(MessageKind.SECAGG_SURVIVORS, SERVER, tuple(survivors.client_ids.tolist()), r,
                              survivors, now)  # fmt: skip
            elif session.stage is Stage.REVEAL:
                try:
                    total = session.unmask()
                finally:
                    self._bad_revealers(control, r, session)
                update = self.codec.decode(total, control.model)
                dropped = len(session.sharers) - len(session.survivors)  # the server's own work counts too
                now += self.costs.unmask(len(session.survivors), dropped, session.threshold, len(total))
                yield from self._close(control, now, [update], len(session.survivors))
                return
            yield from self._deadline(control, now)
        except SecAggError as error:
            log.warning("round %d fails secure aggregation: %s", r, error)
            yield from self._close(control, now, [], 0)

    @staticmethod
    def _excluded(control: RoundControl, r: int, session: SecAggSession) -> None:
        """Count and name each client excluded because others report that its sealed shares do not open."""
        for u in session.excluded.tolist():
            reporters = sorted(w for w, accused in session.accusations.items() if u in accused)
            log.warning("round %d: client %d is excluded (bad_share): clients %s report that its sealed shares "
                        "do not open", r, u, reporters[:5])  # fmt: skip
        if len(session.excluded):
            control.report_refused("bad_share", len(session.excluded))

    @staticmethod
    def _bad_revealers(control: RoundControl, r: int, session: SecAggSession) -> None:
        """Count and name each client whose revealed shares were found wrong (they were set aside)."""
        for c in sorted(session.bad_revealers):
            log.warning("round %d: client %d revealed shares that disagree with the committed secrets (bad_reveal);"
                        " they are set aside", r, c)  # fmt: skip
        if session.bad_revealers:
            control.report_refused("bad_reveal", len(session.bad_revealers))

    def _close(self, control: RoundControl, now: float, updates: list[object], count: int) -> Iterator[Message]:
        assert self.cohort is not None
        control.arrived(self.cohort)
        self.session, self.cohort = None, None
        if updates:
            yield from control.apply(updates, now, [0] * count)
        else:
            yield from control.skip(now)
        if not control.evaluating:
            yield from self.on_ready(control, now)
