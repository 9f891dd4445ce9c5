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

from fedrec.experiment.run_folder import SERVER_CHECKPOINT, SERVER_STATE, SIMULATION_STATE, RunFolder
from fedrec.payloads import GlobalModel
from fedrec.runtime.message import Message
from fedrec.runtime.parts import CheckpointRefused
from fedrec.runtime.server import Server
from fedrec.transport.codec import decode, decode_payload, encode, encode_payload
from fedrec.transport.inprocess import InProcessTransport

log = logging.getLogger(__name__)

__all__ = ["SERVER_STATE", "SIMULATION_STATE", "ServerCheckpointer", "SimulationCheckpointer", "pack", "unpack"]
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


def load_server_progress(folder: RunFolder, server: Server) -> int:
    """Resume ``server`` from the folder's last saved progress; returns the round it completed."""
    saved = folder.load_tensors(SERVER_STATE)
    server.load_state_dict({"progress": unpack(saved["progress"])}, in_flight=False)
    return int(saved["round"])


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
    """Put a freshly built simulation back where the folder's checkpoint left it; returns that round."""
    saved = unpack(folder.load_tensors(SIMULATION_STATE)["state"])
    server = transport.server
    assert isinstance(server, Server)
    server.load_state_dict(saved["server"], in_flight=True)
    transport.queue.load_state_dict(saved["queue"])
    transport.now = float(saved["now"])
    transport.meter.bytes_up, transport.meter.bytes_down, transport.meter.messages = saved["meter"]
    task.load_private_state(saved["clients"])
    for host, finished in zip(transport.hosts, saved["hosts_finished"], strict=True):
        host.finished = finished  # type: ignore[attr-defined]
    return int(saved["round"])
