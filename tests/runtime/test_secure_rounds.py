"""Secure rounds against a hostile client: a malformed masked vector, or a message speaking for another
client, is refused, the sender is dropped like a client that left, and the round still unmasks the rest."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import numpy as np
import pytest
import torch

from fedrec.config import load_config
from fedrec.experiment import build_privacy
from fedrec.experiment.build import load_task_data, num_clients
from fedrec.experiment.simulation import build_simulation
from fedrec.payloads import ClientUpdates
from fedrec.privacy.secagg.messages import MaskedInputs
from fedrec.runtime.message import Message
from fedrec.runtime.secure_host import SecureClientHost
from fedrec.runtime.server import Server
from fedrec.transport.inprocess import InProcessTransport

OVERRIDES = ["rounds=2", "federation.clients_per_round=12", "privacy.secure_aggregation=true"]


class Hostile(SecureClientHost):
    """Spoils the masked vector of the lowest client id of each round, in the way ``spoil`` says."""

    spoil = "short"

    def on_routed(self, message: Message) -> Iterator[Message]:
        target = min(c for c, p in self.pending.items() if p.round == message.round)
        for reply in super().on_routed(message):
            if reply.senders()[0] == target:
                vectors = reply.payload.vectors
                if self.spoil == "short":
                    reply = replace(reply, payload=MaskedInputs(reply.payload.client_ids, vectors[:, :-1]))
                else:  # claims to be another client of the round
                    other = int(max(c for c, p in self.pending.items() if p.round == message.round))
                    reply = replace(reply, payload=MaskedInputs(np.array([other]), vectors))
            yield reply


def _run(host_class: type[SecureClientHost], overrides: list[str], **settings: str) -> Server:
    """The simulation of ``overrides`` with its client host replaced by ``host_class``: the server it left."""
    config = load_config(overrides=[*OVERRIDES, *overrides])
    split = load_task_data(config)
    transport, task = build_simulation(config, split)
    server = transport.server
    assert isinstance(server, Server)
    ids = np.arange(1, num_clients(config, split) + 1)
    host = host_class(ids, task, build_privacy.secure_encoding(config, None, len(ids)))
    for name, value in settings.items():
        setattr(host, name, value)
    rerun = InProcessTransport(server, [host])
    rerun.send(host.join())
    rerun.run()
    return server


@pytest.mark.parametrize("spoil", ["short", "impersonating"])
def test_a_hostile_masked_vector_is_refused_and_the_round_goes_on(spoil: str) -> None:
    server = _run(Hostile, [], spoil=spoil)
    assert server.round == 2 and server.finished
    assert server.rejections.total_updates == 2
    assert server.stats.aggregated == 2 * (12 - 1)  # each round's sum holds every client but the hostile one
    assert all(torch.isfinite(v).all() for v in server.model.params.values())
    assert server.last_metrics["test_rmse"] < 1.2


class Silent(SecureClientHost):
    """The lowest client id of each round never sends its masked vector, and says nothing."""

    def on_routed(self, message: Message) -> Iterator[Message]:
        target = min(c for c, p in self.pending.items() if p.round == message.round)
        yield from (r for r in super().on_routed(message) if r.senders()[0] != target)


def test_a_stage_deadline_closes_the_stage_without_a_client_that_hangs() -> None:
    server = _run(Silent, ["federation.policy.deadline_s=30"])
    assert server.round == 2 and server.finished and server.rejections.total_updates == 0
    assert server.stats.aggregated == 2 * (12 - 1)  # the silent client's masks were recovered from its shares
    assert server.now > 2 * 30  # each round waited out its masking deadline


class Diverging(SecureClientHost):
    """The first client of each round diverges: its update holds infinity (which quantizing would clamp and add)."""

    def on_train(self, message: Message) -> Iterator[Message]:
        trainer = self.trainer

        class Diverged:
            def __getattr__(self, name: str) -> object:
                return getattr(trainer, name)

            def train(self, ids: np.ndarray, model: object, round_index: int) -> ClientUpdates:
                update: ClientUpdates = trainer.train(ids, model, round_index)
                dense = {k: v.clone() for k, v in update.dense.items()}
                dense["global_bias"][0] = float("inf")  # the batch's first client; unchecked, it swamps the sum
                return ClientUpdates(update.client_ids, update.num_examples, dense, update.rows)

        self.trainer = Diverged()  # type: ignore[assignment]
        try:
            yield from super().on_train(message)
        finally:
            self.trainer = trainer


def test_a_diverged_client_withdraws_from_the_secure_sum_and_only_it_is_lost() -> None:
    server = _run(Diverging, [])
    assert server.round == 2 and server.finished
    assert server.rejections.updates == {"non_finite": 2}
    assert server.stats.aggregated == 2 * (12 - 1)
    assert all(torch.isfinite(v).all() for v in server.model.params.values())
    assert server.last_metrics["test_rmse"] < 1.25  # two rounds from the initial model, as without the fault
