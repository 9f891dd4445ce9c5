"""The composition root of ``fedrec run``: data, then the run folder, then the run, then the summary."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from fedrec.config import RunConfig
from fedrec.data.implicit import LeaveOneOut
from fedrec.data.ratings import RatingSplit
from fedrec.experiment.baselines import global_baseline, local_baseline
from fedrec.experiment.build import TaskData, load_task_data, num_clients
from fedrec.experiment.build_privacy import privacy_block
from fedrec.experiment.centralized import train_centralized, train_centralized_ranking
from fedrec.experiment.checkpoint import SIMULATION_STATE
from fedrec.experiment.progress import ProgressView
from fedrec.experiment.recorder import RunRecorder
from fedrec.experiment.simulation import run_simulation
from fedrec.experiment.summary import build_summary
from fedrec.experiment.task_data import data_report
from fedrec.registry import plugin_failure
from fedrec.run_folder import CLIENTS_CHECKPOINT, SERVER_CHECKPOINT, RunFolder, default_run_dir
from fedrec.runtime.protocols import RoundRecord
from fedrec.transport.base import TrafficMeter

RANKING_KEYS = ("hr@10", "ndcg@10", "recall@20", "ndcg@20")
BASELINE_TASKS = ("classification", "node_classification")  # centralized and local runs train one call


@dataclass
class RunOutcome:
    folder: Path
    summary: dict[str, Any]
    history: list[dict[str, Any]]


@dataclass
class _Totals:
    metrics: dict[str, float]
    traffic: TrafficMeter | None = None
    virtual_time_s: float = 0.0
    privacy: dict[str, Any] | None = None
    outcome: dict[str, Any] | None = None  # a federated run's rounds, status, refusals (``server_outcome``)
    resumed_from_round: int | None = None


def resume(path: Path, quiet: bool = False) -> RunOutcome:
    """Continue the interrupted simulation in ``path`` from its last checkpoint (``fedrec run --resume``)."""
    folder = RunFolder(path)
    config = folder.reopen(SIMULATION_STATE)
    return execute(config, quiet=quiet, folder=folder)


def execute(
    config: RunConfig, out: Path | None = None, quiet: bool = False, folder: RunFolder | None = None
) -> RunOutcome:
    """Run ``config`` into a new run folder (``out``), or continue the interrupted one in ``folder``."""
    split = load_task_data(config)  # data problems surface before anything is written
    resuming = folder is not None
    if folder is None:
        folder = RunFolder(out or default_run_dir(config))
        folder.create(config)
    federated = config.mode == "federated"
    rounds = config.centralized.epochs if config.mode == "centralized" else config.federation.rounds
    started = time.perf_counter()
    baseline = not federated and config.task in BASELINE_TASKS  # trained in one call, shown once
    label = f"{config.mode} {config.data.name}"
    with folder.removed_if_refused(), ProgressView(1 if baseline else rounds, label, enabled=not quiet) as view:
        recorder = RunRecorder(folder, view)
        try:
            if federated:
                totals = _federated(config, split, recorder, folder, resuming)
            elif baseline:
                totals = _baseline(config, split, recorder, folder)
            else:
                totals = _centralized(config, split, recorder, folder)
        except Exception as error:  # a plug-in's bug: one line, and the unstarted folder is removed
            failure = plugin_failure(error)
            if failure is None:
                raise
            raise failure from None
    summary = build_summary(
        config,
        mode=config.mode,
        num_clients=num_clients(config, split),
        metrics=totals.metrics,
        wall_time_s=time.perf_counter() - started,
        virtual_time_s=totals.virtual_time_s,
        traffic=totals.traffic,
        outcome=totals.outcome,
        privacy=totals.privacy,
        data_report=data_report(config, split),
        resumed_from_round=totals.resumed_from_round,
    )
    folder.write_summary(summary)
    return RunOutcome(folder.path, summary, recorder.history)


def _federated(config: RunConfig, split: TaskData, recorder: RunRecorder, folder: RunFolder, resuming: bool) -> _Totals:
    result = run_simulation(config, split, recorder, folder, resuming)
    folder.save_tensors(CLIENTS_CHECKPOINT, dict(result.task.private_state()))
    privacy = privacy_block(config, result.ledger, result.rounds_done, num_clients(config, split))
    return _Totals(
        result.metrics, result.traffic, result.virtual_time_s, privacy, result.outcome, result.resumed_from_round
    )


def _baseline(config: RunConfig, split: Any, recorder: RunRecorder, folder: RunFolder) -> _Totals:
    if config.mode == "local":
        metrics, models = local_baseline(config, split)
        folder.save_tensors(CLIENTS_CHECKPOINT, {"client_ids": torch.arange(1, split.num_clients + 1), **models.params})
    else:
        metrics, model = global_baseline(config, split)
        folder.save_tensors(SERVER_CHECKPOINT, {"round": config.centralized.epochs, **model.params})
    recorder.on_round(RoundRecord(1, metrics, split.num_clients, 0.0))
    return _Totals(metrics)


def _centralized(
    config: RunConfig, split: RatingSplit | LeaveOneOut, recorder: RunRecorder, folder: RunFolder
) -> _Totals:
    if isinstance(split, LeaveOneOut):
        task = train_centralized_ranking(config, split, recorder)
        assert task.final_model is not None
        folder.save_tensors(SERVER_CHECKPOINT, {"round": config.centralized.epochs, **task.final_model.params})
        folder.save_tensors(CLIENTS_CHECKPOINT, dict(task.private_state()))
        return _Totals({k: v for k, v in recorder.history[-1].items() if k in RANKING_KEYS})
    net = train_centralized(config, split, recorder)
    params = {k: v.detach() for k, v in net.state_dict().items()}
    item_side = {k: params[k] for k in ("item_emb", "item_bias", "global_bias")}
    folder.save_tensors(SERVER_CHECKPOINT, {"round": config.centralized.epochs, **item_side})
    user_side = {k: params[k] for k in ("user_emb", "user_bias")}
    user_side["client_ids"] = torch.arange(1, split.train.num_users + 1)
    folder.save_tensors(CLIENTS_CHECKPOINT, user_side)
    last = recorder.history[-1]
    return _Totals({k: last[k] for k in ("test_rmse", "test_mae")})
