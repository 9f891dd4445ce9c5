"""The payloads of the secure-aggregation stages: arrays of ids, keys, sealed shares and ring vectors."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SEALED_BYTES = 12 + 8 + 8 + 2 * 66 + 16  # nonce, sender, receiver, two shares, GCM tag
REVEAL_MASK_KEY, REVEAL_SELF_SEED = 0, 1


def _rows(mask: np.ndarray, *arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    return tuple(a[mask] for a in arrays)


@dataclass(frozen=True)
class PublicKeys:
    """Stage 0 (each client -> server) and its roster (server -> every client): two X25519 public keys a
    client: one to agree on share-encryption keys, one on pairwise masks."""

    client_ids: np.ndarray  # int64 [n]
    cipher: np.ndarray  # uint8 [n, 32]
    mask: np.ndarray  # uint8 [n, 32]
    threshold: int = 0  # in the roster: how many shares recover a secret

    @property
    def nbytes(self) -> int:
        return int(self.client_ids.nbytes + self.cipher.nbytes + self.mask.nbytes)

    def select(self, positions: np.ndarray) -> PublicKeys:
        return PublicKeys(self.client_ids[positions], self.cipher[positions], self.mask[positions], self.threshold)


@dataclass(frozen=True)
class SealedShares:
    """Stage 1: shares of each sender's mask key and self-mask seed, sealed for their receivers (the server
    routes them and cannot read them)."""

    sender: np.ndarray  # int64 [L]
    receiver: np.ndarray  # int64 [L]
    sealed: np.ndarray  # uint8 [L, SEALED_BYTES]

    @property
    def client_ids(self) -> np.ndarray:
        ids: np.ndarray = np.unique(self.sender)
        return ids

    @property
    def nbytes(self) -> int:
        return int(self.sender.nbytes + self.receiver.nbytes + self.sealed.nbytes)

    def select(self, positions: np.ndarray) -> SealedShares:
        keep = np.isin(self.sender, self.client_ids[positions])
        return SealedShares(*_rows(keep, self.sender, self.receiver, self.sealed))

    def addressed_to(self, ids: np.ndarray) -> SealedShares:
        return SealedShares(*_rows(np.isin(self.receiver, ids), self.sender, self.receiver, self.sealed))


@dataclass(frozen=True)
class MaskedInputs:
    """Stage 2: each client's vector plus its self mask and its pairwise masks, in the ring Z_2^64."""

    client_ids: np.ndarray  # int64 [n]
    vectors: np.ndarray  # uint64 [n, d]

    @property
    def nbytes(self) -> int:
        return int(self.client_ids.nbytes + self.vectors.nbytes)

    def select(self, positions: np.ndarray) -> MaskedInputs:
        return MaskedInputs(self.client_ids[positions], self.vectors[positions])


@dataclass(frozen=True)
class Survivors:
    """Stage 3 (server -> clients): the clients whose masked inputs arrived."""

    client_ids: np.ndarray

    @property
    def nbytes(self) -> int:
        return int(self.client_ids.nbytes)


@dataclass(frozen=True)
class RevealedShares:
    """Stage 3 (clients -> server): for each survivor a share of its self-mask seed, for each client that
    dropped a share of its mask key; never both for one client."""

    sender: np.ndarray  # int64 [L], who reveals
    owner: np.ndarray  # int64 [L], whose secret the share is of
    secret: np.ndarray  # int64 [L], REVEAL_MASK_KEY or REVEAL_SELF_SEED
    share: np.ndarray  # uint8 [L, 66]

    @property
    def client_ids(self) -> np.ndarray:
        ids: np.ndarray = np.unique(self.sender)
        return ids

    @property
    def nbytes(self) -> int:
        return int(self.sender.nbytes + self.owner.nbytes + self.secret.nbytes + self.share.nbytes)

    def select(self, positions: np.ndarray) -> RevealedShares:
        keep = np.isin(self.sender, self.client_ids[positions])
        return RevealedShares(*_rows(keep, self.sender, self.owner, self.secret, self.share))
