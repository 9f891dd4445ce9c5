"""The one builder of ``summary.json``, shared by the simulation, the baselines and the cluster's server, so
that a run's summary has the same keys however it ran.

Keys: ``dataset task mode algorithm num_clients rounds status metrics wall_time_s virtual_time_s bytes_up
bytes_down raw_tensor_bytes_up raw_tensor_bytes_down seed execution resumed_from_round``; a federated run
adds what its server did (``server_outcome``: planned and aggregated rounds, refusals, participation);
optionally ``privacy``, ``data_report`` and the task's own entries (``protocol`` for ranking).
"""

from __future__ import annotations

from typing import Any

from fedrec.config import RunConfig
from fedrec.experiment.build import algorithm_name, task_spec
from fedrec.transport.base import TrafficMeter


def build_summary(
    config: RunConfig,
    *,
    mode: str,
    num_clients: int,
    metrics: dict[str, float],
    wall_time_s: float,
    virtual_time_s: float = 0.0,
    traffic: TrafficMeter | None = None,
    outcome: dict[str, Any] | None = None,
    privacy: dict[str, Any] | None = None,
    data_report: dict[str, int] | None = None,
    resumed_from_round: int | None = None,
) -> dict[str, Any]:
    """``summary.json`` of a run of ``config`` in ``mode`` (federated, centralized, local, distributed);
    ``outcome``: the server's ``server_outcome`` (federated runs), which sets ``rounds`` and ``status``."""
    federated = mode in ("federated", "distributed")
    traffic = traffic or TrafficMeter()  # the baselines move nothing
    rounds = config.centralized.epochs if config.mode == "centralized" else config.federation.rounds
    summary: dict[str, Any] = {
        "dataset": config.data.name,
        "task": config.task,
        "mode": mode,
        "algorithm": algorithm_name(config) if federated else "none",
        "num_clients": num_clients,
        "rounds": rounds,
        "status": "finished",
        "metrics": metrics,
        "wall_time_s": round(wall_time_s, 3),
        "virtual_time_s": round(virtual_time_s, 3),
        "bytes_up": traffic.bytes_up,
        "bytes_down": traffic.bytes_down,
        "raw_tensor_bytes_up": traffic.raw_up,
        "raw_tensor_bytes_down": traffic.raw_down,
        "seed": config.seed,
        "execution": config.federation.execution if federated else config.mode,
        "resumed_from_round": resumed_from_round,
    }
    summary |= outcome or {}
    if privacy is not None:
        summary["privacy"] = privacy
    summary |= task_spec(config).summary_extras(config)
    if data_report is not None:
        summary["data_report"] = data_report
    return summary
