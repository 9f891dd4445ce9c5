"""What every config section shares: unknown keys refused, frozen, no inf or nan; tagged sections by ``kind``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from fedrec.registry import Registry

# a wait on the wall clock: positive and at most ten million seconds (116 days; timers overflow far beyond)
Seconds = Annotated[float, Field(gt=0, le=1e7)]


class Section(BaseModel):
    """A config section: unknown keys are refused, values are frozen, and no setting takes inf or nan."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)  # no setting takes inf or nan


def kind_default(default: str, kinds: str) -> Callable[[Any], Any]:
    """A tagged section's input as the union takes it: ``"fedbuff"`` is ``{kind: fedbuff}``, and a mapping that
    names no kind is of the ``default`` kind (``--set federation.policy.quorum=0.5`` on a sync run). Anything
    else is refused naming the ``kinds`` there are (raises ``ValueError``)."""

    def tagged(value: Any) -> Any:
        if isinstance(value, str):
            return {"kind": value}
        if isinstance(value, dict) and "kind" not in value:
            return {"kind": default, **value}
        if not isinstance(value, dict | BaseModel):
            raise ValueError(f"give a kind ({kinds}) or a mapping {{kind: ..., <its keys>}}, not {value!r}")
        return value

    return tagged


class PluginSection(Section):
    """A tagged section's kind that a plug-in registered (``registry``), beside the ``builtin`` kinds: its
    ``options`` are validated by the registered spec's pydantic ``options`` model (None: it takes none)."""

    registry: ClassVar[Registry[Any]]
    what: ClassVar[str]  # e.g. "round policy"
    builtin: ClassVar[tuple[str, ...]]

    kind: str
    options: dict[str, Any] = Field(default_factory=dict, description="the plug-in's own settings")

    @model_validator(mode="after")
    def _registered(self) -> PluginSection:
        if self.kind not in self.registry:
            registered = ", ".join(self.registry.names()) or "none"
            raise ValueError(
                f"unknown {self.what} {self.kind!r}; choose {', '.join(self.builtin)} or a registered one "
                f"({registered}); a plug-in's module is loaded by listing it under plugins"
            )
        self.read_options()
        return self

    def read_options(self) -> Any:
        """The validated options (None for a plug-in that takes none); raises ``ValueError`` naming the key."""
        model = self.registry.get(self.kind).options
        if model is None:
            if self.options:
                raise ValueError(f"options {sorted(self.options)} are not read by {self.what} {self.kind}")
            return None
        try:
            return model.model_validate(self.options)
        except ValidationError as exc:
            error = exc.errors()[0]
            where = ".".join(str(p) for p in error["loc"])
            got = f" (got {error['input']!r})" if error["type"] != "missing" else ""
            if error["type"] == "extra_forbidden":
                got = f"; {self.what} {self.kind} takes {', '.join(model.model_fields) or 'no options'}"
            raise ValueError(f"options.{where}: {error['msg']}{got}") from None


def builtin_or_plugin(builtin: tuple[str, ...]) -> Callable[[Any], str]:
    """The discriminator of a tagged section open to plug-ins: a built-in kind's own tag, else ``plugin``."""

    def tag(value: Any) -> str:
        kind = value.get("kind") if isinstance(value, dict) else getattr(value, "kind", None)
        return str(kind) if kind in builtin else "plugin"

    return tag
