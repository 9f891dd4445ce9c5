"""The payloads of the secure-aggregation stages: arrays of ids, keys, sealed shares and ring vectors."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, TypeVar

import numpy as np

P = TypeVar("P")

SEALED_BYTES = 12 + 8 + 8 + 2 * 66 + 16  # nonce, sender, receiver, two shares, GCM tag
REVEAL_MASK_KEY, REVEAL_SELF_SEED = 0, 1


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
    client: one to agree on share-encryption keys, one on pairwise masks."""

    client_ids: np.ndarray  # int64 [n]
    cipher: np.ndarray  # uint8 [n, 32]
    mask: np.ndarray  # uint8 [n, 32]
    threshold: int = 0  # in the roster: how many shares recover a secret

    def select(self, positions: np.ndarray) -> PublicKeys:
        return take(self, positions)


@dataclass(frozen=True)
class SealedShares(_BySender):
    """Stage 1: shares of each sender's mask key and self-mask seed, sealed for their receivers (the server
    routes them and cannot read them)."""

    sender: np.ndarray  # int64 [L]
    receiver: np.ndarray  # int64 [L]
    sealed: np.ndarray  # uint8 [L, SEALED_BYTES]

    def addressed_to(self, ids: np.ndarray) -> SealedShares:
        return take(self, np.isin(self.receiver, ids))


@dataclass(frozen=True)
class MaskedInputs(_Arrays):
    """Stage 2: each client's vector plus its self mask and its pairwise masks, in the ring Z_2^64."""

    client_ids: np.ndarray  # int64 [n]
    vectors: np.ndarray  # uint64 [n, d]

    def select(self, positions: np.ndarray) -> MaskedInputs:
        return take(self, positions)


@dataclass(frozen=True)
class Survivors(_Arrays):
    """Stage 3 (server -> clients): the clients whose masked inputs arrived."""

    client_ids: np.ndarray


@dataclass(frozen=True)
class RevealedShares(_BySender):
    """Stage 3 (clients -> server): for each survivor a share of its self-mask seed, for each client that
    dropped a share of its mask key; never both for one client."""

    sender: np.ndarray  # int64 [L], who reveals
    owner: np.ndarray  # int64 [L], whose secret the share is of
    secret: np.ndarray  # int64 [L], REVEAL_MASK_KEY or REVEAL_SELF_SEED
    share: np.ndarray  # uint8 [L, 66]
