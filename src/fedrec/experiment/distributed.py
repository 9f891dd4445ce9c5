"""The cluster mode: the same server and client workers as the simulation, over gRPC between processes.

Only the transport and the clock change: the server worker, its parts, every task and FedAvg are those of
``simulation``. The server reads only what shapes the initial model and counts the clients (``task_data``:
a dataset's catalogue, no rating) and builds the task with no clients of its own, so it holds no client's
data. Each client process loads only its own clients' data and keeps their private state for the life of
the process.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import yaml

from fedrec.checkpoint_check import RESUME_FIX
from fedrec.config import RunConfig, build_config, dump_config
from fedrec.errors import ConfigError, FedrecError, RunFolderError
from fedrec.experiment import build_privacy
from fedrec.experiment.build import build_task, initial_model, metrics_for, num_clients
from fedrec.experiment.checkpoint import load_server_model, load_server_progress
from fedrec.experiment.outcome import server_outcome
from fedrec.experiment.progress import ProgressView
from fedrec.experiment.recorder import RunRecorder
from fedrec.experiment.server_factory import build_server, server_plan
from fedrec.experiment.summary import build_summary
from fedrec.experiment.task_data import client_data, data_report, most_examples, server_data
from fedrec.payloads import GlobalModel
from fedrec.registry import TASKS
from fedrec.run_folder import SERVER_CHECKPOINT, SERVER_STATE, RunFolder
from fedrec.runtime.client_host import ClientHost
from fedrec.runtime.message import SERVER, Message, MessageKind
from fedrec.transport.codec import encode
from fedrec.transport.grpc_client import Backoff, GrpcClientTransport
from fedrec.transport.grpc_common import WireOptions
from fedrec.transport.grpc_server import GrpcServerTransport, HelloCheck

log = logging.getLogger("fedrec.server")
LOADS_PLUGINS = "load"  # a client process's hello: it imports the modules the config's ``plugins`` names


def wire_options(config: RunConfig) -> WireOptions:
    """The gRPC message limit, compression and status interval of a cluster."""
    dist = config.distributed
    return WireOptions(dist.max_message_mb * 1024 * 1024, dist.compression, dist.status_every_s)


def hello_check(
    task: str, num_users: int, tokens: dict[str, np.ndarray] | None, plugins: tuple[str, ...] = ()
) -> HelloCheck:
    """Why a client process's hello is refused, or None. Called with ``ids`` None first: the task and the
    credential are judged before the (possibly long) list of client ids is read. A task the client process
    does not list may come from the run's ``plugins``, which a client that loads plugins imports on welcome."""

    def check(meta: dict[str, str], ids: np.ndarray | None) -> str | None:
        allowed = tokens.get(meta.get("token", "")) if tokens is not None else None
        if tokens is not None and allowed is None:
            return "unknown or wrong credential: pass the token the run's operator gave you (--token)"
        from_plugin = bool(plugins) and meta.get("plugins") == LOADS_PLUGINS
        if task not in meta.get("tasks", "").split(",") and not from_plugin:
            runs = meta.get("tasks", "")[:80] or "nothing"
            return f"this run's task is {task}; the client process runs only {runs}"
        if ids is None:
            return None
        if ids[-1] > num_users:
            return f"client ids run from 1 to {num_users} in this run, got {ids[-1]}"
        if allowed is not None and not np.isin(ids, allowed).all():
            return "the credential does not cover all the clients this process hosts"
        return None

    return check


def read_tokens(path: Path) -> dict[str, np.ndarray]:
    """A tokens file: one line per credential, ``<token> <client ids, e.g. 1-100>``."""
    from fedrec.transport.grpc_common import parse_client_ids

    tokens: dict[str, np.ndarray] = {}
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise FedrecError(f"cannot read the tokens file {path}: {exc.strerror}") from None
    for number, line in enumerate(lines, 1):
        if not line.strip() or line.startswith("#"):
            continue
        token, _, ids = line.partition(" ")
        try:
            tokens[token] = parse_client_ids(ids)
        except ValueError as exc:
            raise FedrecError(f"{path}:{number}: {exc}; lines read '<token> <ids like 1-100>'") from None
    return tokens


def refuse_simulation_backend(config: RunConfig) -> None:
    """A backend places a simulation's client hosts; a cluster's are its client processes."""
    if config.federation.backend != "inprocess":
        raise ConfigError(
            f"federation.backend {config.federation.backend} runs a simulation's client hosts; in a cluster each "
            "client process runs its own: remove federation.backend"
        )


def serve(
    config: RunConfig,
    listen: str,
    folder: RunFolder,
    resume: bool = False,
    tokens: dict[str, np.ndarray] | None = None,
    tls: grpc.ServerCredentials | None = None,
) -> dict[str, Any]:
    """``fedrec server``: serve one run on ``listen`` until it ends (or ``resume`` it from ``folder``), with the
    clients' ``tokens`` and ``tls`` credentials if given; returns the summary. Raises
    ``ConfigError``/``FedrecError`` for a config or an address it cannot serve."""
    refuse_simulation_backend(config)
    data = server_data(config)  # the catalogue or the shapes: no client's data
    clients, report, metrics = num_clients(config, data), data_report(config, data), metrics_for(config, data)
    initial = initial_model(config, build_task(config, data, np.empty(0, dtype=np.int64)))
    del data  # the server keeps no client's data
    model, first_round = _starting_model(initial, folder, resume, config.federation.rounds)
    dist = config.distributed
    plan = replace(server_plan(config, first_round), reply_timeout_s=dist.reply_timeout_s,
                   rejoin_wait_s=dist.rejoin_wait_s, max_examples=most_examples(config))  # fmt: skip
    spent = build_privacy.ledger(config, clients)
    view = ProgressView(config.federation.rounds, "distributed", enabled=False)
    recorder = RunRecorder(folder, view)
    recorder.on_round = _logged(recorder.on_round)  # type: ignore[method-assign]
    server = build_server(
        config, model, plan, clients, metrics, spent, recorder, folder, wait_for=config.distributed.min_clients
    )
    if resume:  # optimizer moments, policy state, counts, and the model they belong to
        done = load_server_progress(folder, server)
        if done not in (first_round - 1, first_round):  # the state is saved first: it may be one round ahead
            raise RunFolderError(
                f"{folder.path / SERVER_CHECKPOINT} (round {first_round - 1}) and {folder.path / SERVER_STATE} "
                f"(round {done}) are not of one run's last rounds; {RESUME_FIX}"
            )
        first_round = done + 1
        server.plan = replace(server.plan, first_round=first_round)
        log.info("resuming after round %d", done)  # once every checkpoint is checked
        folder.truncate_history(server.metrics_round or 0)  # a round whose evaluation was cut off is evaluated again
    recorder.ledger = spent
    options = wire_options(config)
    _check_model_fits(model, options)
    welcome = {"config": dump_config(config), "max_message_bytes": str(options.max_message_bytes)}
    transport = GrpcServerTransport(
        server, listen, hello_check(config.task, clients, tokens, config.plugins), welcome, options, tls
    )
    recorder.traffic = lambda: (transport.meter.bytes_up, transport.meter.bytes_down)
    started = time.perf_counter()
    transport.run()
    server.rejections.messages.update(transport.refused)  # refused before they reached the server worker
    summary = build_summary(
        config,
        mode="distributed",
        num_clients=clients,
        metrics=server.last_metrics,
        wall_time_s=time.perf_counter() - started,
        virtual_time_s=transport.elapsed_s(),
        traffic=transport.meter,
        outcome=server_outcome(server),
        privacy=build_privacy.privacy_block(config, spent, server.round, clients),
        data_report=report,
        resumed_from_round=first_round - 1 if resume else None,
    )
    folder.write_summary(summary)
    return summary


def _check_model_fits(model: GlobalModel, options: WireOptions) -> None:
    """The model is broadcast every round: refuse at start-up a limit it cannot fit in, not at round 1."""
    size = len(encode(Message(MessageKind.TRAIN, SERVER, (), 1, model, 0.0)))
    if size > options.max_message_bytes:
        raise FedrecError(
            f"the model is {size / 2**20:.1f} MiB on the wire, over distributed.max_message_mb="
            f"{options.max_message_bytes // 2**20}; raise distributed.max_message_mb"
        )


def _starting_model(initial: GlobalModel, folder: RunFolder, resume: bool, rounds: int) -> tuple[GlobalModel, int]:
    if not resume:
        return initial, 1
    model, done = load_server_model(folder, initial, rounds)  # refuses a checkpoint that does not fit the run
    return model, done + 1


def _logged(on_round: Any) -> Any:
    def report(record: Any) -> None:
        on_round(record)
        metrics = "  ".join(f"{k}={v:.4f}" for k, v in record.metrics.items())
        log.info("round %d: %s (%d clients trained)", record.round, metrics, record.num_participants)

    return report


def run_client(
    address: str,
    client_ids: np.ndarray,
    token: str | None,
    options: WireOptions,
    tls: grpc.ChannelCredentials | None = None,
    backoff: Backoff | None = None,
) -> None:
    """``fedrec client``: host ``client_ids`` on a server at ``address`` (the run's config comes from it), reconnecting
    with ``backoff`` until the run ends. Raises ``FedrecError`` when the server refuses the process."""

    def build_host(welcome: dict[str, str]) -> ClientHost:
        config = build_config(yaml.safe_load(welcome["config"]))
        data = client_data(config, client_ids)  # only this process's clients' data
        task = build_task(config, data, client_ids)
        return build_privacy.client_host(config, client_ids, task, num_clients(config, data), secure=True)

    hello = {"tasks": ",".join(TASKS.names()), "plugins": LOADS_PLUGINS, **({"token": token} if token else {})}
    GrpcClientTransport(address, client_ids, hello, build_host, options, tls, backoff or Backoff()).run()
