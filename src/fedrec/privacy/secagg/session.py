"""The server's half of secure aggregation for one round: it routes, counts and finally unmasks the sum."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from fedrec.privacy.secagg import crypto
from fedrec.privacy.secagg.messages import (
    REVEAL_MASK_KEY,
    REVEAL_SELF_SEED,
    MaskedInputs,
    PublicKeys,
    RevealedShares,
    SealedShares,
    Survivors,
    concat,
    take,
)
from fedrec.privacy.secagg.protocol import SecAggError, _key


class Stage(enum.Enum):
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
    roster: PublicKeys | None = None
    shares: list[SealedShares] = field(default_factory=list)
    sharers: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))  # U2
    total: np.ndarray | None = None
    survivors: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))  # U3
    revealed: list[RevealedShares] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.expected = set(np.asarray(self.invited).tolist())

    @property
    def complete(self) -> bool:
        """Every client the stage waits for has answered (or is gone)."""
        return self.expected <= self.answered

    def drop(self, ids: set[int]) -> None:
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
        if keys.cipher.shape != (len(keys.client_ids), 32) or keys.mask.shape != keys.cipher.shape:
            raise SecAggError("public keys must be 32 bytes each, one pair per client")
        if not all(crypto.valid_public(_key(k)) for k in np.concatenate([keys.cipher, keys.mask])):
            raise SecAggError("a public key is not a valid X25519 key")
        self._expect(Stage.KEYS, keys.client_ids)
        self.keys.append(keys)

    def add_shares(self, shares: SealedShares) -> None:
        roster = self._roster()
        if not np.isin(shares.receiver, roster.client_ids).all():
            raise SecAggError("sealed shares addressed to clients outside the roster")
        self._expect(Stage.SHARES, shares.client_ids)  # counts the senders: after every check
        self.shares.append(shares)

    def add_masked(self, masked: MaskedInputs) -> None:
        if masked.vectors.shape != (len(masked.client_ids), self.dim) or masked.vectors.dtype != np.uint64:
            raise SecAggError(f"a masked input must be {self.dim} uint64, got {masked.vectors.shape[1:]}")
        self._expect(Stage.MASKED, masked.client_ids)
        part = masked.vectors.sum(axis=0, dtype=np.uint64)
        self.total = part if self.total is None else self.total + part

    def add_revealed(self, revealed: RevealedShares) -> None:
        if revealed.share.shape != (len(revealed.owner), crypto.SHARE_BYTES) or revealed.share.dtype != np.uint8:
            raise SecAggError(f"revealed shares must be {crypto.SHARE_BYTES} bytes each")
        if not np.isin(revealed.secret, (REVEAL_MASK_KEY, REVEAL_SELF_SEED)).all():
            raise SecAggError("a revealed share names an unknown secret")
        if not np.isin(revealed.owner, self.sharers).all():
            raise SecAggError("a revealed share belongs to a client that did not share")
        self._expect(Stage.REVEAL, revealed.client_ids)
        self.revealed.append(revealed)

    # -- stage transitions: each returns what the server sends next ----------------------------------

    def publish_roster(self) -> PublicKeys:
        keys: PublicKeys = concat(self._gathered(Stage.KEYS))
        roster = replace(take(keys, np.argsort(keys.client_ids)), threshold=self.threshold)
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
        if len(self.answered) < self.threshold:
            raise SecAggError(f"{len(self.answered)} masked inputs arrived, fewer than the threshold {self.threshold}")
        self.survivors = np.asarray(sorted(self.answered), dtype=np.int64)
        self._next(Stage.REVEAL, self.survivors)
        return Survivors(self.survivors)

    def unmask(self) -> np.ndarray:
        """The survivors' sum: their masked inputs minus self masks and masks shared with dropped clients."""
        revealed = self._gathered(Stage.REVEAL)
        assert self.total is not None and self.roster is not None
        total = self.total.copy()
        x_of = {int(c): i + 1 for i, c in enumerate(self.roster.client_ids)}
        mask_pk = {int(c): _key(k) for c, k in zip(self.roster.client_ids, self.roster.mask, strict=True)}
        every: RevealedShares = concat(revealed)
        sender, owner, secret, share = every.sender, every.owner, every.secret, every.share
        # one base set of t + 1 revealers serves every owner: the owners outside it use it whole, each owner in
        # it uses it without itself (weights derived in O(t)); any other set is interpolated afresh
        base = sorted(set(sender.tolist()))[: self.threshold + 1]
        base_xs = [x_of[c] for c in base]
        base_weights = crypto.lagrange_at_zero(base_xs) if len(base) > self.threshold else []
        by_sender = {(int(s), int(o), int(k)): r for r, (s, o, k) in enumerate(zip(sender, owner, secret, strict=True))}

        def recover(who: int, kind: int) -> bytes:
            if base_weights and all((c, who, kind) in by_sender for c in base if c != who):
                chosen = [c for c in base if c != who]
                w = crypto.lagrange_without(base_weights, base_xs, base.index(who)) if who in base else base_weights
            else:
                chosen = sorted(int(c) for c in sender[(owner == who) & (secret == kind)])[: self.threshold]
                if len(chosen) < self.threshold:
                    raise SecAggError(f"only {len(chosen)} shares of client {who}'s secret, threshold {self.threshold}")
                w = crypto.lagrange_at_zero([x_of[c] for c in chosen])
            try:
                return crypto.recover_secret([share[by_sender[(c, who, kind)]].tobytes() for c in chosen], w)
            except OverflowError:  # not a 32-byte secret: some share was wrong
                raise SecAggError(f"the shares of client {who}'s secret are inconsistent") from None

        alive = set(self.survivors.tolist())
        for u in self.survivors.tolist():
            total -= crypto.prg(recover(u, REVEAL_SELF_SEED), self.dim)
        for v in sorted(set(self.sharers.tolist()) - alive):
            try:
                key = crypto.private_from_bytes(recover(v, REVEAL_MASK_KEY))
            except ValueError:
                raise SecAggError(f"client {v}'s recovered mask key is not a key") from None
            for u in sorted(alive):
                mask = crypto.prg(crypto.agree(key, mask_pk[u], crypto.MASK_LABEL), self.dim)
                if u < v:
                    total -= mask  # u added +PRG(s_uv)
                else:
                    total += mask
        self.stage = Stage.DONE
        return total

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
