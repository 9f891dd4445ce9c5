"""The ``privacy`` section: differential privacy (a tagged section by ``kind``), secure aggregation, pseudo-items."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, PositiveFloat, field_validator, model_validator

from fedrec.config.base import Section, kind_default

Accountant = Literal["rdp", "pld"]


class NoDP(Section):
    """No differential privacy."""

    kind: Literal["none"] = "none"


class UserDP(Section):
    """User-level DP-FedAvg (McMahan et al., ICLR 2018) with an accountant; exactly one of ``noise_multiplier``
    and ``target_epsilon``."""

    kind: Literal["user"]
    clip_norm: PositiveFloat = Field(1.0, description="every client's whole update is clipped to this L2 norm")
    noise_multiplier: float | None = Field(None, gt=0.0, description="noise std over clip_norm")
    target_epsilon: PositiveFloat | None = Field(None, description="the run computes the noise multiplier")
    delta: float | None = Field(
        None, gt=0.0, lt=1.0, description="default min(1e-5, 1 / (10 N)) for N clients; warned if at least 1/N"
    )
    epsilon_budget: PositiveFloat | None = Field(None, description="stop before a round would spend more epsilon")
    accountant: Accountant = "rdp"

    @model_validator(mode="after")
    def _one_noise_rule(self) -> UserDP:
        if (self.noise_multiplier is None) == (self.target_epsilon is None):
            raise ValueError("dp user needs exactly one of privacy.dp.noise_multiplier and privacy.dp.target_epsilon")
        return self


class LocalDP(Section):
    """Each device clips and noises its own upload (the Gaussian mechanism per round, composed over rounds)."""

    kind: Literal["local"]
    clip_norm: PositiveFloat = Field(1.0, description="every client's whole update is clipped to this L2 norm")
    noise_multiplier: float = Field(gt=0.0, description="the noise each device adds, over clip_norm")
    delta: float | None = Field(None, gt=0.0, lt=1.0, description="default min(1e-5, 1 / (10 N)) for N clients")
    accountant: Accountant = "rdp"


DPConfig = Annotated[
    UserDP | LocalDP | NoDP, Field(discriminator="kind"), BeforeValidator(kind_default("none", "none, user, local"))
]


class SecureAggregation(Section):
    """Bonawitz et al., "Practical Secure Aggregation for Privacy-Preserving Machine Learning", CCS 2017."""

    threshold: float = Field(0.5, gt=0.0, le=1.0, description="share of a round's clients that must survive")
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="simulation: share that drops after masking")

    @model_validator(mode="after")
    def _recoverable(self) -> SecureAggregation:
        if 1 - self.dropout < self.threshold:
            raise ValueError("dropout leaves fewer clients than threshold: no sum could be recovered")
        return self


class PrivacyConfig(Section):
    """Differential privacy, secure aggregation and pseudo-items (see README, Privacy)."""

    dp: DPConfig = Field(default_factory=NoDP, description="none, user (DP-FedAvg) or local (each device noises)")
    secure_aggregation: SecureAggregation | None = Field(
        None, description="the server learns only the sum: true, or {threshold, dropout}"
    )
    pseudo_items: float = Field(0.0, ge=0.0, description="rating: pseudo-items trained per rated item (FedRec)")

    @field_validator("secure_aggregation", mode="before")
    @classmethod
    def _switch(cls, value: Any) -> Any:
        """``true`` turns it on with its defaults, and so does a mapping of its keys; ``false`` (or null) leaves it
        off. Raises ``ValueError`` for anything else."""
        if value is True:
            return {}
        if value is False or value is None:
            return None
        if not isinstance(value, dict | SecureAggregation):
            raise ValueError(f"give true, false or {{threshold: ..., dropout: ...}}, not {value!r}")
        return value

    @model_validator(mode="after")
    def _combine(self) -> PrivacyConfig:
        if isinstance(self.dp, LocalDP) and self.secure_aggregation is not None:
            raise ValueError("dp local and secure_aggregation do not combine; use dp user with secure_aggregation")
        return self

    @property
    def active(self) -> bool:
        """Whether any privacy mechanism is on (DP, secure aggregation, pseudo-items)."""
        return self.dp.kind != "none" or self.secure_aggregation is not None or self.pseudo_items > 0
