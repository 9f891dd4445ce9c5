"""User-level DP-FedAvg: clip each client's whole update, sum, add Gaussian noise, divide by the expected
cohort size.

McMahan, Ramage, Talwar and Zhang, "Learning Differentially Private Recurrent Language Models", ICLR 2018.
Every client weighs the same (its example count would otherwise be part of what is protected), and the sum
is divided by the expected number of sampled clients ``q * N``, a constant: dividing by the actual count
would make the divisor depend on who took part. Noise covers every coordinate of every federated parameter,
the whole item table included, so rows nobody trained move too and do not tell which items were rated.
The noisy mean feeds the configured server optimizer (FedOpt), which is post-processing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from fedrec.algorithms.server_opt import ServerOptimizer, ServerStep
from fedrec.payloads import ClientUpdates, GlobalModel, scatter_rows
from fedrec.privacy.clipping import clip_updates
from fedrec.privacy.sums import NoisySum


def summed(model: GlobalModel, updates: ClientUpdates) -> dict[str, Tensor]:
    """The plain sum of the clients' deltas in the shape of each parameter (row deltas scattered)."""
    sums = {name: deltas.sum(0) for name, deltas in updates.dense.items()}
    rows = updates.rows
    for name, values in rows.values.items():
        sums[name] = scatter_rows(rows.index, values, model.params[name].shape[0])
    return sums


@dataclass
class DPFedAvg:
    clip_norm: float
    noise_multiplier: float
    expected_clients: float  # q * N
    server_opt: ServerStep = field(default_factory=ServerOptimizer)
    seed: int = 0
    rounds: int = 0

    def state_dict(self) -> dict[str, Any]:
        """The server optimizer's moments and the rounds aggregated (which seed each round's noise: a resumed
        run must not draw the same noise twice)."""
        return {"server_opt": self.server_opt.state_dict(), "rounds": self.rounds}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.server_opt.load_state_dict(state["server_opt"])
        self.rounds = int(state["rounds"])

    def aggregate(self, model: GlobalModel, updates: list[ClientUpdates | NoisySum]) -> GlobalModel:
        """The next version: each update clipped to ``clip_norm`` (again, by the server), summed, noised with N(0, (z
        C)^2) per coordinate, divided by the expected cohort; or one ``NoisySum`` from secure aggregation,
        already noised by its clients."""
        self.rounds += 1
        if len(updates) == 1 and isinstance(updates[0], NoisySum):
            sums = updates[0].sums
        else:
            plain = [u for u in updates if isinstance(u, ClientUpdates)]
            batch = clip_updates(ClientUpdates.concat(plain), self.clip_norm)  # the server enforces the bound
            sums = self.noised(summed(model, batch))
        params = dict(model.params)
        for name, total in sums.items():
            params[name] = self.server_opt.step(name, params[name], total / self.expected_clients)
        return model.replace(params)

    def noised(self, sums: dict[str, Tensor]) -> dict[str, Tensor]:
        """``sums`` (name -> full-shape tensor) plus Gaussian noise of std ``noise_multiplier * clip_norm``, drawn from
        the run's seed and this round."""
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.rounds)
        std = self.noise_multiplier * self.clip_norm
        return {
            name: total + std * torch.randn(total.shape, generator=generator, dtype=torch.float64).to(total.dtype)
            for name, total in sorted(sums.items())
        }
