"""A test arena for hostile clients: a real server (ML-100K rating, every part from the composition root)
with an honest host of clients 1-940 and a hostile host of clients 941-943 in one virtual-time queue.

Every message the hostile host sends crosses the wire codec and the gRPC server's admission (``admit``), as
over a network; an attack is a function from the message an honest client would send to the messages it
sends instead. Its baseline is the same run in which the hostile clients simply drop out (their connection
ends) at the moment they would first attack: a server that no client can harm ends both with the same model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

import numpy as np
import torch

from fedrec.config import RunConfig, build_config
from fedrec.experiment.simulation import build_simulation
from fedrec.experiment.task_data import most_examples
from fedrec.experiment.task_specs.rating import load_split
from fedrec.runtime.client_host import ClientHost
from fedrec.runtime.message import SERVER, Message, MessageKind
from fedrec.runtime.server import Server
from fedrec.transport.admission import admit
from fedrec.transport.codec import encode
from fedrec.transport.inprocess import InProcessTransport

HONEST = np.arange(1, 941)
HOSTILE = np.array([941, 942, 943])
REPLY_TIMEOUT_S = 1_000.0  # virtual seconds: a hostile client that sends nothing valid is dropped from the step

# (what an honest client would send, the run's server) -> what is sent instead; None: send it unchanged
Attack = Callable[[Message, Server], "list[Message] | None"]


@lru_cache(maxsize=4)
def _config(rounds: int) -> RunConfig:
    return build_config({"federation": {"rounds": rounds}, "train": {"epochs": 1}})


@dataclass
class Hostile:
    """The hostile host: an honest ``ClientHost`` whose outgoing messages ``attack`` rewrites."""

    inner: ClientHost
    attack: Attack
    server: Server
    drop_out: bool = False  # the baseline: leave instead of attacking
    refused: list[str] = field(default_factory=list)  # reasons the wire refused its messages
    left: bool = False

    @property
    def client_ids(self) -> np.ndarray:
        return self.inner.client_ids

    def start(self) -> list[Message]:
        return self._out([self.inner.join()])

    def handle(self, message: Message) -> list[Message]:
        return [] if self.left else self._out(self.inner.handle(message))

    def _out(self, honest: list[Message]) -> list[Message]:
        sent: list[Message] = []
        for message in honest:
            instead = self.attack(message, self.server)
            if instead is None:
                sent += self._wire([message])
            elif self.drop_out:
                self.left = True
                ids = tuple(self.client_ids.tolist())
                return [Message(MessageKind.LEAVE, ids, SERVER, 0, None, message.time)]  # the transport's notice
            else:
                sent += self._wire(instead)
        return sent

    def _wire(self, messages: list[Message]) -> list[Message]:
        passed = []
        for message in messages:
            admitted = admit(encode(message), self.client_ids)
            if isinstance(admitted, tuple):
                self.refused.append(admitted[0])
                continue
            passed.append(replace(admitted, time=message.time))
        return passed


@dataclass
class Outcome:
    server: Server
    hostile: Hostile

    @property
    def params(self) -> dict[str, torch.Tensor]:
        params: dict[str, torch.Tensor] = self.server.model.params
        return params

    @property
    def rejected(self) -> dict[str, dict[str, Any]]:
        return self.server.rejections.as_dict()


def play(attack: Attack, rounds: int = 2, drop_out: bool = False, **plan: Any) -> Outcome:
    """Run the arena with ``attack`` (or its drop-out baseline) to the end."""
    config = _config(rounds)
    transport, task = build_simulation(config, load_split(config))
    server = transport.server
    assert isinstance(server, Server)
    server.plan = replace(server.plan, reply_timeout_s=REPLY_TIMEOUT_S, max_examples=most_examples(config), **plan)
    server.num_clients = len(HONEST)  # the operator's min_clients: the honest ones start the run
    honest = ClientHost(HONEST, task)
    hostile = Hostile(ClientHost(HOSTILE, task), attack, server, drop_out)
    arena = InProcessTransport(server, [honest, hostile])
    for message in [*hostile.start(), honest.join()]:  # the hostile clients join first: present from round 1
        arena.send(message)
    arena.run()
    return Outcome(server, hostile)


def same_model(a: Outcome, b: Outcome) -> bool:
    return a.params.keys() == b.params.keys() and all(torch.equal(a.params[k], b.params[k]) for k in a.params)


@lru_cache(maxsize=8)
def baseline(rounds: int = 2, first: MessageKind = MessageKind.UPDATE, from_round: int = 0) -> Outcome:
    """The hostile clients drop out at their first ``first`` message of round ``from_round`` or later (the run
    without their harm)."""
    return play(lambda m, s: [] if m.kind is first and m.round >= from_round else None, rounds, drop_out=True)
