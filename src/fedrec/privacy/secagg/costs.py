"""What secure aggregation costs in virtual time: a cost model, not a stopwatch.

Each step's compute time is a count of primitive operations (X25519 key pairs and agreements, AES-GCM seals,
Shamir sharing and reconstruction, PRG words) times the seconds one operation takes, so a seeded secure run
gives the same ``virtual_time_s`` on any machine. The operation counts follow the protocol of Bonawitz et al.,
"Practical Secure Aggregation for Privacy-Preserving Machine Learning", CCS 2017 (section 7 analyses the same
quadratic and linear terms): with a roster of ``n`` clients, threshold ``t`` and vectors of ``d`` words,

- a client advertises 2 key pairs; shares 2 secrets among ``n`` (a degree ``t - 1`` polynomial each) and makes
  ``n - 1`` agreements and seals; masks with ``n - 1`` opens, ``n - 1`` agreements and ``n`` PRG expansions of
  ``d`` words; reveals ``n - 1`` shares (copies);
- the server reconstructs one secret per survivor and per dropped client from ``t`` shares, expands one PRG per
  survivor (self masks) and one per (dropped, survivor) pair, each after an agreement.

The default seconds per operation were measured on the development machine (2 cores, Python 3.11,
``cryptography``'s OpenSSL) by ``benchmarks/secagg_costs.py``, which prints measured against modelled times.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SecAggCosts:
    """Seconds per primitive operation; the step methods return seconds of compute."""

    key_pair_s: float = 4e-5  # one X25519 key pair
    agreement_s: float = 5e-5  # one X25519 agreement plus its key derivation
    seal_s: float = 2.5e-6  # one AES-GCM seal or open of a share (a few dozen bytes)
    share_term_s: float = 2.5e-7  # one term of a Shamir polynomial evaluation (per share, per coefficient)
    prg_word_s: float = 2e-9  # one 64-bit mask word from the PRG (AES-256-CTR), added into the vector
    copy_s: float = 1e-6  # handling one share of a reveal (assumed, not measured: no cryptography in it)

    def advertise(self) -> float:
        """Seconds a client takes to make its two key pairs."""
        return 2 * self.key_pair_s

    def share(self, n: int, t: int) -> float:
        """Seconds a client takes to Shamir-share two secrets among ``n`` (threshold ``t``) and seal them for its ``n -
        1`` peers."""
        peers = max(0, n - 1)
        return 2 * n * t * self.share_term_s + peers * (self.agreement_s + self.seal_s)

    def mask(self, n: int, d: int) -> float:
        """Seconds a client takes to open its shares, agree a seed with each of ``n - 1`` peers and mask ``d`` words."""
        peers = max(0, n - 1)
        return peers * (self.seal_s + self.agreement_s) + n * d * self.prg_word_s

    def reveal(self, n: int) -> float:
        """Seconds a client takes to reveal its ``n - 1`` shares."""
        return max(0, n - 1) * self.copy_s

    def unmask(self, survivors: int, dropped: int, t: int, d: int) -> float:
        """Seconds the server takes to reconstruct (``t`` shares each) the secrets of ``survivors`` and ``dropped``
        clients and remove their masks from ``d`` words."""
        reconstruct = (survivors + dropped) * t * t * self.share_term_s
        pairs = dropped * survivors
        return reconstruct + pairs * self.agreement_s + (survivors + pairs) * d * self.prg_word_s
