"""What every config section shares: unknown keys refused, frozen, no inf or nan; tagged sections by ``kind``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

# a wait on the wall clock: positive and at most ten million seconds (116 days; timers overflow far beyond)
Seconds = Annotated[float, Field(gt=0, le=1e7)]


class Section(BaseModel):
    """A config section: unknown keys are refused, values are frozen, and no setting takes inf or nan."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)  # no setting takes inf or nan


def kind_default(default: str) -> Callable[[Any], Any]:
    """A tagged section's input as the union takes it: ``"fedbuff"`` is ``{kind: fedbuff}``, and a mapping that
    names no kind is of the ``default`` kind (``--set federation.policy.quorum=0.5`` on a sync run)."""

    def tagged(value: Any) -> Any:
        if isinstance(value, str):
            return {"kind": value}
        if isinstance(value, dict) and "kind" not in value:
            return {"kind": default, **value}
        return value

    return tagged
