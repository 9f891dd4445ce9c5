"""The payloads of the secure-aggregation stages: arrays of ids, keys, sealed shares and ring vectors."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, TypeVar

import numpy as np

P = TypeVar("P")

SEALED_BYTES = 12 + 8 + 8 + 2 * 66 + 16  # nonce, sender, receiver, two shares, GCM tag
COMMITMENT_BYTES = 32  # SHA-256 of a self-mask seed
# what a revealed row holds: a Shamir share of the owner's mask key or of its self-mask seed, or (for an owner
# excluded for bad shares) the revealer's own pairwise mask seed with the owner, in the share's last 32 bytes
REVEAL_MASK_KEY, REVEAL_SELF_SEED, REVEAL_PAIR_SEED = 0, 1, 2


def _ids() -> np.ndarray:
    return np.empty(0, dtype=np.int64)


def _no_commitments() -> np.ndarray:
    return np.empty((0, COMMITMENT_BYTES), dtype=np.uint8)


def take(payload: P, rows: np.ndarray) -> P:
    """``payload`` with every array cut to ``rows`` (a mask or positions); scalar fields are kept."""
    return type(payload)(**{f.name: _cut(getattr(payload, f.name), rows) for f in fields(payload)})  # type: ignore[arg-type]


def concat(parts: list[P]) -> P:
    """One payload holding the entries of ``parts`` in order (scalar fields from the first)."""
    first: Any = parts[0]
    joined = {
        f.name: np.concatenate([getattr(p, f.name) for p in parts])
        if isinstance(getattr(first, f.name), np.ndarray)
        else getattr(first, f.name)
        for f in fields(first)
    }
    return type(first)(**joined)  # type: ignore[no-any-return]


def _cut(value: Any, rows: np.ndarray) -> Any:
    return value[rows] if isinstance(value, np.ndarray) else value


class _Arrays:
    """A payload of arrays: it occupies their bytes on the wire (scalars ride in the envelope's metadata)."""

    @property
    def nbytes(self) -> int:
        values = [getattr(self, f.name) for f in fields(self)]  # type: ignore[arg-type]
        return sum(int(v.nbytes) for v in values if isinstance(v, np.ndarray))


class _BySender(_Arrays):
    """Entries of several senders (one row per share): a batch splits by the senders it keeps."""

    sender: np.ndarray

    @property
    def client_ids(self) -> np.ndarray:
        ids: np.ndarray = np.unique(self.sender)
        return ids

    def select(self, positions: np.ndarray) -> Any:
        return take(self, np.isin(self.sender, self.client_ids[positions]))


@dataclass(frozen=True)
class PublicKeys(_Arrays):
    """Stage 0 (each client -> server) and its roster (server -> every client): two X25519 public keys a
    client: one to agree on share-encryption keys, one on pairwise masks. From a client it also commits to its
    self-mask seed (``crypto.commit``), so that the server can check the seed it reconstructs; the roster
    carries no commitments (the clients have no use for them)."""

    client_ids: np.ndarray  # int64 [n]
    cipher: np.ndarray  # uint8 [n, 32]
    mask: np.ndarray  # uint8 [n, 32]
    commitment: np.ndarray = field(default_factory=_no_commitments)  # uint8 [n, 32] from clients, [0, 32] roster
    threshold: int = 0  # in the roster: how many shares recover a secret

    def select(self, positions: np.ndarray) -> PublicKeys:
        """The keys of the clients at ``positions``."""
        commitment = self.commitment[positions] if len(self.commitment) else self.commitment
        ids, cipher, mask = self.client_ids[positions], self.cipher[positions], self.mask[positions]
        return PublicKeys(ids, cipher, mask, commitment, self.threshold)


@dataclass(frozen=True)
class SealedShares(_BySender):
    """Stage 1: shares of each sender's mask key and self-mask seed, sealed for their receivers (the server
    routes them and cannot read them)."""

    sender: np.ndarray  # int64 [L]
    receiver: np.ndarray  # int64 [L]
    sealed: np.ndarray  # uint8 [L, SEALED_BYTES]

    def addressed_to(self, ids: np.ndarray) -> SealedShares:
        """Only the shares sealed for ``ids`` (what the server routes to each client)."""
        return take(self, np.isin(self.receiver, ids))


@dataclass(frozen=True)
class MaskedInputs(_Arrays):
    """Stage 2: each client's vector plus its self mask and its pairwise masks, in the ring Z_2^64; and its
    reports: each ``accused[i]`` sent ``accuser[i]`` a sealed share that did not open (``accuser[i]`` holds no
    share of it and did not mask with it). Honest rounds report nothing."""

    client_ids: np.ndarray  # int64 [n]
    vectors: np.ndarray  # uint64 [n, d]
    accuser: np.ndarray = field(default_factory=_ids)  # int64 [r], one of client_ids
    accused: np.ndarray = field(default_factory=_ids)  # int64 [r]

    def select(self, positions: np.ndarray) -> MaskedInputs:
        """The vectors of the clients at ``positions``."""
        ids = self.client_ids[positions]
        kept = np.isin(self.accuser, ids)
        return MaskedInputs(ids, self.vectors[positions], self.accuser[kept], self.accused[kept])


@dataclass(frozen=True)
class Survivors(_Arrays):
    """Stage 3 (server -> clients): the clients whose masked inputs count; and the clients excluded for sealed
    shares that did not open, for which each client that masked with one also reveals their pair's mask seed."""

    client_ids: np.ndarray  # int64 [n]
    excluded: np.ndarray = field(default_factory=_ids)  # int64 [k], not in client_ids


@dataclass(frozen=True)
class RevealedShares(_BySender):
    """Stage 3 (clients -> server): for each survivor a share of its self-mask seed (a survivor also its own
    share of its own seed), for each client that dropped a share of its mask key; never both for one client.
    For an excluded client the revealer masked with, also the pair's mask seed (``REVEAL_PAIR_SEED``,
    zero-padded to 66 bytes)."""

    sender: np.ndarray  # int64 [L], who reveals
    owner: np.ndarray  # int64 [L], whose secret the share is of
    secret: np.ndarray  # int64 [L], REVEAL_MASK_KEY, REVEAL_SELF_SEED or REVEAL_PAIR_SEED
    share: np.ndarray  # uint8 [L, 66]
