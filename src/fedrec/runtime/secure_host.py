"""The client side of secure aggregation: a host whose clients answer a TRAIN with the secagg stages.

Each client trains as usual, then its update becomes a ring vector (``SecureCodec``) that never leaves in
the clear: the client advertises keys, shares its secrets, sends its masked vector and finally reveals the
shares that unmask the sum. Per-client cryptography is inherently per client; the training stays batched.

In virtual time a client's reply leaves when it has received the message, done its cryptography (measured
here, on this machine's clock) and uploaded its part. Keys and shares do not depend on the update, so, as
Bonawitz et al. note, a device exchanges them while it trains: only its masked vector waits for training.
``dropout`` simulates clients that vanish after sharing their secrets and before sending their masked
vector, the case that needs the shares to recover the masks (seeded per round and client).

A sealed share that does not open (it does not authenticate, or names other parties) cannot come from the
honest-but-curious server, only from its sender: the client reports the sender with its masked vector and
goes on without it (no share of it, no mask with it); it does not leave the round.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from fedrec.privacy.secagg.costs import SecAggCosts
from fedrec.privacy.secagg.messages import MaskedInputs, PublicKeys, RevealedShares, SealedShares, concat
from fedrec.privacy.secagg.protocol import SecAggClient, SecAggError
from fedrec.runtime.client_host import ClientHost, _address
from fedrec.runtime.devices import DeviceProfiles
from fedrec.runtime.message import SERVER, Message, MessageKind, payload_nbytes
from fedrec.runtime.protocols import ClientTrainer, SecureCodec, Withdrawal
from fedrec.runtime.worker import handles

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class _Pending:
    round: int
    client: SecAggClient
    vector: np.ndarray  # uint64 [d]
    trained_at: float  # virtual time at which the device has its update


class SecureClientHost(ClientHost):
    """A client host that answers TRAIN with secure aggregation's stages instead of an update: its update leaves only
    masked. ``dropout``: in simulation, the share of each cohort that vanishes after masking."""

    def __init__(
        self,
        client_ids: np.ndarray,
        trainer: ClientTrainer,
        codec: SecureCodec,
        devices: DeviceProfiles | None = None,
        dropout: float = 0.0,
        seed: int = 0,
        costs: SecAggCosts | None = None,
    ) -> None:
        super().__init__(client_ids, trainer, devices)
        self.costs = costs or SecAggCosts()  # each step's compute in virtual time: counted operations, not a stopwatch
        self.codec = codec
        self.dropout = dropout
        self.seed = seed
        self.pending: dict[int, _Pending] = {}

    @handles(MessageKind.TRAIN, emits=[MessageKind.SECAGG_KEYS, MessageKind.WITHDRAW])
    def on_train(self, message: Message) -> Iterator[Message]:
        ids = self._mine(message)
        if len(ids) == 0 or self.finished:
            return
        update = self.trainer.train(ids, message.payload, message.round)
        diverged = update.non_finite()
        if diverged.any():  # quantizing would hide NaN and infinity inside the sum: these clients withdraw
            gone = np.asarray(update.client_ids, dtype=np.int64)[diverged]
            log.warning("clients %s diverged (non-finite update) and withdraw from round %d", gone[:5].tolist(),
                        message.round)  # fmt: skip
            yield Message(MessageKind.WITHDRAW, _address(gone), SERVER, message.round,
                          Withdrawal(gone, "non_finite"), message.time)  # fmt: skip
            if diverged.all():
                return
            update = update.select(np.flatnonzero(~diverged))
        ids = np.asarray(update.client_ids, dtype=np.int64)
        vectors = self.codec.encode(update, message.payload, message.round)
        down = payload_nbytes(message.payload)
        trained_at = message.time + self.devices.arrival_delays(
            ids, self.trainer.num_examples(ids), down, np.zeros(len(ids))
        )
        keys = np.empty((len(ids), 3, 32), dtype=np.uint8)
        for row, cid in enumerate(ids.tolist()):
            client = SecAggClient(cid)
            self.pending[cid] = _Pending(message.round, client, vectors[row], float(trained_at[row]))
            cipher, mask = client.advertise()
            keys[row] = np.frombuffer(cipher + mask + client.commitment(), dtype=np.uint8).reshape(3, 32)
        payload = PublicKeys(ids, keys[:, 0], keys[:, 1], keys[:, 2])
        keygen = self.costs.advertise()
        # the keys leave once the invitation is in, while the device trains
        done = message.time + keygen + self.devices.arrival_delays(ids, np.zeros(len(ids)), down, np.full(len(ids), 64))
        yield Message(MessageKind.SECAGG_KEYS, _address(ids), SERVER, message.round, payload, float(done.max()))

    @handles(MessageKind.SECAGG_ROSTER, emits=[MessageKind.SECAGG_SHARES, MessageKind.OFFLINE])
    def on_roster(self, message: Message) -> Iterator[Message]:
        """Every client's keys arrived: share this client's secrets, sealed for each peer."""
        roster = message.payload
        cost = self.costs.share(len(roster.client_ids), roster.threshold)
        parts, compute = yield from self._each(message, lambda p: p.client.share(roster), cost)
        if parts:
            shares: SealedShares = concat(parts)
            yield self._reply(MessageKind.SECAGG_SHARES, shares.client_ids, shares, message, compute)

    @handles(MessageKind.SECAGG_ROUTED, emits=[MessageKind.SECAGG_MASKED, MessageKind.OFFLINE])
    def on_routed(self, message: Message) -> Iterator[Message]:
        """The shares sealed for this client arrived: send the masked vector (and report shares that did not open)."""
        for cid in self._current(message).tolist():
            if self._drops(cid, message.round):
                yield from self._gone([cid], message)
                continue
            pending = self.pending[cid]
            try:
                bad = pending.client.open_shares(message.payload.addressed_to(np.array([cid])))
                masked = pending.client.mask(pending.vector)
            except SecAggError as error:
                log.warning("client %d leaves the round: %s", cid, error)
                yield from self._gone([cid], message)
                continue
            for reason in bad.values():  # the server warns once per excluded client
                log.info("client %d reports a bad share and goes on without its sender: %s", cid, reason)
            accused = np.asarray(sorted(bad), dtype=np.int64)
            accuser = np.full(len(accused), cid, dtype=np.int64)
            payload = MaskedInputs(np.array([cid]), masked[None], accuser, accused)
            roster = pending.client.roster
            compute = [self.costs.mask(len(roster.client_ids) if roster is not None else 1, len(pending.vector))]
            yield self._reply(
                MessageKind.SECAGG_MASKED, payload.client_ids, payload, message, compute, pending.trained_at
            )

    @handles(MessageKind.SECAGG_SURVIVORS, emits=[MessageKind.SECAGG_REVEAL, MessageKind.OFFLINE])
    def on_survivors(self, message: Message) -> Iterator[Message]:
        """Told who survived: reveal the shares that unmask the sum."""
        cost = self.costs.reveal(len(message.payload.client_ids))
        parts, compute = yield from self._each(message, lambda p: p.client.reveal(message.payload), cost, done=True)
        if parts:
            revealed: RevealedShares = concat(parts)
            yield self._reply(MessageKind.SECAGG_REVEAL, revealed.client_ids, revealed, message, compute)

    def _each(
        self, message: Message, step: Callable[[_Pending], T], cost: float, done: bool = False
    ) -> Generator[Message, None, tuple[list[T], list[float]]]:
        """``step`` for each of this host's clients in ``message``'s round, each taking ``cost`` seconds of
        compute; a client whose step fails leaves the round (the server hears OFFLINE). ``done``: the clients'
        part in the round ends here."""
        parts, compute, failed = [], [], []
        for cid in self._current(message).tolist():
            try:
                parts.append(step(self.pending[cid]))
                compute.append(cost)
            except SecAggError as error:
                log.warning("client %d leaves the round: %s", cid, error)
                failed.append(cid)
            if done:
                self.pending.pop(cid, None)
        yield from self._gone(failed, message)
        return parts, compute

    def _current(self, message: Message) -> np.ndarray:
        """This host's receivers of ``message`` that are in its round."""
        ids = self._mine(message)
        keep = [cid in self.pending and self.pending[cid].round == message.round for cid in ids.tolist()]
        return ids[np.asarray(keep, dtype=bool)] if len(ids) else ids

    def _drops(self, cid: int, round_index: int) -> bool:
        if not self.dropout:
            return False
        return bool(np.random.default_rng([self.seed, round_index, cid, 0xD20]).random() < self.dropout)

    def _gone(self, ids: list[int], message: Message) -> Iterator[Message]:
        for cid in ids:
            self.pending.pop(cid, None)
        if ids:
            yield Message(MessageKind.OFFLINE, tuple(ids), SERVER, message.round, None, message.time)

    def _reply(
        self,
        kind: MessageKind,
        ids: np.ndarray,
        payload: object,
        message: Message,
        compute: list[float],
        not_before: float = 0.0,
    ) -> Message:
        """Sent when the slowest of ``ids`` has received ``message`` (and is past ``not_before``), computed and
        uploaded ``payload``."""
        none = np.zeros(len(ids))
        received = message.time + self.devices.arrival_delays(ids, none, payload_nbytes(message.payload), none)
        upload = self.devices.arrival_delays(
            ids, none, 0, np.full(len(ids), payload_nbytes(payload) // max(1, len(ids)))
        )
        sent = np.maximum(received, not_before) + np.asarray(compute) + upload
        return Message(kind, _address(ids), SERVER, message.round, payload, float(sent.max()))
