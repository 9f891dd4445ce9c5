"""Optimizers for a cohort: ``torch.optim.SGD``/``Adam`` semantics, run independently for every client.

A cohort's parameters are stacked: each row belongs to one client. Rows are ordered so that, at every step,
the clients that still have a batch to train on come first; a step therefore updates a prefix of the rows
(``active_rows``), and clients that are done stay untouched, exactly as if each had its own optimizer that
stopped when its data ran out. Adam's bias correction uses each client's own step count.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor


@dataclass(frozen=True)
class OptimizerSettings:
    kind: Literal["sgd", "adam"] = "sgd"
    lr: float = 0.05
    momentum: float = 0.0
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8

    def torch_optimizer(self, groups: list[dict[str, object]]) -> torch.optim.Optimizer:
        """The per-client reference optimizer (sequential path, centralized baseline)."""
        if self.kind == "adam":
            return torch.optim.Adam(groups, lr=self.lr, betas=self.betas, eps=self.eps)
        return torch.optim.SGD(groups, lr=self.lr, momentum=self.momentum)


class CohortOptimizer:
    """One optimizer per client, run for a whole cohort at once: each stacked row of each parameter belongs to a client
    (``owners``) and keeps that client's own moments and step count, so the numbers are those of separate
    ``torch.optim`` optimizers. ``decayed``: the parameters ``weight_decay`` applies to."""

    def __init__(
        self,
        settings: OptimizerSettings,
        params: dict[str, Tensor],
        owners: dict[str, Tensor],
        decayed: set[str],
    ) -> None:
        self.s = settings
        self.params = params
        self.owners = owners
        self.decayed = decayed
        num_clients = max(int(o.max()) + 1 if len(o) else 0 for o in owners.values())
        self.steps = torch.zeros(num_clients, dtype=torch.float64)  # bias corrections in double, as torch.optim
        self.buf1 = {k: torch.zeros_like(p) for k, p in params.items()}
        self.buf2 = {k: torch.zeros_like(p) for k, p in params.items()} if settings.kind == "adam" else {}

    @torch.no_grad()
    def step(self, grads: dict[str, Tensor], active_clients: int, active_rows: dict[str, int]) -> None:
        """One step of the first ``active_clients`` clients, on the first ``active_rows[name]`` rows of each parameter
        (the clients still training form a prefix)."""
        self.steps[:active_clients] += 1
        for name, grad in grads.items():
            n = active_rows[name]
            p = self.params[name][:n]
            g = grad[:n]
            if name in self.decayed and self.s.weight_decay:
                g = g + self.s.weight_decay * p
            if self.s.kind == "adam":
                self._adam(name, p, g, self.steps[self.owners[name][:n]])
            else:
                self._sgd(name, p, g)

    def _sgd(self, name: str, p: Tensor, g: Tensor) -> None:
        if self.s.momentum:
            buf = self.buf1[name][: len(p)]
            buf.mul_(self.s.momentum).add_(g)
            g = buf
        p.sub_(self.s.lr * g)

    def _adam(self, name: str, p: Tensor, g: Tensor, steps: Tensor) -> None:
        beta1, beta2 = self.s.betas
        m = self.buf1[name][: len(p)]
        v = self.buf2[name][: len(p)]
        m.lerp_(g, 1 - beta1)
        v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
        shape = (-1,) + (1,) * (p.dim() - 1)
        step_size = (self.s.lr / (1 - beta1**steps)).reshape(shape).to(p.dtype)
        bias2_sqrt = torch.sqrt(1 - beta2**steps).reshape(shape).to(p.dtype)
        # p -= step_size * m / (sqrt(v) / bias2_sqrt + eps), in place to spare allocations
        denom = v.sqrt().div_(bias2_sqrt).add_(self.s.eps).div_(step_size)
        p.addcdiv_(m, denom, value=-1.0)
