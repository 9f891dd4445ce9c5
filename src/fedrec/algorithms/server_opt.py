"""Server optimizers: FedOpt is FedAvg whose mean client delta feeds an optimizer on the server.

Reddi et al., "Adaptive Federated Optimization", ICLR 2021 (FedAdagrad, FedAdam, FedYogi); Hsu et al.,
"Measuring the Effects of Non-Identical Data Distribution", 2019 (server momentum, FedAvgM). The mean delta
Δ is the negated pseudo-gradient; with ``m = β1·m + (1-β1)·Δ`` the adaptive kinds step ``lr·m / (√v + τ)``:

- adagrad: ``v += Δ²``;  adam: ``v = β2·v + (1-β2)·Δ²``;  yogi: ``v -= (1-β2)·Δ²·sign(v - Δ²)``;
- momentum: ``m = β1·m + Δ``, step ``lr·m``;  sgd: step ``lr·Δ`` (lr 1 is plain FedAvg).

One function, five rules; state is kept per parameter name. For a row-sparse table only the rows some
client trained this round step and update their state (a lazy optimizer, as sparse Adam is), so an item
nobody rated does not drift on stale momentum.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import torch
from torch import Tensor

ServerKind = Literal["sgd", "momentum", "adam", "yogi", "adagrad"]


class ServerStep(Protocol):
    """What an aggregator does with each weight's mean client delta: a server optimizer (FedOpt)."""

    def step(self, name: str, value: Tensor, delta: Tensor, touched: Tensor | None = None) -> Tensor:
        """The new value of parameter ``name`` (``value``, any shape) given the clients' mean ``delta`` (same
        shape); for a row-sparse table only the rows ``touched`` (bool ``[rows]``) move."""
        ...

    def state_dict(self) -> dict[str, Any]:
        """What a resumed run needs (moments, step counts)."""
        ...

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Resume from ``state_dict()``."""
        ...


class ServerStepSpec(Protocol):
    """A server optimizer a config names by its registered kind (``federation.server_optimizer: {kind: NAME,
    options: {...}}``), registered in ``fedrec.registry.SERVER_OPTIMIZERS``."""

    @property
    def options(self) -> Any:
        """The pydantic model its ``options`` are validated against, or None."""
        ...

    def build(self, options: Any) -> ServerStep:
        """The server optimizer of one run."""
        ...


@dataclass(frozen=True)
class ServerOptimizerSettings:
    kind: ServerKind = "sgd"
    lr: float = 1.0
    beta1: float = 0.9
    beta2: float = 0.99
    tau: float = 1e-3
    initial_v: float = 0.0  # Reddi et al. start v at tau**2 in some experiments; 0 by default


@dataclass
class ServerOptimizer(ServerStep):
    settings: ServerOptimizerSettings = ServerOptimizerSettings()
    first: dict[str, Tensor] = field(default_factory=dict)
    second: dict[str, Tensor] = field(default_factory=dict)

    def state_dict(self) -> dict[str, dict[str, Tensor]]:
        """The moments (``first``, ``second``), per parameter name: what a resumed run needs."""
        return {"first": dict(self.first), "second": dict(self.second)}

    def load_state_dict(self, state: dict[str, dict[str, Tensor]]) -> None:
        self.first, self.second = dict(state["first"]), dict(state["second"])

    def step(self, name: str, value: Tensor, delta: Tensor, touched: Tensor | None = None) -> Tensor:
        """The new value of parameter ``name`` given the clients' mean delta (rows ``touched`` only, if given)."""
        s = self.settings
        delta = delta.to(value.dtype)
        if s.kind == "sgd":
            return value + s.lr * delta
        rows = slice(None) if touched is None else touched
        m = self.first.setdefault(name, torch.zeros_like(value))
        d = delta[rows]
        if s.kind == "momentum":
            m[rows] = s.beta1 * m[rows] + d
            step = s.lr * m[rows]
        else:
            v = self.second.setdefault(name, torch.full_like(value, s.initial_v))
            m[rows] = s.beta1 * m[rows] + (1 - s.beta1) * d
            square = d * d
            if s.kind == "adagrad":
                v[rows] = v[rows] + square
            elif s.kind == "adam":
                v[rows] = s.beta2 * v[rows] + (1 - s.beta2) * square
            else:  # yogi
                v[rows] = v[rows] - (1 - s.beta2) * square * torch.sign(v[rows] - square)
            step = s.lr * m[rows] / (v[rows].sqrt() + s.tau)
        new = value.clone()
        new[rows] = value[rows] + step
        return new
