"""Secure aggregation run in one process, stage by stage, with the real protocol objects: for the leakage
audit (what the server sees) and for measuring the protocol on its own."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fedrec.privacy.secagg.messages import MaskedInputs, PublicKeys, SealedShares
from fedrec.privacy.secagg.protocol import SecAggClient
from fedrec.privacy.secagg.session import SecAggSession


@dataclass(frozen=True)
class Rehearsal:
    masked: dict[int, np.ndarray]  # what the server received from each survivor
    total: np.ndarray  # what it recovered: the survivors' sum
    survivors: np.ndarray


@dataclass(frozen=True)
class Shared:
    """A round after its keys and shares: each client's half, the server's, and the routed shares."""

    clients: dict[int, SecAggClient]
    session: SecAggSession
    routed: SealedShares

    def mask(self, vectors: dict[int, np.ndarray], dropped: frozenset[int] = frozenset()) -> dict[int, np.ndarray]:
        """Every client not ``dropped`` masks its vector and sends it; the server learns who dropped."""
        masked = {}
        for cid, client in self.clients.items():
            if cid in dropped:
                continue
            masked[cid] = client.masked_input(self.routed.addressed_to(np.array([cid])), vectors[cid])
            self.session.add(MaskedInputs(np.array([cid]), masked[cid][None]))
        self.session.drop(set(dropped))
        return masked


def share(ids: list[int], threshold: int, dim: int) -> Shared:
    """Stages 0 and 1 for ``ids``: keys advertised, the roster published, shares sealed and routed."""
    clients = {cid: SecAggClient(cid) for cid in ids}
    session = SecAggSession(np.asarray(ids, dtype=np.int64), threshold, dim)
    for cid, client in clients.items():
        cipher, mask = client.advertise()
        as_row = np.frombuffer(cipher + mask + client.commitment(), dtype=np.uint8).reshape(3, 32)
        session.add(PublicKeys(np.array([cid]), as_row[:1], as_row[1:2], as_row[2:]))
    roster = session.publish_roster()
    for client in clients.values():
        session.add(client.share(roster))
    return Shared(clients, session, session.route_shares())


def rehearse(vectors: dict[int, np.ndarray], threshold: int, dropped: frozenset[int] = frozenset()) -> Rehearsal:
    """Every stage for clients holding ``vectors`` (uint64); ``dropped`` vanish after sharing their keys."""
    shared = share(sorted(vectors), threshold, len(next(iter(vectors.values()))))
    masked = shared.mask(vectors, dropped)
    survivors = shared.session.call_survivors()
    for cid in survivors.client_ids.tolist():
        shared.session.add(shared.clients[cid].reveal(survivors))
    return Rehearsal(masked, shared.session.unmask(), survivors.client_ids)
