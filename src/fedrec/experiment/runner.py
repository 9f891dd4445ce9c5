"""The composition root of ``fedrec run``: data, then the run folder, then the run, then the summary."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from fedrec.config import RunConfig
from fedrec.data.ratings import RatingSplit
from fedrec.experiment.centralized import train_centralized
from fedrec.experiment.parts import load_split
from fedrec.experiment.progress import ProgressView
from fedrec.experiment.recorder import RunRecorder
from fedrec.experiment.run_folder import CLIENTS_CHECKPOINT, SERVER_CHECKPOINT, RunFolder, default_run_dir
from fedrec.experiment.simulation import run_simulation


@dataclass
class RunOutcome:
    folder: Path
    summary: dict[str, Any]
    history: list[dict[str, Any]]


@dataclass
class _Totals:
    metrics: dict[str, float]
    bytes_up: int = 0
    bytes_down: int = 0
    virtual_time_s: float = 0.0


def execute(config: RunConfig, out: Path | None = None, quiet: bool = False) -> RunOutcome:
    split = load_split(config)  # data problems surface before anything is written
    folder = RunFolder(out or default_run_dir(config))
    folder.create(config)
    federated = config.mode == "federated"
    rounds = config.federation.rounds if federated else config.centralized.epochs
    started = time.perf_counter()
    with ProgressView(rounds, f"{config.mode} {config.data.name}", enabled=not quiet) as view:
        recorder = RunRecorder(folder, view)
        run = _federated if federated else _centralized
        totals = run(config, split, recorder, folder)
    summary = {
        "dataset": config.data.name,
        "task": "rating",
        "mode": config.mode,
        "algorithm": config.federation.algorithm if federated else "none",
        "num_clients": split.train.num_users,
        "rounds": rounds,
        "metrics": totals.metrics,
        "wall_time_s": round(time.perf_counter() - started, 3),
        "virtual_time_s": round(totals.virtual_time_s, 3),
        "bytes_up": totals.bytes_up,
        "bytes_down": totals.bytes_down,
        "seed": config.seed,
        "execution": config.federation.execution if federated else "centralized",
    }
    folder.write_summary(summary)
    return RunOutcome(folder.path, summary, recorder.history)


def _federated(config: RunConfig, split: RatingSplit, recorder: RunRecorder, folder: RunFolder) -> _Totals:
    result = run_simulation(config, split, recorder, folder)
    folder.save_tensors(CLIENTS_CHECKPOINT, dict(result.task.private_state()))
    traffic = result.traffic
    return _Totals(result.metrics, traffic.bytes_up, traffic.bytes_down, result.virtual_time_s)


def _centralized(config: RunConfig, split: RatingSplit, recorder: RunRecorder, folder: RunFolder) -> _Totals:
    net = train_centralized(config, split, recorder)
    params = {k: v.detach() for k, v in net.state_dict().items()}
    item_side = {k: params[k] for k in ("item_emb", "item_bias", "global_bias")}
    folder.save_tensors(SERVER_CHECKPOINT, {"round": config.centralized.epochs, **item_side})
    user_side = {k: params[k] for k in ("user_emb", "user_bias")}
    user_side["client_ids"] = torch.arange(1, split.train.num_users + 1)
    folder.save_tensors(CLIENTS_CHECKPOINT, user_side)
    last = recorder.history[-1]
    return _Totals({k: last[k] for k in ("test_rmse", "test_mae")})
