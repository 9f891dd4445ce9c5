"""The client's and the server's halves of secure aggregation (Bonawitz et al., "Practical Secure
Aggregation for Privacy-Preserving Machine Learning", CCS 2017), for an honest-but-curious server.

1. Each client advertises two public keys; the server sends the roster to all.
2. Each client draws a self-mask seed b_u and Shamir-shares it and its mask private key among the others
   (threshold t), sealing each share for its receiver; the server routes the sealed shares.
3. Each client that received shares sends ``x_u + PRG(b_u) + sum_v ±PRG(s_uv)`` over Z_2^64, where s_uv is
   the pair's agreed seed and the sign is + when u < v: pairwise masks cancel in the sum.
4. Told who sent a masked input (the survivors), each client reveals its shares of the survivors' b and of
   the dropped clients' mask keys. With t shares of each, the server removes the self masks of survivors
   and the pairwise masks that survivors share with dropped clients: what is left is the survivors' sum.

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
    seal_keys: dict[int, bytes] = field(default_factory=dict)  # peer -> the pair's share-transport key
    neighbours: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    revealed: bool = False

    def advertise(self) -> tuple[bytes, bytes]:
        return crypto.public_bytes(self.cipher_key), crypto.public_bytes(self.mask_key)

    def share(self, roster: PublicKeys) -> SealedShares:
        """Shares of the mask key and self seed for every other client in the roster, sealed for each."""
        count = len(roster.client_ids)
        if not count // 2 < roster.threshold <= count:
            raise SecAggError(f"threshold {roster.threshold} for {count} clients: it must exceed half of them")
        self.roster, self.threshold = roster, roster.threshold
        others = np.flatnonzero(roster.client_ids != self.client_id)
        xs = [int(p) + 1 for p in others]
        key_shares = crypto.share_secret(crypto.private_bytes(self.mask_key), xs, self.threshold)
        seed_shares = crypto.share_secret(self.self_seed, xs, self.threshold)
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
        """Open the shares addressed to this client, then mask ``vector`` (uint64) for the sum."""
        roster = self._roster()
        position = {int(c): i for i, c in enumerate(roster.client_ids)}
        for u, v, sealed in zip(shares.sender.tolist(), shares.receiver.tolist(), shares.sealed, strict=True):
            if v != self.client_id or u not in position:
                raise SecAggError(f"client {self.client_id} was handed a share from {u} meant for {v}")
            key = self.seal_keys.get(u) or crypto.agree(
                self.cipher_key, _key(roster.cipher[position[u]]), crypto.SEAL_LABEL
            )
            try:
                plain = crypto.unseal(key, sealed.tobytes(), _pair(u, v))
            except InvalidTag:
                raise SecAggError(f"the share from client {u} to {v} does not authenticate") from None
            if int.from_bytes(plain[:8], "big") != u or int.from_bytes(plain[8:16], "big") != v:
                raise SecAggError(f"the share from client {u} names other parties")
            self.held[u] = (plain[16 : 16 + crypto.SHARE_BYTES], plain[16 + crypto.SHARE_BYTES :])
        self.neighbours = np.asarray(sorted(self.held), dtype=np.int64)
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
        alive = set(np.asarray(survivors.client_ids).tolist())
        if len(alive) < self.threshold:
            raise SecAggError(f"only {len(alive)} clients survived, fewer than the threshold {self.threshold}")
        if self.revealed:
            raise SecAggError(f"client {self.client_id} was asked to reveal twice")
        self.revealed = True
        owners = [v for v in self.neighbours.tolist()]
        kinds = [REVEAL_SELF_SEED if v in alive else REVEAL_MASK_KEY for v in owners]
        shares = [
            self.held[v][1] if k == REVEAL_SELF_SEED else self.held[v][0] for v, k in zip(owners, kinds, strict=True)
        ]
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
