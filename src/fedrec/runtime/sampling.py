"""Seeded client sampling: which clients take part in a round."""

from __future__ import annotations

import numpy as np


class ClientSampler:
    """Draws ``count`` clients (or ``fraction`` of them) uniformly without replacement, per round.

    The draw for round r depends only on (seed, r) and the candidate set, so a resumed run samples the same
    clients as an uninterrupted one.
    """

    def __init__(
        self, seed: int, count: int | None = None, fraction: float | None = None, poisson: bool = False
    ) -> None:
        if count is not None and fraction is not None:
            raise ValueError("give either count or fraction, not both")
        self.seed = seed
        self.count = count
        self.fraction = fraction
        self.poisson = poisson  # each client independently with the sampling rate (DP's amplification needs it)

    def rate(self, num_clients: int) -> float:
        """The probability that a given client is sampled in a round."""
        return min(1.0, self.size(num_clients) / num_clients) if self.fraction is None else self.fraction

    def size(self, num_candidates: int) -> int:
        """How many clients a round invites among ``num_candidates`` (the expected number, under Poisson sampling)."""
        if self.count is not None:
            return min(self.count, num_candidates)
        if self.fraction is not None:
            return max(1, min(num_candidates, round(self.fraction * num_candidates)))
        return num_candidates

    def sample(self, round_index: int, candidates: np.ndarray, count: int | None = None) -> np.ndarray:
        """``count`` clients (default: the configured size) of ``candidates``, seeded by the round."""
        candidates = np.sort(np.asarray(candidates, dtype=np.int64))
        if self.poisson:
            draw = np.random.default_rng([self.seed, round_index, 0x9015])
            return candidates[draw.random(len(candidates)) < self.rate(len(candidates))]
        k = self.size(len(candidates)) if count is None else min(count, len(candidates))
        if k == len(candidates):
            return candidates
        rng = np.random.default_rng([self.seed, round_index, 0x5A3])
        return np.sort(rng.choice(candidates, size=k, replace=False))
