"""Issue 13, kind 6: one client must not veto a secure-aggregation round.

The real server (``SecureRounds``) and a real secure client host run one round of ML-100K with 12 clients
(threshold 7) in one virtual-time queue; every secure-aggregation message crosses the wire codec both ways.
The lowest ids of the round misbehave: garbage sealed shares (for some or all of their peers), or garbage
revealed shares. Each such round must equal the round in which the hostile clients simply dropped out at
that stage: ``torch.equal``, not allclose, because the unmasked sum is exact in Z_2^64 and holds the same
clients' vectors in both runs, so the same integers decode to the same update. Honest clients never leave,
and each hostile client is counted with its reason. With fewer than the threshold of honest clients the round
is skipped, with its reason logged, and the model is unchanged.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import replace
from functools import cache

import numpy as np
import pytest
import torch

from fedrec.config import RunConfig, load_config
from fedrec.experiment import build_privacy
from fedrec.experiment.build import TaskData, load_task_data, num_clients
from fedrec.experiment.simulation import build_simulation
from fedrec.privacy.secagg.messages import RevealedShares, SealedShares
from fedrec.runtime.message import Message, MessageKind
from fedrec.runtime.secure_host import SecureClientHost
from fedrec.runtime.server import Server
from fedrec.transport.codec import decode, encode
from fedrec.transport.inprocess import InProcessTransport

OVERRIDES = ["rounds=1", "federation.clients_per_round=12", "privacy.secure_aggregation=true"]
COHORT, THRESHOLD = 12, 7  # the policy's threshold: more than half of the cohort
SECURE = {k for k in MessageKind if k.name.startswith("SECAGG_")}

# which of a hostile sender's peers get a garbage sealed share: (its rank among the hostile, the honest peers)
VICTIMS = {
    "all": lambda k, honest: honest,
    "most": lambda k, honest: honest[:6],  # the 5 honest peers that hold its shares are fewer than the threshold
    "one": lambda k, honest: honest[:1],  # 10 hold its shares: its mask key can be recovered
    "one each": lambda k, honest: honest[k : k + 1],
}


class Hostile(SecureClientHost):
    """A secure host whose ``hostile`` lowest clients of the round (at the reveal, of its survivors) misbehave
    at ``stage``: ``act="garbage"`` sends random bytes for their sealed shares to the ``victims`` among their
    peers, or for every share they reveal; ``act="drop"`` has them go offline instead of sending that message
    (the reference run). Every secure-aggregation message crosses the wire codec."""

    hostile, stage, act, victims = 1, "shares", "garbage", "all"

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.left: list[int] = []  # every client this host said went offline
        self.rng = np.random.default_rng(13)

    def handle(self, message: Message) -> list[Message]:
        replies = super().handle(_wire(message) if message.kind in SECURE else message)
        return [_wire(r) if r.kind in SECURE else r for r in replies]

    def on_roster(self, message: Message) -> Iterator[Message]:
        yield from self._misbehave("shares", message, super().on_roster(message))

    def on_survivors(self, message: Message) -> Iterator[Message]:
        yield from self._misbehave("reveal", message, super().on_survivors(message))

    def _gone(self, ids: list[int], message: Message) -> Iterator[Message]:
        self.left += ids
        yield from super()._gone(ids, message)

    def _misbehave(self, stage: str, message: Message, replies: Iterator[Message]) -> Iterator[Message]:
        cohort = sorted(message.receivers())
        targets = cohort[: self.hostile] if stage == self.stage else []
        for reply in replies:
            if not targets or reply.kind not in (MessageKind.SECAGG_SHARES, MessageKind.SECAGG_REVEAL):
                yield reply
            elif self.act == "drop":
                keep = np.flatnonzero(~np.isin(reply.payload.client_ids, targets))
                yield from self._gone(targets, message)
                yield reply.part(keep)
            else:
                honest = [c for c in cohort if c not in targets]
                yield replace(reply, payload=self._garbage(reply.payload, targets, honest))

    def _garbage(self, payload: SealedShares | RevealedShares, targets: list[int], honest: list[int]) -> object:
        if isinstance(payload, SealedShares):
            spoil = np.zeros(len(payload.sender), dtype=bool)
            for k, t in enumerate(targets):
                victims = honest if self.victims == "all" else VICTIMS[self.victims](k, honest)
                spoil |= (payload.sender == t) & np.isin(payload.receiver, victims)
            sealed = payload.sealed.copy()
            sealed[spoil] = self.rng.integers(0, 256, size=(int(spoil.sum()), sealed.shape[1]), dtype=np.uint8)
            return SealedShares(payload.sender, payload.receiver, sealed)
        spoil = np.isin(payload.sender, targets)
        share = payload.share.copy()
        share[spoil] = self.rng.integers(0, 256, size=(int(spoil.sum()), share.shape[1]), dtype=np.uint8)
        return RevealedShares(payload.sender, payload.owner, payload.secret, share)


def _wire(message: Message) -> Message:
    decoded, _ = decode(encode(message))
    return replace(decoded, time=message.time, arrivals=message.arrivals)


@cache
def _setup() -> tuple[RunConfig, TaskData]:
    config = load_config(overrides=OVERRIDES)
    return config, load_task_data(config)


def _run(**settings: object) -> tuple[Server, Hostile, dict[str, torch.Tensor]]:
    """One round with ``settings`` on the hostile host: the server, the host and the model before the round."""
    config, split = _setup()
    transport, task = build_simulation(config, split)
    server = transport.server
    assert isinstance(server, Server)
    initial = {k: v.clone() for k, v in server.model.params.items()}
    ids = np.arange(1, num_clients(config, split) + 1)
    host = Hostile(ids, task, build_privacy.secure_encoding(config, None, len(ids)))
    for name, value in settings.items():
        setattr(host, name, value)
    run = InProcessTransport(server, [host])
    run.send(host.join())
    run.run()
    assert server.round == 1 and server.finished
    return server, host, initial


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("victims", ["all", "most", "one"])
def test_garbage_sealed_shares_exclude_their_sender_and_the_round_equals_its_dropping_out(
    victims: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="fedrec.runtime.rounds.secure"):
        attacked, host, initial = _run(stage="shares", act="garbage", victims=victims)
    dropped, reference, _ = _run(stage="shares", act="drop")
    assert len(reference.left) == 1  # in the reference run the hostile client left instead
    assert host.left == [] and attacked.stats.offline == 0, "no honest client leaves"
    assert attacked.aggregated_rounds == 1 and attacked.stats.aggregated == COHORT - 1
    assert _same(attacked.model.params, dropped.model.params) and not _same(attacked.model.params, initial)
    assert attacked.rejections.updates == {"bad_share": 1}
    named = [r.getMessage() for r in caplog.records if "(bad_share)" in r.getMessage()]
    assert len(named) == 1 and f"client {reference.left[0]} is excluded" in named[0]


@pytest.mark.parametrize("hostile", [1, 3, 5])  # 5: exactly the threshold of honest revealers remains
def test_garbage_revealed_shares_are_set_aside_and_the_round_equals_their_dropping_out(
    hostile: int, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="fedrec.runtime.rounds.secure"):
        attacked, host, initial = _run(stage="reveal", act="garbage", hostile=hostile)
    dropped, reference, _ = _run(stage="reveal", act="drop", hostile=hostile)
    assert len(reference.left) == hostile and host.left == [] and attacked.stats.offline == 0
    # a client that misbehaves only at the reveal has its masked vector in the sum, as when it drops out then
    assert attacked.aggregated_rounds == 1 and attacked.stats.aggregated == COHORT
    assert _same(attacked.model.params, dropped.model.params) and not _same(attacked.model.params, initial)
    assert attacked.rejections.updates == {"bad_reveal": hostile}
    named = [r.getMessage() for r in caplog.records if "(bad_reveal)" in r.getMessage()]
    assert len(named) == hostile
    assert all(f"client {c} revealed" in line for c, line in zip(sorted(reference.left), named, strict=True))


@pytest.mark.parametrize(
    ("settings", "reason"),
    [
        ({"stage": "shares", "victims": "one each"}, "(6 of them excluded for bad shares), fewer than the threshold 7"),
        ({"stage": "shares", "victims": "all"}, "6 masked inputs arrived, fewer than the threshold 7"),
        ({"stage": "reveal"}, "are inconsistent: no 7 of the"),
    ],
)
def test_with_fewer_honest_clients_than_the_threshold_the_round_is_skipped_with_its_reason(
    settings: dict[str, object], reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    hostile = COHORT - THRESHOLD + 1  # 6 hostile, 6 honest
    with caplog.at_level(logging.WARNING, logger="fedrec.runtime.rounds.secure"):
        server, host, initial = _run(act="garbage", hostile=hostile, **settings)
    assert server.aggregated_rounds == 0 and _same(server.model.params, initial)
    failed = [r.getMessage() for r in caplog.records if "fails secure aggregation" in r.getMessage()]
    assert len(failed) == 1 and reason in failed[0], failed
