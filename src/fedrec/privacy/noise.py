"""Gaussian noise drawn on each client's device.

In simulation each client's noise is a counter-based function of (seed, round, client, stream, position),
drawn for a whole cohort at once: a run is reproducible, and a client's noise does not depend on which
host or cohort it trains in, so the simulation and the cluster give the same numbers. A real device must
not use noise the server could recompute from the run's seed: client processes of the cluster pass
``secure=True`` and draw from the operating system's entropy instead.
"""

from __future__ import annotations

import secrets

import numpy as np
import torch

from fedrec.rng import mix

_UNIT = 2.0**-53


def client_gaussian(
    client_ids: np.ndarray, size: int, seed: int, round_index: int, stream: int, secure: bool = False
) -> torch.Tensor:
    """Standard normal noise, ``[clients, size]`` float64, one independent row per client."""
    n = len(client_ids)
    if secure:
        generator = torch.Generator().manual_seed(secrets.randbits(62))
        return torch.randn((n, size), generator=generator, dtype=torch.float64)
    ids = np.asarray(client_ids, dtype=np.int64)[:, None]
    position = np.arange(size, dtype=np.int64)[None, :]
    bits = [mix(seed, round_index, ids, stream, position, half) >> np.uint64(11) for half in (0, 1)]
    u1 = (bits[0].astype(np.float64) + 1.0) * _UNIT  # in (0, 1]: the logarithm stays finite
    u2 = bits[1].astype(np.float64) * _UNIT
    return torch.from_numpy(np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2))
