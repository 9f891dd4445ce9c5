"""The ``devices`` section: client devices in virtual time (simulation), a tagged section by ``kind``."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BeforeValidator, Discriminator, Field, PositiveFloat, Tag

from fedrec.config.base import PluginSection, Section, builtin_or_plugin, kind_default
from fedrec.registry import DEVICES


class UniformDevices(Section):
    """Every device alike: ``examples_per_s`` training examples a second, ``down_bytes_per_s`` to receive and
    ``up_bytes_per_s`` to send, always online."""

    kind: Literal["uniform"] = "uniform"
    examples_per_s: PositiveFloat = Field(20_000.0, description="training examples a device computes a second")
    down_bytes_per_s: PositiveFloat = 2_000_000.0
    up_bytes_per_s: PositiveFloat = 2_000_000.0

    @property
    def always_online(self) -> bool:
        """Every client is online at every moment."""
        return True


class LognormalDevices(Section):
    """Speeds and bandwidths drawn log-normally around their medians; devices come and go."""

    kind: Literal["lognormal"]
    examples_per_s: PositiveFloat = Field(20_000.0, description="training examples a device computes a second (median)")
    speed_spread: float = Field(10.0, ge=1.0, description="95th over 5th percentile of the speeds")
    down_bytes_per_s: PositiveFloat = 2_000_000.0
    up_bytes_per_s: PositiveFloat = 2_000_000.0
    bandwidth_spread: float = Field(1.0, ge=1.0, description="95th over 5th percentile of bandwidths")
    availability: float = Field(1.0, gt=0.0, le=1.0, description="long-run share of time online")
    mean_online_s: PositiveFloat = Field(3600.0, description="mean length of an online period")

    @property
    def always_online(self) -> bool:
        """Clients are always online only with ``availability`` 1."""
        return self.availability == 1.0


class TraceDevices(Section):
    """Each client's device from a CSV trace (client_id,examples_per_s,down_bytes_per_s,...)."""

    kind: Literal["trace"]
    trace: str = Field(description="the trace file")

    @property
    def always_online(self) -> bool:
        """A trace may take clients offline."""
        return False


class PluginDevices(PluginSection):
    """A device model a plug-in registered (``fedrec.registry.DEVICES``), with its own ``options``."""

    registry = DEVICES
    what = "device model"
    builtin = ("uniform", "lognormal", "trace")

    @property
    def always_online(self) -> bool:
        """A plug-in's devices may go offline (the server then asks who is online)."""
        return False


DevicesConfig = Annotated[
    Annotated[UniformDevices, Tag("uniform")]
    | Annotated[LognormalDevices, Tag("lognormal")]
    | Annotated[TraceDevices, Tag("trace")]
    | Annotated[PluginDevices, Tag("plugin")],
    Discriminator(builtin_or_plugin(PluginDevices.builtin)),
    BeforeValidator(kind_default("uniform", "uniform, lognormal, trace or a registered one")),
]
