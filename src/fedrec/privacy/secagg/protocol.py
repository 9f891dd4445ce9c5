"""The client's and the server's halves of secure aggregation (Bonawitz et al., "Practical Secure
Aggregation for Privacy-Preserving Machine Learning", CCS 2017), for an honest-but-curious server.

1. Each client advertises two public keys and a commitment to a fresh self-mask seed b_u; the server sends
   the roster (the keys) to all.
2. Each client Shamir-shares b_u and its mask private key among the roster (threshold t), keeping its own
   share and sealing each other share for its receiver; the server routes the sealed shares.
3. Each client opens the shares addressed to it. A share that does not open (AES-GCM authenticates it: only
   its sender could have sealed it) makes the client report the sender and leave it out: it keeps no share
   of it and does not mask with it. Then it sends ``x_u + PRG(b_u) + sum_v ±PRG(s_uv)`` over Z_2^64, v the
   senders whose shares opened, s_uv the pair's agreed seed, + when u < v: pairwise masks cancel in the sum.
4. Told who survived (and who was excluded for bad shares), each client reveals its shares of the survivors'
   b (its own included) and of the other clients' mask keys, and for an excluded client it masked with, their
   pair's seed. With t right shares of each, the server removes the self masks of survivors and the pairwise
   masks that survivors share with the others: what is left is the survivors' sum (``session``).

A client refuses to reveal when fewer than t survived (the server could otherwise unmask one input).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from fedrec.privacy.secagg import crypto
from fedrec.privacy.secagg.messages import (
    REVEAL_MASK_KEY,
    REVEAL_PAIR_SEED,
    REVEAL_SELF_SEED,
    SEALED_BYTES,
    PublicKeys,
    RevealedShares,
    SealedShares,
    Survivors,
)


class SecAggError(RuntimeError):
    """The protocol cannot go on (too few clients, or a share that does not authenticate)."""


def _key(row: np.ndarray) -> bytes:
    return row.astype(np.uint8).tobytes()


@dataclass
class SecAggClient:
    """One client's secrets and what it learned, from its advertisement to its reveal."""

    client_id: int
    threshold: int = 0  # set by the roster
    cipher_key: X25519PrivateKey = field(default_factory=crypto.new_private_key)
    mask_key: X25519PrivateKey = field(default_factory=crypto.new_private_key)
    self_seed: bytes = field(default_factory=crypto.random_seed)
    roster: PublicKeys | None = None
    held: dict[int, tuple[bytes, bytes]] = field(default_factory=dict)  # sender -> (mask-key share, seed share)
    own_seed_share: bytes | None = None  # the share of its own self-mask seed at its own point
    seal_keys: dict[int, bytes] = field(default_factory=dict)  # peer -> the pair's share-transport key
    neighbours: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    revealed: bool = False

    def advertise(self) -> tuple[bytes, bytes]:
        """The client's two public keys (for sealing, for masks), 32 bytes each."""
        return crypto.public_bytes(self.cipher_key), crypto.public_bytes(self.mask_key)

    def commitment(self) -> bytes:
        """The commitment to the self-mask seed, sent with the public keys (32 bytes)."""
        return crypto.commit(self.self_seed)

    def share(self, roster: PublicKeys) -> SealedShares:
        """Shares of the mask key and self seed for every other client in the roster, sealed for each. As in
        Bonawitz et al., the client itself holds a share too (at its own point; only that of its self-mask
        seed is ever revealed, when it survives), so that t survivors suffice to unmask."""
        count = len(roster.client_ids)
        if not count // 2 < roster.threshold <= count:
            raise SecAggError(f"threshold {roster.threshold} for {count} clients: it must exceed half of them")
        if self.client_id not in roster.client_ids:
            raise SecAggError(f"client {self.client_id} is not in the roster")
        self.roster, self.threshold = roster, roster.threshold
        xs = list(range(1, count + 1))
        all_key_shares = crypto.share_secret(crypto.private_bytes(self.mask_key), xs, self.threshold)
        all_seed_shares = crypto.share_secret(self.self_seed, xs, self.threshold)
        me = int(np.flatnonzero(roster.client_ids == self.client_id)[0])
        self.own_seed_share = all_seed_shares[me]
        others = np.flatnonzero(roster.client_ids != self.client_id)
        key_shares = [all_key_shares[p] for p in others.tolist()]
        seed_shares = [all_seed_shares[p] for p in others.tolist()]
        sealed = np.empty((len(others), SEALED_BYTES), dtype=np.uint8)
        for row, (p, ks, ss) in enumerate(zip(others, key_shares, seed_shares, strict=True)):
            v = int(roster.client_ids[p])
            key = _agree(self.cipher_key, _key(roster.cipher[p]), crypto.SEAL_LABEL, v)
            self.seal_keys[v] = key
            plain = self.client_id.to_bytes(8, "big") + v.to_bytes(8, "big") + ks + ss
            sealed[row] = np.frombuffer(crypto.seal(key, plain, _pair(self.client_id, v)), dtype=np.uint8)
        receivers = roster.client_ids[others]
        return SealedShares(np.full(len(others), self.client_id, dtype=np.int64), receivers, sealed)

    def masked_input(self, shares: SealedShares, vector: np.ndarray) -> np.ndarray:
        """Open the shares addressed to this client, then mask ``vector`` (uint64) for the sum; a share that
        does not open raises ``SecAggError`` (``open_shares`` and ``mask`` report its sender instead)."""
        bad = self.open_shares(shares)
        if bad:
            raise SecAggError(next(iter(bad.values())))
        return self.mask(vector)

    def open_shares(self, shares: SealedShares) -> dict[int, str]:
        """Open and keep the shares addressed to this client; returns the senders whose share does not open
        (or names other parties), with why: they are no neighbours of this client. ``SecAggError`` when the
        server misrouted a share (then the server itself is at fault)."""
        roster = self._roster()
        position = {int(c): i for i, c in enumerate(roster.client_ids)}
        bad: dict[int, str] = {}
        for u, v, sealed in zip(shares.sender.tolist(), shares.receiver.tolist(), shares.sealed, strict=True):
            if v != self.client_id or u not in position or u == v:
                raise SecAggError(f"client {self.client_id} was handed a share from {u} meant for {v}")
            key = self.seal_keys.get(u) or _agree(
                self.cipher_key, _key(roster.cipher[position[u]]), crypto.SEAL_LABEL, u
            )
            try:
                plain = crypto.unseal(key, sealed.tobytes(), _pair(u, v))
            except (InvalidTag, ValueError):
                bad[u] = f"the share from client {u} to {v} does not authenticate"
                continue
            if len(plain) != 16 + 2 * crypto.SHARE_BYTES:
                bad[u] = f"the share from client {u} to {v} has {len(plain)} bytes"
            elif int.from_bytes(plain[:8], "big") != u or int.from_bytes(plain[8:16], "big") != v:
                bad[u] = f"the share from client {u} names other parties"
            else:
                self.held[u] = (plain[16 : 16 + crypto.SHARE_BYTES], plain[16 + crypto.SHARE_BYTES :])
        self.neighbours = np.asarray(sorted(self.held), dtype=np.int64)
        return bad

    def mask(self, vector: np.ndarray) -> np.ndarray:
        """``vector`` (uint64) plus the self mask and the pairwise masks with the senders of opened shares."""
        roster = self._roster()
        position = {int(c): i for i, c in enumerate(roster.client_ids)}
        masked = vector.astype(np.uint64, copy=True)
        masked += crypto.prg(self.self_seed, len(vector))
        for v in self.neighbours.tolist():
            seed = _agree(self.mask_key, _key(roster.mask[position[v]]), crypto.MASK_LABEL, v)
            if self.client_id < v:
                masked += crypto.prg(seed, len(vector))
            else:
                masked -= crypto.prg(seed, len(vector))
        return masked

    def reveal(self, survivors: Survivors) -> RevealedShares:
        """The shares that unmask the sum: of each survivor's self-mask seed and of each dropped client's mask key."""
        alive = set(np.asarray(survivors.client_ids).tolist())
        excluded = set(np.asarray(survivors.excluded).tolist())
        if len(alive) < self.threshold:
            raise SecAggError(f"only {len(alive)} clients survived, fewer than the threshold {self.threshold}")
        if alive & excluded:
            raise SecAggError(f"clients {sorted(alive & excluded)[:5]} are said both to survive and to be excluded")
        if self.revealed:
            raise SecAggError(f"client {self.client_id} was asked to reveal twice")
        self.revealed = True
        owners = [v for v in self.neighbours.tolist()]
        kinds = [REVEAL_SELF_SEED if v in alive else REVEAL_MASK_KEY for v in owners]
        shares = [
            self.held[v][1] if k == REVEAL_SELF_SEED else self.held[v][0] for v, k in zip(owners, kinds, strict=True)
        ]
        if self.client_id in alive and self.own_seed_share is not None:
            owners.append(self.client_id)
            kinds.append(REVEAL_SELF_SEED)
            shares.append(self.own_seed_share)
        roster = self._roster()
        position = {int(c): i for i, c in enumerate(roster.client_ids)}
        for v in sorted(excluded & set(owners)):  # the pair's own mask: its key may have too few shares
            seed = _agree(self.mask_key, _key(roster.mask[position[v]]), crypto.MASK_LABEL, v)
            owners.append(v)
            kinds.append(REVEAL_PAIR_SEED)
            shares.append(seed.rjust(crypto.SHARE_BYTES, b"\0"))
        n = len(owners)
        table = np.frombuffer(b"".join(shares), dtype=np.uint8).reshape(n, crypto.SHARE_BYTES)
        return RevealedShares(
            np.full(n, self.client_id, dtype=np.int64), np.asarray(owners, dtype=np.int64),
            np.asarray(kinds, dtype=np.int64), table,
        )  # fmt: skip

    def _roster(self) -> PublicKeys:
        if self.roster is None:
            raise SecAggError(f"client {self.client_id} has no roster: shares before keys")
        return self.roster


def _agree(own: X25519PrivateKey, peer: bytes, label: bytes, who: int) -> bytes:
    try:
        return crypto.agree(own, peer, label)
    except ValueError:
        raise SecAggError(f"client {who}'s public key is not a valid X25519 key") from None


def _pair(u: int, v: int) -> bytes:
    return f"{u}->{v}".encode()
