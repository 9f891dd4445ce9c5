"""Federated simulation: the server and a host of all clients in one process, on a virtual-time queue."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from fedrec.config import RunConfig
from fedrec.experiment import privacy_parts
from fedrec.experiment.checkpoint import ServerCheckpointer, SimulationCheckpointer, resume_simulation
from fedrec.experiment.outcome import server_outcome
from fedrec.experiment.parts import (
    TaskData,
    aggregator,
    build_task,
    device_profiles,
    initial_model,
    metrics_for,
    num_clients,
    round_policy,
    update_check,
)
from fedrec.experiment.recorder import RunRecorder
from fedrec.experiment.run_folder import RunFolder
from fedrec.payloads import GlobalModel
from fedrec.privacy.accountant import PrivacyLedger
from fedrec.runtime.server import Server
from fedrec.runtime.steps import ServerPlan
from fedrec.tasks.classification import ClassificationTask
from fedrec.tasks.ranking import RankingTask
from fedrec.tasks.rating import RatingTask
from fedrec.transport.inprocess import InProcessTransport, TrafficMeter

if TYPE_CHECKING:
    from fedrec.tasks.node_classification import NodeClassificationTask


log = logging.getLogger(__name__)


@dataclass
class SimulationResult:
    model: GlobalModel
    task: RatingTask | RankingTask | ClassificationTask | NodeClassificationTask
    metrics: dict[str, float]
    traffic: TrafficMeter
    virtual_time_s: float  # when the server finished: outstanding updates it did not wait for do not count
    rounds_done: int = 0
    ledger: PrivacyLedger | None = None
    outcome: dict[str, Any] = field(default_factory=dict)  # what the run did: status, rounds, refusals, stopped


def server_plan(config: RunConfig, first_round: int = 1) -> ServerPlan:
    fed = config.federation
    return ServerPlan(fed.rounds, fed.eval_every, first_round, fed.deadline_s, fed.quorum)


def build_simulation(
    config: RunConfig,
    split: TaskData,
    recorder: RunRecorder | None = None,
    folder: RunFolder | None = None,
) -> tuple[InProcessTransport, RatingTask | RankingTask | ClassificationTask | NodeClassificationTask]:
    client_ids = np.arange(1, num_clients(split) + 1)
    task = build_task(config, split, client_ids)
    devices = device_profiles(config, client_ids)
    spent = privacy_parts.ledger(config, len(client_ids))
    policy = privacy_parts.secure_policy(config, spent, len(client_ids)) or round_policy(config, len(client_ids))
    host = privacy_parts.client_host(config, client_ids, task, len(client_ids), devices)
    server = Server(
        model=initial_model(config, task),
        plan=server_plan(config),
        num_clients=len(client_ids),
        sampler=privacy_parts.sampler(config),
        aggregator=aggregator(config, len(client_ids), spent),
        metrics=metrics_for(config, split),
        checkpointer=ServerCheckpointer(folder),
        observer=recorder,
        check=update_check(config),
        policy=policy,
        online=devices.online if config.devices.availability < 1 or config.devices.kind == "trace" else None,
        budget=spent.refuses if spent is not None else None,
    )
    transport = InProcessTransport(server, [host])
    transport.send(host.join())
    if recorder is not None:
        recorder.traffic = lambda: (transport.meter.bytes_up, transport.meter.bytes_down)
        recorder.ledger = spent
    return transport, task


def run_simulation(
    config: RunConfig,
    split: TaskData,
    recorder: RunRecorder | None = None,
    folder: RunFolder | None = None,
    resume: bool = False,
) -> SimulationResult:
    """Run the simulation to its end; with a ``folder``, checkpoint it after every round, and with ``resume``
    continue from the folder's checkpoint (the history keeps the rounds evaluated before it)."""
    transport, task = build_simulation(config, split, recorder, folder)
    checkpoint = None
    if folder is not None:
        if resume:
            done = resume_simulation(folder, transport, task)
            metrics_round = transport.server.metrics_round  # type: ignore[attr-defined]
            kept = folder.truncate_history(metrics_round if metrics_round is not None else 0)
            if recorder is not None:
                recorder.history = kept
            log.info("resuming the simulation after round %d", done)
        checkpoint = SimulationCheckpointer(folder, transport, task)
    transport.run(checkpoint)
    server = transport.server
    assert isinstance(server, Server)
    if not server.finished:  # nothing left to deliver, yet the run is not over: say what it waited for
        server.stopped = f"the simulation stalled after round {server.round}, {server.waiting_for()}"
        log.error(server.stopped)
    ledger = recorder.ledger if recorder is not None else privacy_parts.ledger(config, server.num_clients)
    return SimulationResult(
        server.model, task, server.last_metrics, transport.meter, server.now, server.round, ledger,
        server_outcome(server),
    )  # fmt: skip
