"""The rated-item inference attack: an honest-but-curious server guesses which items a user rated from what
the user uploads, under each protection. It is how the project measures what the privacy layer buys.

Two guesses from one upload:
- ``named``: every item whose row the upload names with a non-zero change (all items, if it covers the
  table); precision and recall against the items the user trained on.
- ``top``: the m items whose rows changed most, m the number the user rated (the server sees the example
  count in a plain upload); precision at m. Guessing at random gives precision m / items on average.
Under secure aggregation the server's view of a client is its masked vector, read as if it were an update.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from fedrec.payloads import ClientUpdates, GlobalModel, scatter_rows
from fedrec.privacy.secagg.encoding import SecureEncoding, dequantize
from fedrec.privacy.secagg.rehearsal import rehearse


@dataclass(frozen=True)
class AttackResult:
    precision: float  # of the named guess
    recall: float
    precision_at_m: float  # of the top guess
    random_precision: float  # of a random guess of m items
    upload_bytes: float  # per client


def row_scores(updates: ClientUpdates, num_items: int) -> np.ndarray:
    """``[clients, items]``: the L2 norm of the change each client's upload gives each item's row."""
    n, rows = len(updates.client_ids), updates.rows
    squares = torch.zeros(n, num_items, dtype=torch.float64)
    for values in rows.values.values():
        per = values.double().reshape(len(rows.index), -1).pow(2).sum(1)
        squares += scatter_rows(rows.index, per, num_items, rows.owner, n)
    scores: np.ndarray = squares.sqrt().numpy()
    return scores


def masked_scores(updates: ClientUpdates, model: GlobalModel) -> np.ndarray:
    """What the server sees of each client under secure aggregation (a majority threshold), scored like an
    upload."""
    encoding = SecureEncoding(weighted=True)
    ids = updates.client_ids.tolist()
    seen = rehearse(dict(zip(ids, encoding.encode(updates, model, 0), strict=True)), len(ids) // 2 + 1)
    masked = np.stack([seen.masked[c] for c in ids])
    num_items = model.params["item_emb"].shape[0]
    scores = np.zeros((len(ids), num_items))
    at = 0
    for name in encoding.names(model):  # read the table parts of the masked vector back as rows
        size = model.params[name].numel()
        if name in model.row_sparse:
            part = dequantize(np.ascontiguousarray(masked[:, at : at + size]))
            scores += part.reshape(len(ids), num_items, -1).pow(2).sum(2).numpy()
        at += size
    root: np.ndarray = np.sqrt(scores)
    return root


def attack(scores: np.ndarray, truth: list[np.ndarray], upload_bytes: float) -> AttackResult:
    """Both guesses against the items each client really trained on."""
    num_items = scores.shape[1]
    precision, recall, top, chance = [], [], [], []
    for score, rated in zip(scores, truth, strict=True):
        rated_set = set(np.asarray(rated).tolist())
        named = set(np.flatnonzero(score > 0).tolist())
        hit = len(named & rated_set)
        precision.append(hit / max(1, len(named)))
        recall.append(hit / max(1, len(rated_set)))
        m = len(rated_set)
        order = np.lexsort((np.arange(num_items), -score))[:m]  # ties broken by index: no lucky ordering
        top.append(len(set(order.tolist()) & rated_set) / max(1, m))
        chance.append(m / num_items)
    return AttackResult(
        float(np.mean(precision)), float(np.mean(recall)), float(np.mean(top)), float(np.mean(chance)), upload_bytes
    )
