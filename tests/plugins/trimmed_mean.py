"""An extension written outside the package: the coordinate-wise trimmed mean, a robust server aggregator.

Yin, Chen, Ramchandran and Bartlett, "Byzantine-Robust Distributed Learning: Towards Optimal Statistical
Rates", ICML 2018. For every coordinate, the ``trim`` share of the largest and of the smallest client values is
dropped and the rest averaged (unweighted). A row of an embedding table is trimmed among the clients that
trained that row. Registered as ``federation.aggregator: trimmed_mean``; loaded with ``plugins: [trimmed_mean]``.
"""

from __future__ import annotations

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import Tensor

from fedrec.algorithms.registry import AggregatorSpec
from fedrec.algorithms.server_opt import ServerOptimizer
from fedrec.payloads import ClientUpdates, GlobalModel
from fedrec.registry import AGGREGATORS


class TrimOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    trim: float = Field(0.1, ge=0.0, lt=0.5, description="share of values dropped at each end, per coordinate")


def trimmed_rows(values: Tensor, group: Tensor, groups: int, trim: float) -> tuple[Tensor, Tensor]:
    """Per group (row of a table) and coordinate, the mean of the values left after trimming; values
    ``[L, d]``, group ``int64 [L]``. Returns the means ``[groups, d]`` and the bool mask of groups present."""
    flat = values.reshape(len(values), -1).double()
    by_value = flat.argsort(dim=0, stable=True)
    grouped = group[by_value].argsort(dim=0, stable=True)  # by group, ascending values within each group
    order = by_value.gather(0, grouped)
    sizes = torch.bincount(group, minlength=groups)
    starts = torch.cumsum(sizes, 0) - sizes
    owner = group[order]
    rank = torch.arange(len(flat)).unsqueeze(1) - starts[owner]
    cut = (trim * sizes[owner].double()).floor().long()
    keep = (rank >= cut) & (rank < sizes[owner] - cut)
    sums = torch.zeros(groups, flat.shape[1], dtype=torch.float64).scatter_add_(0, owner, flat.gather(0, order) * keep)
    kept = torch.zeros(groups, flat.shape[1], dtype=torch.float64).scatter_add_(0, owner, keep.double())
    present = sizes > 0
    means = torch.zeros_like(sums)
    means[present] = sums[present] / kept[present]
    return means.reshape(groups, *values.shape[1:]), present


class TrimmedMean:
    def __init__(self, trim: float, server_opt: ServerOptimizer) -> None:
        self.trim, self.server_opt = trim, server_opt

    def state_dict(self) -> dict[str, object]:
        return {"server_opt": self.server_opt.state_dict()}

    def load_state_dict(self, state: dict[str, object]) -> None:
        self.server_opt.load_state_dict(state["server_opt"])  # type: ignore[arg-type]

    def aggregate(self, model: GlobalModel, updates: list[ClientUpdates]) -> GlobalModel:
        batch = ClientUpdates.concat(sorted(updates, key=lambda u: int(u.client_ids.min())))
        params = dict(model.params)
        everyone = torch.zeros(len(batch.client_ids), dtype=torch.int64)
        for name, deltas in batch.dense.items():
            mean, _ = trimmed_rows(deltas, everyone, 1, self.trim)
            params[name] = self.server_opt.step(name, params[name], mean[0].to(params[name].dtype))
        for name, deltas in batch.rows.values.items():
            mean, touched = trimmed_rows(deltas, batch.rows.index, params[name].shape[0], self.trim)
            params[name] = self.server_opt.step(name, params[name], mean.to(params[name].dtype), touched)
        return model.replace(params)


AGGREGATORS.register(
    "trimmed_mean",
    AggregatorSpec(lambda options, server_opt: TrimmedMean(options.trim, server_opt), TrimOptions, True),
)
