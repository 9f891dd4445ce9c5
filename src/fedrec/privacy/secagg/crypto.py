"""Cryptographic primitives of secure aggregation, all from ``cryptography`` except Shamir's arithmetic.

- Key agreement: X25519; the shared secret goes through HKDF-SHA256 with a purpose label, so the mask seed
  and the share-encryption key of a pair are independent.
- PRG: AES-256 in counter mode keyed by a 32-byte seed, read as uint64 words: a mask of any length.
- Share transport: AES-256-GCM (authenticated: a server that alters a share is detected).
- Shamir secret sharing over the prime field GF(2^521 - 1), wide enough for a 32-byte secret in one share.
- Commitment to a self-mask seed: SHA-256 of a purpose label and the seed (binding; hiding because the seed
  is 256 uniformly random bits), so that the server can check a seed it reconstructs from revealed shares.
"""

from __future__ import annotations

import hashlib
import os
import secrets

import numpy as np
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

PRIME = 2**521 - 1
SHARE_BYTES = 66  # a field element
KEY_BYTES = 32
MASK_LABEL = b"fedrec secagg pairwise mask"
SEAL_LABEL = b"fedrec secagg share transport"
COMMIT_LABEL = b"fedrec secagg self-seed commitment"
_ZEROS = bytearray(0)
_PROBE = X25519PrivateKey.generate()  # an ephemeral key that only tests others' public keys


def random_seed() -> bytes:
    """32 bytes from the OS's random source."""
    return secrets.token_bytes(KEY_BYTES)


def new_private_key() -> X25519PrivateKey:
    """A fresh X25519 private key."""
    return X25519PrivateKey.generate()


def public_bytes(key: X25519PrivateKey) -> bytes:
    """The 32-byte raw public key of ``key``."""
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def private_bytes(key: X25519PrivateKey) -> bytes:
    """The 32-byte raw private key (kept on the device)."""
    return key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())


def private_from_bytes(raw: bytes) -> X25519PrivateKey:
    """An X25519 private key from its 32 raw bytes."""
    return X25519PrivateKey.from_private_bytes(raw)


def public_of(raw_private: bytes) -> bytes:
    """The public key of a raw 32-byte private key: what a reconstructed mask key is checked against."""
    return public_bytes(private_from_bytes(raw_private))


def commit(seed: bytes) -> bytes:
    """The 32-byte commitment to a self-mask seed that a client sends with its public keys."""
    return hashlib.sha256(COMMIT_LABEL + seed).digest()


def agree(own: X25519PrivateKey, peer_public: bytes, label: bytes) -> bytes:
    """A 32-byte secret both ends of a pair derive alike, separate for each purpose ``label``."""
    shared = own.exchange(X25519PublicKey.from_public_bytes(peer_public))
    return HKDF(hashes.SHA256(), KEY_BYTES, salt=None, info=label).derive(shared)


def valid_public(raw: bytes) -> bool:
    """Whether ``raw`` is a public key one can agree with (not a low-order point)."""
    try:
        _PROBE.exchange(X25519PublicKey.from_public_bytes(raw))
    except ValueError:
        return False
    return True


def prg(seed: bytes, words: int) -> np.ndarray:
    """``words`` pseudo-random uint64 from a 32-byte seed (AES-256-CTR over zeros)."""
    global _ZEROS
    if len(_ZEROS) < 8 * words:
        _ZEROS = bytearray(8 * words)
    encryptor = Cipher(algorithms.AES(seed), modes.CTR(bytes(16))).encryptor()
    stream = encryptor.update(memoryview(_ZEROS)[: 8 * words])
    return np.frombuffer(stream, dtype=np.uint64)


def seal(key: bytes, plaintext: bytes, associated: bytes) -> bytes:
    """AES-256-GCM of ``plaintext`` under ``key`` with ``associated`` data bound to it; a fresh 12-byte nonce first."""
    nonce = os.urandom(12)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, associated)


def unseal(key: bytes, sealed: bytes, associated: bytes) -> bytes:
    """The plaintext of ``seal``'s output; raises ``cryptography.exceptions.InvalidTag`` if it was altered or the key
    or associated data differ."""
    return AESGCM(key).decrypt(sealed[:12], sealed[12:], associated)


def share_secret(secret: bytes, xs: list[int], threshold: int) -> list[bytes]:
    """Shamir shares of ``secret`` at the points ``xs``: any ``threshold`` of them recover it, fewer reveal
    nothing."""
    coefficients = [int.from_bytes(secret, "big")] + [secrets.randbelow(PRIME) for _ in range(threshold - 1)]
    shares = []
    for x in xs:
        y = 0
        for c in reversed(coefficients):
            y = (y * x + c) % PRIME
        shares.append(y.to_bytes(SHARE_BYTES, "big"))
    return shares


def lagrange_at_zero(xs: list[int]) -> list[int]:
    """The weights that combine the shares at ``xs`` into the secret (the polynomial at 0)."""
    weights = []
    for i, xi in enumerate(xs):
        num, den = 1, 1
        for j, xj in enumerate(xs):
            if j != i:
                num = num * (-xj) % PRIME
                den = den * (xi - xj) % PRIME
        weights.append(num * pow(den, -1, PRIME) % PRIME)
    return weights


def lagrange_without(weights: list[int], xs: list[int], drop: int) -> list[int]:
    """The weights for ``xs`` without ``xs[drop]``, from those for all of ``xs``: each times
    ``(x_drop - x_i) / x_drop`` (O(len) instead of computing them afresh)."""
    x_drop = xs[drop]
    inverse = pow(x_drop, -1, PRIME)
    return [
        w * (x_drop - x) % PRIME * inverse % PRIME
        for i, (w, x) in enumerate(zip(weights, xs, strict=True))
        if i != drop
    ]


def recover_secret(shares: list[bytes], weights: list[int], size: int = KEY_BYTES) -> bytes:
    """The secret of ``size`` bytes from Shamir shares with their Lagrange ``weights`` (over GF(2^521 - 1))."""
    value = sum(w * int.from_bytes(s, "big") for w, s in zip(weights, shares, strict=True)) % PRIME
    return value.to_bytes(size, "big")
