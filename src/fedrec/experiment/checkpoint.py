"""Checkpoints that hold everything the next round depends on, so that a resumed run equals the
uninterrupted one.

- A cluster server saves, with the model (``checkpoint/server.pt``), its progress
  (``checkpoint/server_state.pt``): the server optimizer's moments, SCAFFOLD's controls (in the model),
  DP's noise round, the round policy's participation weights and FedBuff's buffer, and the run's counts.
  Client processes keep their own private state; they reconnect and join again.
- A simulation saves, after each delivery that completed a round, the whole run
  (``checkpoint/simulation.pt``): the server's progress and in-flight state, every client's private state
  (user embeddings, personal layers, SCAFFOLD's client controls) and the messages in flight, in virtual
  time. The DP ledger needs nothing more: epsilon follows from the rounds completed.

Payload objects (models, updates, metric sums, messages) are stored as the bytes of the wire codec, so a
checkpoint holds tensors and plain values only and loads with ``weights_only=True``.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch

from fedrec.checkpoint_check import LOADING_ERRORS, CheckpointCheck
from fedrec.payloads import GlobalModel
from fedrec.run_folder import SERVER_CHECKPOINT, SERVER_STATE, SIMULATION_STATE, RunFolder
from fedrec.runtime.message import Message
from fedrec.runtime.protocols import CheckpointRefused
from fedrec.runtime.server import Server
from fedrec.transport.base import TrafficMeter
from fedrec.transport.codec import decode, decode_payload, encode, encode_payload
from fedrec.transport.inprocess import InProcessTransport

log = logging.getLogger(__name__)

__all__ = [
    "SERVER_STATE", "SIMULATION_STATE", "ServerCheckpointer", "SimulationCheckpointer", "load_server_model",
    "load_server_progress", "pack", "resume_simulation", "unpack",
]  # fmt: skip
_PLAIN = (torch.Tensor, int, float, str, bool, type(None))


def pack(value: Any) -> Any:
    """``value`` with every payload object, message and array replaced by tensors and plain values."""
    if isinstance(value, _PLAIN):
        return value
    if isinstance(value, dict):
        return {str(k): pack(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [pack(v) for v in value]
    if isinstance(value, np.ndarray):
        return {"__array__": torch.from_numpy(np.ascontiguousarray(value))}
    if isinstance(value, np.integer | np.floating):
        return value.item()
    if isinstance(value, Message):
        arrivals = torch.from_numpy(value.arrivals) if value.arrivals is not None else None
        return {"__message__": _bytes(encode(value)), "seq": value.seq, "arrivals": arrivals}
    kind, tensors, meta = encode_payload(value)
    return {"__payload__": kind, "tensors": tensors, "meta": meta}


def unpack(value: Any) -> Any:
    """The inverse of ``pack``."""
    if isinstance(value, list):
        return [unpack(v) for v in value]
    if not isinstance(value, dict):
        return value
    if "__array__" in value:
        return value["__array__"].numpy()
    if "__message__" in value:
        message, _ = decode(value["__message__"].numpy().tobytes())
        arrivals = value["arrivals"].numpy() if value["arrivals"] is not None else None
        return Message(message.kind, message.sender, message.receiver, message.round, message.payload, message.time,
                       seq=int(value["seq"]), arrivals=arrivals)  # fmt: skip
    if "__payload__" in value:
        return decode_payload(value["__payload__"], value["tensors"], value["meta"])
    return {k: unpack(v) for k, v in value.items()}


def _bytes(data: bytes) -> torch.Tensor:
    return torch.frombuffer(bytearray(data), dtype=torch.uint8)


class ServerCheckpointer:
    """Saves the model and the server's progress after every round (atomically: a crash leaves the previous)."""

    def __init__(self, folder: RunFolder | None) -> None:
        self.folder = folder

    def save(self, server: Server) -> None:
        """Write the server's progress (model, aggregator and policy state, counts) to the run folder; a round whose
        parts refuse (secure aggregation mid-round) is skipped, and the next one saved."""
        if self.folder is None:
            return
        model: GlobalModel = server.model
        try:
            progress = pack(server.state_dict()["progress"])
        except CheckpointRefused as why:
            log.info("round %d is not checkpointed: %s", server.round, why)
            return
        self.folder.save_tensors(SERVER_STATE, {"round": server.round, "progress": progress})
        self.folder.save_tensors(SERVER_CHECKPOINT, {"round": server.round, **model.params})


def load_server_model(folder: RunFolder, initial: GlobalModel, planned_rounds: int) -> tuple[GlobalModel, int]:
    """The model a restarted cluster server continues from (``server.pt``, checked against ``initial``) and
    the round it completed."""
    check = CheckpointCheck(folder.path / SERVER_CHECKPOINT, planned_rounds)
    saved = check.load()
    done = check.round(check.field(saved, "round", int))
    params = {k: v for k, v in saved.items() if k != "round"}
    return check.model(initial.replace(params), initial), done


def load_server_progress(folder: RunFolder, server: Server) -> int:
    """Resume ``server`` from the folder's last saved progress, checked against the server's model (the
    initial one, or that of ``load_server_model``) and planned rounds; returns the round it completed."""
    check = CheckpointCheck(folder.path / SERVER_STATE, server.plan.rounds)
    saved = check.load()
    done = check.round(check.field(saved, "round", int))
    with check.decoding("its progress"):
        progress = unpack(check.field(saved, "progress", dict))
    _check_progress(check, progress, server.model, done)
    with check.decoding("its progress", LOADING_ERRORS):
        server.load_state_dict({"progress": progress}, in_flight=False)
    return done


def _check_progress(check: CheckpointCheck, progress: Any, initial: GlobalModel, done: int) -> None:
    """The server's progress as ``Server.load_state_dict`` reads it: its round, model and last figures'
    round (the rest is refused by ``check.decoding`` if the server cannot load it)."""
    if check.field(progress, "round", int, "its server's round") != done:
        raise check.refuse(f"is damaged: its server's round {progress['round']} is not its round {done}")
    check.model(check.field(progress, "model", GlobalModel, "its server's model"), initial, "its model")
    if progress.get("metrics_round") is not None:
        check.round(progress["metrics_round"], "the round of its last figures", upto=done)


class SimulationCheckpointer:
    """Called between deliveries: once a round has completed, saves the whole simulation."""

    def __init__(self, folder: RunFolder, transport: InProcessTransport, task: Any) -> None:
        self.folder, self.transport, self.task = folder, transport, task
        server = transport.server
        assert isinstance(server, Server)
        self.server = server
        self.saved_round = server.round

    def __call__(self) -> None:
        if self.server.round > self.saved_round and not self.server.finished:
            self.save()

    def save(self) -> None:
        """Write everything a resumed simulation needs: the server, the messages in flight, the clock, the traffic
        counts, the clients' private state."""
        transport = self.transport
        try:
            server = self.server.state_dict()
        except CheckpointRefused as why:
            log.info("round %d is not checkpointed: %s", self.server.round, why)
            return
        meter = transport.meter
        state = {
            "round": self.server.round,
            "server": server,
            "queue": transport.queue.state_dict(),
            "now": transport.now,
            "meter": [meter.bytes_up, meter.bytes_down, meter.messages],
            "clients": dict(self.task.private_state()),
            "hosts_finished": [bool(getattr(h, "finished", False)) for h in transport.hosts],
        }
        self.folder.save_tensors(SIMULATION_STATE, {"round": self.server.round, "state": pack(state)})
        self.saved_round = self.server.round


def resume_simulation(folder: RunFolder, transport: InProcessTransport, task: Any) -> int:
    """Put a freshly built simulation back where the folder's checkpoint left it, once the checkpoint is
    checked against it (its initial model, its clients' private state, its planned rounds); returns that
    round."""
    server = transport.server
    assert isinstance(server, Server)
    check = CheckpointCheck(folder.path / SIMULATION_STATE, server.plan.rounds)
    stored = check.load()
    done = check.round(check.field(stored, "round", int))
    with check.decoding("its state"):
        saved = unpack(check.field(stored, "state", dict))
    _check_simulation(check, saved, server.model, task.private_state(), done)
    with check.decoding("its state", LOADING_ERRORS):
        server.load_state_dict(saved["server"], in_flight=True)
        transport.queue.load_state_dict(saved["queue"])
        transport.now = float(saved["now"])
        up, down, messages = saved["meter"]
        transport.meter = TrafficMeter(up, down, up, down, messages)  # in simulation raw bytes are the bytes
        task.load_private_state(saved["clients"])
        for host, finished in zip(transport.hosts, saved["hosts_finished"], strict=True):
            host.finished = bool(finished)  # type: ignore[attr-defined]
    return done


def _check_simulation(
    check: CheckpointCheck, saved: Any, initial: GlobalModel, private: dict[str, Any], done: int
) -> None:
    """A simulation's state as ``resume_simulation`` reads it. Its clients' private state has the fresh
    clients' tensors (and those they keep once trained, such as personal layers), not necessarily finite
    ones: a client whose training diverged keeps its own state, and the server refuses its updates."""
    if check.field(saved, "round", int, "its state's round") != done:
        raise check.refuse(f"is damaged: its state's round {saved['round']} is not its round {done}")
    _check_progress(check, check.field(check.field(saved, "server", dict), "progress", dict), initial, done)
    for message in check.field(check.field(saved, "queue", dict), "messages", list, "its messages in flight"):
        if isinstance(message, Message) and isinstance(message.payload, GlobalModel):
            check.model(message.payload, initial, f"the model its {message.kind.value} message carries")
    clients = check.field(saved, "clients", dict, "its clients' private state")
    check.tensors(clients, private, "its clients' private state", extra=True, finite=False)
    now = check.field(saved, "now", (int, float), "its clock")
    meter = check.field(saved, "meter", list, "its traffic counts")
    if not now >= 0 or len(meter) != 3 or not all(isinstance(n, int) and n >= 0 for n in meter):
        raise check.refuse("is damaged: its clock or its traffic counts are not numbers from 0 up")
