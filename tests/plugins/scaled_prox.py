"""An extension written outside the package: a proximal client term with a weight per parameter.

Each client minimises its loss plus ``(mu / 2) * sum_p scale_p * |w_p - w_p,received|^2``: FedProx (Li et al.,
MLSys 2020) whose pull differs by parameter (``scales``, 1 where unnamed), e.g. a stiff global bias and free
item embeddings. With no scales it is FedProx. Registered as ``federation.algorithm: {kind: scaled_prox,
options: {mu, scales}}``; loaded with ``plugins: [scaled_prox]``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import Tensor

from fedrec.engine.objective import PlainObjective
from fedrec.payloads import GlobalModel
from fedrec.registry import CLIENT_TERMS


class ScaledProxOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    mu: float = Field(0.01, ge=0)
    scales: dict[str, float] = Field(default_factory=dict, description="parameter name -> weight of its pull")


@dataclass
class ScaledProx(PlainObjective):  # nothing to upload and no state: only the loss term and its gradient differ
    mu: float
    scales: dict[str, float] = field(default_factory=dict)

    def penalty(self, clients: np.ndarray, weights: dict[str, Tensor], model: GlobalModel) -> Tensor:
        total = torch.zeros(())
        for name, w in weights.items():
            total = total + self.scales.get(name, 1.0) * ((w - model.params[name]) ** 2).sum()
        return 0.5 * self.mu * total

    def add_gradients(
        self, grads: dict[str, Tensor], params: dict[str, Tensor], anchors: dict[str, Tensor], active: dict[str, int]
    ) -> None:
        for name, anchor in anchors.items():
            n = active[name]
            grads[name][:n] += self.mu * self.scales.get(name, 1.0) * (params[name][:n].detach() - anchor[:n])


@dataclass(frozen=True)
class ScaledProxSpec:
    options: Any = ScaledProxOptions

    def build(self, options: Any, client_ids: np.ndarray) -> ScaledProx:
        return ScaledProx(options.mu, dict(options.scales))


CLIENT_TERMS.register("scaled_prox", ScaledProxSpec())
