"""An extension written outside the package: a device model of two tiers (flagship and budget phones).

Every ``slow_every``-th client (by id) has a budget phone training ``slow`` examples a second; the others train
``fast``; bandwidths are alike and every device is always online. Registered as ``devices: {kind: tiered,
options: {fast: ..., slow: ..., slow_every: ...}}``; loaded with ``plugins: [tiered_devices]``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from fedrec.registry import DEVICES
from fedrec.runtime.devices import DeviceProfiles


class TierOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    fast: float = Field(20_000.0, gt=0, description="examples a second on a flagship phone")
    slow: float = Field(500.0, gt=0, description="examples a second on a budget phone")
    slow_every: int = Field(4, ge=1, description="every this many clients (by id) has a budget phone")


@dataclass(frozen=True)
class TieredSpec:
    options: Any = TierOptions

    def build(self, options: Any, client_ids: np.ndarray, seed: int, epochs: int) -> DeviceProfiles:
        profiles = DeviceProfiles.uniform(client_ids, options.fast, epochs=epochs)
        speeds = np.where(client_ids % options.slow_every == 0, options.slow, options.fast)
        return replace(profiles, examples_per_s=speeds.astype(np.float64))


DEVICES.register("tiered", TieredSpec())
