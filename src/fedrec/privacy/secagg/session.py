"""The server's half of secure aggregation for one round: it routes, counts and finally unmasks the sum.

Beyond Bonawitz et al.'s honest-but-curious protocol it copes with a hostile client in two places. A client
whose sealed share another client reports (it did not open) is excluded: its masked vector is set aside, and
the pairwise masks of the clients that did mask with it are removed with its recovered mask key, or with the
pair seeds those clients reveal when its key has too few shares. A revealed share that is wrong is found
because every reconstructed secret is checked (a self-mask seed against its commitment, a mask key against
its public key) and decoded robustly when the check fails (``recovery``); its revealer is set aside
(``bad_revealers``). The masked vectors are held until the masking stage closes, because a report may arrive
after the vector of the client it names.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from fedrec.privacy.secagg import crypto
from fedrec.privacy.secagg.messages import (
    COMMITMENT_BYTES,
    REVEAL_MASK_KEY,
    REVEAL_PAIR_SEED,
    REVEAL_SELF_SEED,
    SEALED_BYTES,
    MaskedInputs,
    PublicKeys,
    RevealedShares,
    SealedShares,
    Survivors,
    concat,
    take,
)
from fedrec.privacy.secagg.protocol import SecAggError, _key
from fedrec.privacy.secagg.recovery import Check, Recovery, fits


class Stage(enum.Enum):
    """The server's stages of a secure round, in order."""

    KEYS = 0
    SHARES = 1
    MASKED = 2
    REVEAL = 3
    DONE = 4


@dataclass
class SecAggSession:
    """One round's server state. ``expected`` are the clients the current stage waits for."""

    invited: np.ndarray
    threshold: int
    dim: int
    stage: Stage = Stage.KEYS
    expected: set[int] = field(default_factory=set)
    answered: set[int] = field(default_factory=set)
    keys: list[PublicKeys] = field(default_factory=list)
    commitments: dict[int, bytes] = field(default_factory=dict)  # client -> commitment to its self-mask seed
    roster: PublicKeys | None = None
    shares: list[SealedShares] = field(default_factory=list)
    sharers: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))  # U2
    inputs: dict[int, np.ndarray] = field(default_factory=dict)  # masked vectors, until the stage closes
    accusations: dict[int, set[int]] = field(default_factory=dict)  # reporter -> senders of shares that failed
    excluded: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))  # reported sharers
    total: np.ndarray | None = None
    survivors: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))  # U3
    revealed: list[RevealedShares] = field(default_factory=list)
    bad_revealers: set[int] = field(default_factory=set)  # revealers of shares found wrong

    def __post_init__(self) -> None:
        self.expected = set(np.asarray(self.invited).tolist())

    @property
    def complete(self) -> bool:
        """Every client the stage waits for has answered (or is gone)."""
        return self.expected <= self.answered

    def drop(self, ids: set[int]) -> None:
        """``ids`` are out of the current stage (left, refused or late)."""
        self.expected -= ids - self.answered

    def add(self, payload: object) -> None:
        """Take a client message of the current stage (anything else is refused with ``SecAggError``)."""
        if self.stage is Stage.KEYS and isinstance(payload, PublicKeys):
            self.add_keys(payload)
        elif self.stage is Stage.SHARES and isinstance(payload, SealedShares):
            self.add_shares(payload)
        elif self.stage is Stage.MASKED and isinstance(payload, MaskedInputs):
            self.add_masked(payload)
        elif self.stage is Stage.REVEAL and isinstance(payload, RevealedShares):
            self.add_revealed(payload)
        else:
            raise SecAggError(f"a {type(payload).__name__} does not belong to the {self.stage.name} stage")

    def add_keys(self, keys: PublicKeys) -> None:
        """Take clients' public keys; raises ``SecAggError`` for keys of the wrong size, invalid X25519 keys or a stage
        they do not belong to."""
        if keys.cipher.shape != (len(keys.client_ids), 32) or keys.mask.shape != keys.cipher.shape:
            raise SecAggError("public keys must be 32 bytes each, one pair per client")
        if not all(crypto.valid_public(_key(k)) for k in np.concatenate([keys.cipher, keys.mask])):
            raise SecAggError("a public key is not a valid X25519 key")
        if keys.commitment.shape != (len(keys.client_ids), COMMITMENT_BYTES) or keys.commitment.dtype != np.uint8:
            raise SecAggError(f"each client must commit to its self-mask seed ({COMMITMENT_BYTES} bytes)")
        self._expect(Stage.KEYS, keys.client_ids)
        self.keys.append(keys)
        self.commitments.update(zip(keys.client_ids.tolist(), (c.tobytes() for c in keys.commitment), strict=True))

    def add_shares(self, shares: SealedShares) -> None:
        """Sealed shares, exactly one for every other client in the roster from each sender (a client that left
        someone out could make that client's masks and the server's disagree unnoticed)."""
        ids = self._roster().client_ids  # sorted
        if shares.sealed.shape != (len(shares.sender), SEALED_BYTES):
            raise SecAggError(f"sealed shares must be {SEALED_BYTES} bytes each")
        senders = shares.client_ids
        order = np.lexsort((shares.receiver, shares.sender))
        want_receiver = [ids[ids != s] for s in senders.tolist()]
        if not (
            np.isin(senders, ids).all()
            and len(order) == len(senders) * (len(ids) - 1)
            and np.array_equal(shares.sender[order], np.repeat(senders, len(ids) - 1))
            and np.array_equal(shares.receiver[order], np.concatenate(want_receiver or [ids[:0]]))
        ):
            raise SecAggError("a client's sealed shares must be one for each other client in the roster")
        self._expect(Stage.SHARES, shares.client_ids)  # counts the senders: after every check
        self.shares.append(shares)

    def add_masked(self, masked: MaskedInputs) -> None:
        """Take clients' masked vectors ``[k, dim]`` uint64 and their reports of shares that did not open; raises
        ``SecAggError`` otherwise."""
        if masked.vectors.shape != (len(masked.client_ids), self.dim) or masked.vectors.dtype != np.uint64:
            raise SecAggError(f"a masked input must be {self.dim} uint64, got {masked.vectors.shape[1:]}")
        self._check_reports(masked)
        self._expect(Stage.MASKED, masked.client_ids)
        self.inputs.update(zip(masked.client_ids.tolist(), masked.vectors, strict=True))
        for accuser, accused in zip(masked.accuser.tolist(), masked.accused.tolist(), strict=True):
            self.accusations.setdefault(accuser, set()).add(accused)

    def _check_reports(self, masked: MaskedInputs) -> None:
        """Reports come from their message's clients and name other clients that shared; no client reports more
        peers than the roster holds beyond the threshold (an honest client of a round that can still reach its
        threshold cannot: this bounds what one hostile client's false reports exclude)."""
        accuser, accused = np.asarray(masked.accuser), np.asarray(masked.accused)
        if accuser.shape != accused.shape or not np.isin(accuser, masked.client_ids).all():
            raise SecAggError("reports of bad shares must come from the clients of the message")
        if (accuser == accused).any() or not np.isin(accused, self.sharers).all():
            raise SecAggError("a report of a bad share names a client that sent none")
        most = len(self._roster().client_ids) - self.threshold
        for cid in np.unique(accuser).tolist():
            count = len(np.unique(accused[accuser == cid]))
            if count > most:
                raise SecAggError(f"client {cid} reports {count} peers' shares as bad, more than the {most} it can "
                                  f"while the round can still reach its threshold")  # fmt: skip

    def add_revealed(self, revealed: RevealedShares) -> None:
        """Take clients' revealed shares; raises ``SecAggError`` for shares of the wrong size or of secrets the stage
        did not ask for."""
        if revealed.share.shape != (len(revealed.owner), crypto.SHARE_BYTES) or revealed.share.dtype != np.uint8:
            raise SecAggError(f"revealed shares must be {crypto.SHARE_BYTES} bytes each")
        if not np.isin(revealed.secret, (REVEAL_MASK_KEY, REVEAL_SELF_SEED, REVEAL_PAIR_SEED)).all():
            raise SecAggError("a revealed share names an unknown secret")
        if not np.isin(revealed.owner, self.sharers).all():
            raise SecAggError("a revealed share belongs to a client that did not share")
        self._expect(Stage.REVEAL, revealed.client_ids)
        self.revealed.append(revealed)

    # -- stage transitions: each returns what the server sends next ----------------------------------

    def publish_roster(self) -> PublicKeys:
        """Every client's public keys, sorted by id, with the threshold (the commitments stay with the server)."""
        keys: PublicKeys = concat(self._gathered(Stage.KEYS))
        no_commitments = np.empty((0, COMMITMENT_BYTES), dtype=np.uint8)  # the server keeps them
        roster = replace(take(keys, np.argsort(keys.client_ids)), threshold=self.threshold, commitment=no_commitments)
        self.roster = roster
        self._next(Stage.SHARES, roster.client_ids)
        return roster

    def route_shares(self) -> SealedShares:
        """All sealed shares from clients that shared (each client gets those addressed to it)."""
        every: SealedShares = concat(self._gathered(Stage.SHARES))
        self.sharers = every.client_ids
        self._next(Stage.MASKED, self.sharers)
        return every.addressed_to(self.sharers)  # shares for clients that dropped already are useless

    def call_survivors(self) -> Survivors:
        """The clients whose masked inputs count: those that sent one, less every sharer reported for a bad
        share (``excluded``, set before the threshold is checked)."""
        accused = set().union(*self.accusations.values()) if self.accusations else set()
        self.excluded = np.asarray(sorted(accused), dtype=np.int64)
        alive = self.answered - accused
        if len(alive) < self.threshold:
            unless = f" ({len(self.answered & accused)} of them excluded for bad shares)" if accused else ""
            raise SecAggError(
                f"{len(self.answered)} masked inputs arrived{unless}, fewer than the threshold {self.threshold}"
            )
        self.survivors = np.asarray(sorted(alive), dtype=np.int64)
        total = np.zeros(self.dim, dtype=np.uint64)
        for u in self.survivors.tolist():
            total += self.inputs[u]
        self.total, self.inputs = total, {}
        self._next(Stage.REVEAL, self.survivors)
        return Survivors(self.survivors, self.excluded)

    def unmask(self) -> np.ndarray:
        """The survivors' sum: their masked inputs minus self masks and the masks they share with the others.
        Revealers found to reveal wrong shares end up in ``bad_revealers`` (also when this raises)."""
        revealed = self._gathered(Stage.REVEAL)
        assert self.total is not None and self.roster is not None
        total = self.total.copy()
        x_of = {int(c): i + 1 for i, c in enumerate(self.roster.client_ids)}
        mask_pk = {int(c): _key(k) for c, k in zip(self.roster.client_ids, self.roster.mask, strict=True)}
        recovery = Recovery(concat(revealed), x_of, self.threshold, self.bad_revealers)
        alive = self.survivors.tolist()
        for u in alive:
            seed = recovery.secret(u, REVEAL_SELF_SEED, self._seed_check(u), "self-mask seed")
            total -= crypto.prg(seed, self.dim)
        excluded = set(self.excluded.tolist())
        for v in sorted(set(self.sharers.tolist()) - set(alive)):
            maskers = [u for u in alive if v not in self.accusations.get(u, ())]  # those holding v's shares
            seeds = self._pair_seeds(recovery, v, maskers, mask_pk, v in excluded)
            for u, seed in zip(maskers, seeds, strict=True):
                mask = crypto.prg(seed, self.dim)
                if u < v:
                    total -= mask  # u added +PRG(s_uv)
                else:
                    total += mask
        self.stage = Stage.DONE
        return total

    def _pair_seeds(
        self, recovery: Recovery, v: int, maskers: list[int], mask_pk: dict[int, bytes], excluded: bool
    ) -> list[bytes]:
        """The seeds of the masks ``maskers`` share with ``v``: from ``v``'s recovered mask key, or, for an
        excluded ``v`` whose key cannot be recovered, as each masker revealed it."""
        if not maskers:
            return []
        check = self._key_check(mask_pk[v])
        try:
            key = crypto.private_from_bytes(recovery.secret(v, REVEAL_MASK_KEY, check, "mask key"))
        except SecAggError:
            if not excluded:
                raise
            seeds = [recovery.pair_seed(u, v) for u in maskers]
            missing = [u for u, seed in zip(maskers, seeds, strict=True) if seed is None]
            if missing:
                raise SecAggError(f"clients {missing[:5]} masked with the excluded client {v} but revealed no "
                                  f"seed of the pair, and {v}'s mask key cannot be recovered") from None  # fmt: skip
            return [seed for seed in seeds if seed is not None]
        return [crypto.agree(key, mask_pk[u], crypto.MASK_LABEL) for u in maskers]

    def _seed_check(self, owner: int) -> Check:
        commitment = self.commitments[owner]

        def check(value: int) -> bool:
            raw = fits(value)
            return raw is not None and crypto.commit(raw) == commitment

        return check

    @staticmethod
    def _key_check(public: bytes) -> Check:
        def check(value: int) -> bool:
            raw = fits(value)
            return raw is not None and crypto.public_of(raw) == public

        return check

    # -- internals --------------------------------------------------------------------------------------

    def _expect(self, stage: Stage, ids: np.ndarray) -> None:
        got = set(np.asarray(ids).tolist())
        if self.stage is not stage:
            raise SecAggError(f"a {stage.name} message during the {self.stage.name} stage")
        if not got <= self.expected - self.answered:
            raise SecAggError(f"{stage.name} from clients not expected now: {sorted(got - self.expected)[:5]}")
        self.answered |= got

    def _gathered(self, stage: Stage) -> list[Any]:
        alive = len(self.answered)
        if alive < self.threshold:
            raise SecAggError(
                f"{alive} clients answered the {stage.name} stage, fewer than the threshold {self.threshold}"
            )
        if stage is Stage.KEYS:
            return self.keys
        return self.shares if stage is Stage.SHARES else self.revealed

    def _next(self, stage: Stage, ids: np.ndarray) -> None:
        self.stage = stage
        self.expected = set(np.asarray(ids).tolist())
        self.answered = set()

    def _roster(self) -> PublicKeys:
        if self.roster is None:
            raise SecAggError("shares before the roster")
        return self.roster
