"""Federated simulation: the server and a host of all clients in one process, on a virtual-time queue."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fedrec.config import RunConfig
from fedrec.experiment import build_privacy
from fedrec.experiment.build import TaskData, build_task, device_profiles, initial_model, metrics_for, num_clients
from fedrec.experiment.checkpoint import SimulationCheckpointer, resume_simulation
from fedrec.experiment.outcome import server_outcome
from fedrec.experiment.recorder import RunRecorder
from fedrec.experiment.server_factory import build_server, server_plan
from fedrec.payloads import GlobalModel
from fedrec.privacy.accountant import PrivacyLedger
from fedrec.registry import BACKENDS
from fedrec.run_folder import RunFolder
from fedrec.runtime.server import Server
from fedrec.tasks.base import Task
from fedrec.transport.base import TrafficMeter
from fedrec.transport.inprocess import InProcessTransport

__all__ = ["SimulationResult", "build_simulation", "run_simulation", "server_plan"]

log = logging.getLogger(__name__)


@dataclass
class SimulationResult:
    model: GlobalModel
    task: Task
    metrics: dict[str, float]
    traffic: TrafficMeter
    virtual_time_s: float  # when the server finished: outstanding updates it did not wait for do not count
    rounds_done: int = 0
    ledger: PrivacyLedger | None = None
    outcome: dict[str, Any] = field(default_factory=dict)  # what the run did: status, rounds, refusals, stopped
    resumed_from_round: int | None = None


def build_simulation(
    config: RunConfig,
    split: TaskData,
    recorder: RunRecorder | None = None,
    folder: RunFolder | None = None,
) -> tuple[InProcessTransport, Task]:
    """The server and one host of every client, on a virtual-time queue; the host runs on the configured
    ``federation.backend``. The host's JOIN is queued."""
    client_ids = np.arange(1, num_clients(config, split) + 1)
    task = build_task(config, split, client_ids)
    devices = device_profiles(config, client_ids)
    spent = build_privacy.ledger(config, len(client_ids))
    host = build_privacy.client_host(config, client_ids, task, len(client_ids), devices)
    always_online = config.devices.always_online
    server = build_server(
        config, initial_model(config, task), server_plan(config), len(client_ids), metrics_for(config, split), spent,
        recorder, folder, online=None if always_online else devices.online,
    )  # fmt: skip
    transport = InProcessTransport(server, [host], BACKENDS.get(config.federation.backend)([host]))
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
    checkpoint, resumed = None, None
    if folder is not None:
        if resume:
            done = resume_simulation(folder, transport, task)
            resumed = done
            metrics_round = transport.server.metrics_round  # type: ignore[attr-defined]
            kept = folder.truncate_history(metrics_round if metrics_round is not None else 0)
            if recorder is not None:
                recorder.history = kept
            log.info("resuming the simulation after round %d", done)
        checkpoint = SimulationCheckpointer(folder, transport, task)
    try:
        transport.run(checkpoint)
    finally:
        transport.backend.close()
    server = transport.server
    assert isinstance(server, Server)
    if not server.finished:  # nothing left to deliver, yet the run is not over: say what it waited for
        server.stopped = f"the simulation stalled after round {server.round}, {server.waiting_for()}"
        log.error(server.stopped)
    ledger = recorder.ledger if recorder is not None else build_privacy.ledger(config, server.num_clients)
    return SimulationResult(
        server.model, task, server.last_metrics, transport.meter, server.now, server.round, ledger,
        server_outcome(server), resumed,
    )  # fmt: skip
