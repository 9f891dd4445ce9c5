"""What a test computes from a run folder's checkpoints by itself, to check what serving prints."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import torch

from fedrec.data.ratings import RatingSplit
from fedrec.models.mf import init_user_side


def inflate_item_biases(run: Path, out: Path, shift: float) -> Path:
    """A copy of ``run`` with every item's bias raised by ``shift``: scores leave the rating scale, where
    clipping would tie them."""
    shutil.copytree(run, out)
    server = torch.load(out / "checkpoint" / "server.pt", weights_only=True)
    server["item_bias"] = server["item_bias"] + shift
    torch.save(server, out / "checkpoint" / "server.pt")
    return out


def trained_users(run: Path) -> list[int]:
    """Users of an ML-100K run (default model) whose embedding moved from its initial value."""
    clients = torch.load(run / "checkpoint" / "clients.pt", weights_only=True)
    start = init_user_side(943, 32, 0.01, 0)["user_emb"]
    return [int(c) for c in clients["client_ids"][(clients["user_emb"] != start).any(1)]]


def raw_top_k(run: Path, split: RatingSplit, user_id: int, k: int) -> list[int]:
    """The model's own top k unseen items, computed here from the checkpoints."""
    server = torch.load(run / "checkpoint" / "server.pt", weights_only=True)
    clients = torch.load(run / "checkpoint" / "clients.pt", weights_only=True)
    row = int(np.searchsorted(clients["client_ids"].numpy(), user_id))
    scores = (
        server["item_emb"] @ clients["user_emb"][row] + server["item_bias"] + server["global_bias"]
        + clients["user_bias"][row]
    ).numpy()  # fmt: skip
    index = user_id - 1
    seen = np.concatenate([split.train.items[split.train.users == index], split.test.items[split.test.users == index]])
    scores[seen] = -np.inf
    order = np.lexsort((np.arange(len(scores)), -scores))
    return [int(split.train.item_ids[i]) for i in order[:k]]
