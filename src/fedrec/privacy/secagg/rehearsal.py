"""Secure aggregation run in one process, stage by stage, with the real protocol objects: for the leakage
audit (what the server sees) and for measuring the protocol on its own."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fedrec.privacy.secagg.messages import MaskedInputs, PublicKeys
from fedrec.privacy.secagg.protocol import SecAggClient
from fedrec.privacy.secagg.session import SecAggSession


@dataclass(frozen=True)
class Rehearsal:
    masked: dict[int, np.ndarray]  # what the server received from each survivor
    total: np.ndarray  # what it recovered: the survivors' sum
    survivors: np.ndarray


def rehearse(vectors: dict[int, np.ndarray], threshold: int, dropped: frozenset[int] = frozenset()) -> Rehearsal:
    """Every stage for clients holding ``vectors`` (uint64); ``dropped`` vanish after sharing their keys."""
    ids = np.asarray(sorted(vectors), dtype=np.int64)
    dim = len(next(iter(vectors.values())))
    clients = {cid: SecAggClient(cid) for cid in ids.tolist()}
    session = SecAggSession(ids, threshold, dim)
    for cid, client in clients.items():
        cipher, mask = client.advertise()
        as_row = np.frombuffer(cipher + mask, dtype=np.uint8).reshape(2, 32)
        session.add(PublicKeys(np.array([cid]), as_row[:1], as_row[1:]))
    roster = session.publish_roster()
    for client in clients.values():
        session.add(client.share(roster))
    routed = session.route_shares()
    masked = {}
    for cid, client in clients.items():
        if cid in dropped:
            continue
        masked[cid] = client.masked_input(routed.addressed_to(np.array([cid])), vectors[cid])
        session.add(MaskedInputs(np.array([cid]), masked[cid][None]))
    session.drop(set(dropped))
    survivors = session.call_survivors()
    for cid in survivors.client_ids.tolist():
        session.add(clients[cid].reveal(survivors))
    return Rehearsal(masked, session.unmask(), survivors.client_ids)
