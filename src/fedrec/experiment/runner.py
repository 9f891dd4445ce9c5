"""The composition root of ``fedrec run``: data, then the run folder, then the run, then the summary."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from fedrec.config import RunConfig
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


def execute(config: RunConfig, out: Path | None = None, quiet: bool = False) -> RunOutcome:
    split = load_split(config)  # data problems surface before anything is written
    folder = RunFolder(out or default_run_dir(config))
    folder.create(config)
    rounds = config.federation.rounds if config.mode == "federated" else config.centralized.epochs
    started = time.perf_counter()
    with ProgressView(rounds, f"{config.mode} {config.data.name}", enabled=not quiet) as view:
        recorder = RunRecorder(folder, view)
        if config.mode == "federated":
            result = run_simulation(config, split, recorder, folder)
            folder.save_tensors(CLIENTS_CHECKPOINT, dict(result.task.private_state()))
            metrics, traffic, virtual = result.metrics, (result.traffic.bytes_up, result.traffic.bytes_down), result.virtual_time_s
        else:
            net = train_centralized(config, split, recorder)
            params = {k: v.detach() for k, v in net.state_dict().items()}
            folder.save_tensors(SERVER_CHECKPOINT, {"round": rounds, **{k: params[k] for k in ("item_emb", "item_bias", "global_bias")}})
            ids = torch.arange(1, split.train.num_users + 1)
            folder.save_tensors(CLIENTS_CHECKPOINT, {"client_ids": ids, "user_emb": params["user_emb"], "user_bias": params["user_bias"]})
            metrics, traffic, virtual = recorder.history[-1] if recorder.history else {}, (0, 0), 0.0
            metrics = {k: metrics[k] for k in ("test_rmse", "test_mae") if k in metrics}
    summary = {
        "dataset": config.data.name,
        "task": "rating",
        "mode": config.mode,
        "algorithm": config.federation.algorithm if config.mode == "federated" else "none",
        "num_clients": split.train.num_users,
        "rounds": rounds,
        "metrics": metrics,
        "wall_time_s": round(time.perf_counter() - started, 3),
        "virtual_time_s": round(virtual, 3),
        "bytes_up": traffic[0],
        "bytes_down": traffic[1],
        "seed": config.seed,
        "execution": config.federation.execution if config.mode == "federated" else "centralized",
    }
    folder.write_summary(summary)
    return RunOutcome(folder.path, summary, recorder.history)
