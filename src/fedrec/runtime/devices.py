"""Client devices in virtual time: how fast each computes and transfers, and when it is online.

A profile gives every client a compute speed (training examples per second), download and upload
bandwidths (bytes per second) and an availability schedule: online for ``online_s``, then offline for
``offline_s``, repeating, shifted by ``phase_s`` (``offline_s`` 0: always online). In simulation the time
an update arrives follows from the work done (examples x epochs / speed) plus the bytes moved over each
direction's bandwidth; a client that is offline when invited, or goes offline before its update is sent,
does not answer. Profiles are drawn from distributions (``lognormal``) or read from a trace (see
``read_trace``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

Z95 = 1.6448536269514722  # the standard normal's 95th percentile
EXAMPLES_PER_S = 20_000.0  # a device's default speed, and
BYTES_PER_S = 2_000_000.0  # bandwidth in each direction


@dataclass(frozen=True)
class DeviceProfiles:
    client_ids: np.ndarray  # sorted int64 [N]
    examples_per_s: np.ndarray
    down_bytes_per_s: np.ndarray
    up_bytes_per_s: np.ndarray
    online_s: np.ndarray
    offline_s: np.ndarray  # 0: always online
    phase_s: np.ndarray
    epochs: int = 1

    def _at(self, ids: np.ndarray) -> np.ndarray:
        where = np.searchsorted(self.client_ids, ids)
        if len(ids) and (where.max() >= len(self.client_ids) or (self.client_ids[where] != ids).any()):
            raise KeyError("a client without a device profile")
        return where

    def arrival_delays(
        self, ids: np.ndarray, examples: np.ndarray, bytes_down: int, bytes_up: np.ndarray
    ) -> np.ndarray:
        """Seconds from an invitation to each client's answer: download, train, upload."""
        at = self._at(ids)
        compute = examples * self.epochs / self.examples_per_s[at]
        delays: np.ndarray = bytes_down / self.down_bytes_per_s[at] + compute + bytes_up / self.up_bytes_per_s[at]
        return delays

    def online(self, ids: np.ndarray, t: float) -> np.ndarray:
        """bool ``[len(ids)]``: which of ``ids`` are online at virtual time ``t`` (seconds)."""
        return self.online_until(ids, t, np.full(len(ids), t))

    def online_until(self, ids: np.ndarray, start: float, end: np.ndarray) -> np.ndarray:
        """Whether each client is online at ``start`` and stays online until its ``end``."""
        ok: np.ndarray = self.offline_at(ids, start) > end
        return ok

    def offline_at(self, ids: np.ndarray, start: float) -> np.ndarray:
        """When each client next goes offline from ``start`` (``start`` if it is offline; inf: never)."""
        at = self._at(ids)
        always = self.offline_s[at] == 0
        period = np.where(always, 1.0, self.online_s[at] + self.offline_s[at])
        into = np.mod(start + self.phase_s[at], period)
        when: np.ndarray = np.where(into < self.online_s[at], start + self.online_s[at] - into, start)
        return np.where(always, np.inf, when)

    @staticmethod
    def uniform(
        ids: np.ndarray,
        examples_per_s: float = EXAMPLES_PER_S,
        bytes_per_s: float = BYTES_PER_S,
        epochs: int = 1,
        up_bytes_per_s: float | None = None,
    ) -> DeviceProfiles:
        """Every device alike: ``examples_per_s`` training examples a second, ``bytes_per_s`` down (and up, unless
        ``up_bytes_per_s`` is given), always online."""
        ids = np.sort(np.asarray(ids, dtype=np.int64))
        full, zero = np.full(len(ids), 1.0), np.zeros(len(ids))
        up = bytes_per_s if up_bytes_per_s is None else up_bytes_per_s
        return DeviceProfiles(ids, full * examples_per_s, full * bytes_per_s, full * up, full, zero, zero, epochs)


def lognormal(median: float, spread: float, size: int, rng: np.random.Generator) -> np.ndarray:
    """Log-normal draws around ``median`` whose 95th percentile is ``spread`` times their 5th."""
    sigma = math.log(spread) / (2 * Z95) if spread > 1 else 0.0
    draws: np.ndarray = median * np.exp(sigma * rng.standard_normal(size))
    return draws


@dataclass(frozen=True)
class Heterogeneity:
    """How to draw profiles: medians and spreads of speeds and bandwidths, and the share of time online."""

    examples_per_s: float = EXAMPLES_PER_S
    speed_spread: float = 1.0
    down_bytes_per_s: float = BYTES_PER_S
    up_bytes_per_s: float = BYTES_PER_S
    bandwidth_spread: float = 1.0
    availability: float = 1.0
    mean_online_s: float = 3600.0


def draw_profiles(ids: np.ndarray, h: Heterogeneity, seed: int, epochs: int = 1) -> DeviceProfiles:
    """Seeded profiles: speed and bandwidths log-normal; online periods exponential, each followed by an
    offline period that makes the client's share of time online ``availability``; a random phase."""
    ids = np.sort(np.asarray(ids, dtype=np.int64))
    rng = np.random.default_rng([seed, 0xDE71CE])
    n = len(ids)
    speed = lognormal(h.examples_per_s, h.speed_spread, n, rng)
    link = lognormal(1.0, h.bandwidth_spread, n, rng)
    online = rng.exponential(h.mean_online_s, n)
    offline = online * (1 - h.availability) / h.availability  # each client online that share of its time
    phase = rng.uniform(0, 1, n) * (online + offline)
    return DeviceProfiles(
        ids, speed, h.down_bytes_per_s * link, h.up_bytes_per_s * link, online, offline, phase, epochs
    )


TRACE_COLUMNS = ("client_id", "examples_per_s", "down_bytes_per_s", "up_bytes_per_s")
SCHEDULE_COLUMNS = ("online_s", "offline_s", "phase_s")


class TraceError(ValueError):
    """A device trace that cannot be used; the message names the file and what to fix."""


def read_trace(path: Path, ids: np.ndarray, epochs: int = 1) -> DeviceProfiles:
    """Profiles from a CSV trace with a header: ``client_id,examples_per_s,down_bytes_per_s,up_bytes_per_s``
    and optionally ``online_s,offline_s,phase_s``; one row per client of the run (extra rows are ignored)."""
    try:
        header = path.read_text().splitlines()[0].strip().split(",")
        table = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
    except (OSError, IndexError, ValueError) as error:
        raise TraceError(f"cannot read the device trace {path}: {error}") from None
    missing = [c for c in TRACE_COLUMNS if c not in header]
    if missing or table.shape[1] != len(header):
        raise TraceError(f"device trace {path} needs the columns {','.join(TRACE_COLUMNS)} (missing {missing})")
    column = {name: table[:, header.index(name)] for name in header}
    wanted = np.sort(np.asarray(ids, dtype=np.int64))
    known = column["client_id"].astype(np.int64)
    order = np.argsort(known)
    where = np.searchsorted(known[order], wanted)
    absent = wanted[(where >= len(known)) | (known[order][np.minimum(where, len(known) - 1)] != wanted)]
    if len(absent):
        raise TraceError(f"device trace {path} has no row for clients {absent[:5].tolist()}; add them")
    rows = order[where]
    values = [column[c][rows] for c in TRACE_COLUMNS[1:]]
    if any((v <= 0).any() for v in values):
        raise TraceError(f"device trace {path}: speeds and bandwidths must be positive")
    ones, zeros = np.ones(len(rows)), np.zeros(len(rows))
    schedule = [
        column[c][rows] if c in column else d for c, d in zip(SCHEDULE_COLUMNS, (ones, zeros, zeros), strict=True)
    ]
    speed, down, up = values
    online, offline, phase = schedule
    return DeviceProfiles(wanted, speed, down, up, online, offline, phase, epochs)


class DeviceSpec(Protocol):
    """A device model a config names by its registered kind (``devices: {kind: NAME, options: {...}}``),
    registered in ``fedrec.registry.DEVICES``. ``options``: the pydantic model of its options (None: none)."""

    @property
    def options(self) -> Any:
        """The model its ``options`` are validated against, or None."""
        ...

    def build(self, options: Any, client_ids: np.ndarray, seed: int, epochs: int) -> DeviceProfiles:
        """Every client's device (``client_ids`` sorted int64), drawn from ``seed``; ``epochs`` of local training."""
        ...
