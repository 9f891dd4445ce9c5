"""An extension written outside the package: a server optimizer with Nesterov momentum.

The server keeps ``m = beta * m + delta`` per weight and steps ``lr * (beta * m + delta)`` (Nesterov's
look-ahead, as FedOpt's server momentum without it is FedAvgM; Hsu et al. 2019, Reddi et al., ICLR 2021). For a
row-sparse table only the rows some client trained move and update their momentum. ``beta`` 0 is plain FedAvg
with server learning rate ``lr``. Registered as ``federation.server_optimizer: {kind: nesterov, options: {lr,
beta}}``; loaded with ``plugins: [nesterov_server]``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import Tensor

from fedrec.registry import SERVER_OPTIMIZERS


class NesterovOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    lr: float = Field(1.0, gt=0)
    beta: float = Field(0.9, ge=0, lt=1)


@dataclass
class NesterovServer:
    lr: float
    beta: float
    momentum: dict[str, Tensor] = field(default_factory=dict)

    def step(self, name: str, value: Tensor, delta: Tensor, touched: Tensor | None = None) -> Tensor:
        rows = slice(None) if touched is None else touched
        m = self.momentum.setdefault(name, torch.zeros_like(value))
        d = delta.to(value.dtype)[rows]
        m[rows] = self.beta * m[rows] + d
        new = value.clone()
        new[rows] = value[rows] + self.lr * (self.beta * m[rows] + d)
        return new

    def state_dict(self) -> dict[str, Any]:
        return {"momentum": dict(self.momentum)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.momentum = dict(state["momentum"])


@dataclass(frozen=True)
class NesterovSpec:
    options: Any = NesterovOptions

    def build(self, options: Any) -> NesterovServer:
        return NesterovServer(options.lr, options.beta)


SERVER_OPTIMIZERS.register("nesterov", NesterovSpec())
