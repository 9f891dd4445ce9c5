"""The execution plan shared by every cohort trainer: which examples of which clients form step t.

Each client shuffles its own examples (``shuffle``) and cuts them into batches; step t of every client runs
in one set of tensor operations. Clients are ordered by how many batches they have, most first, so at
every step the clients still training, and the item rows they own, form a prefix of the stacked tensors.
Each example refers to one or more item rows (a rated item; a positive and its sampled negatives); every
client gets its own copy of each row it refers to.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from fedrec.payloads import ClientUpdates, GlobalModel, RowDeltas, StackedRows
from fedrec.rng import shuffle_keys


@dataclass(frozen=True)
class CohortPlan:
    client_ids: np.ndarray  # [C], in execution order
    order: np.ndarray  # [C], position in the caller's client order of each execution slot
    counts: np.ndarray  # [C] examples per client
    batches: np.ndarray  # [C] batches per epoch, non-increasing
    take: np.ndarray  # [n] index into the caller's examples, grouped by client in execution order
    owner: np.ndarray  # [n] execution slot of each example
    position: np.ndarray  # [n] position of each example among its client's examples
    example_rows: np.ndarray  # [n, R] local row of each item reference
    row_owner: np.ndarray  # [L] execution slot owning each local row
    row_item: np.ndarray  # [L] table row of each local row
    row_end: np.ndarray  # [C] end of each slot's rows

    def active(self, step: int) -> tuple[int, int]:
        """How many clients, and how many of their rows, take part in ``step``."""
        clients = int((self.batches > step).sum())
        return clients, int(self.row_end[clients - 1])

    def gather(self, table: Tensor) -> Tensor:
        """Each client's own copy of the table rows it trains: ``table[row_item]``, ``[rows, *row_shape]``."""
        return table[torch.from_numpy(self.row_item)].clone()


def plan_cohort(
    client_ids: np.ndarray, counts: np.ndarray, items: np.ndarray, num_items: int, batch_size: int
) -> CohortPlan:
    """``items[j]`` lists the table rows example j refers to; examples are grouped by client in input order."""
    batches = np.maximum(1, -(-counts // batch_size))
    order = np.lexsort((client_ids, -batches))
    starts = np.cumsum(counts) - counts
    ordered_counts = counts[order]
    local_start = np.cumsum(ordered_counts) - ordered_counts
    position = np.arange(ordered_counts.sum()) - np.repeat(local_start, ordered_counts)
    take = np.repeat(starts[order], ordered_counts) + position
    owner = np.repeat(np.arange(len(order)), ordered_counts)
    refs = items[take].reshape(len(take), -1)
    local_key, example_rows = np.unique(owner[:, None] * num_items + refs, return_inverse=True)
    row_owner = local_key // num_items
    return CohortPlan(
        client_ids=client_ids[order],
        order=order,
        counts=ordered_counts,
        batches=batches[order],
        take=take,
        owner=owner,
        position=position,
        example_rows=example_rows.reshape(refs.shape),
        row_owner=row_owner,
        row_item=local_key % num_items,
        row_end=np.searchsorted(row_owner, np.arange(len(order)), side="right"),
    )


def epoch_steps(plan: CohortPlan, seed: int, round_index: int, epoch: int, batch_size: int) -> Iterator[np.ndarray]:
    """The examples of each step of one epoch, as indices into the plan's examples."""
    keys = shuffle_keys(seed, round_index, epoch, plan.client_ids[plan.owner], plan.position)
    rank = np.empty(len(plan.owner), dtype=np.int64)
    rank[np.lexsort((keys, plan.owner))] = plan.position
    step_of = rank // batch_size
    schedule = np.lexsort((rank, plan.owner, step_of))
    bounds = np.searchsorted(step_of[schedule], np.arange(int(plan.batches[0]) + 1))
    for step in range(int(plan.batches[0])):
        yield schedule[bounds[step] : bounds[step + 1]]


def row_updates(
    plan: CohortPlan, start: dict[str, Tensor], params: dict[str, Tensor], tables: tuple[str, ...]
) -> RowDeltas:
    """The change of each client's copy of each trained row of ``tables``, with each row's weight (examples that
    touched it)."""
    weight = np.bincount(plan.example_rows.ravel(), minlength=len(plan.row_item)).astype(np.float32)
    return RowDeltas(
        owner=torch.from_numpy(plan.row_owner),
        index=torch.from_numpy(plan.row_item),
        weight=torch.from_numpy(weight),
        values={k: params[k] - start[k] for k in tables},
    )


def client_updates(plan: CohortPlan, rows: RowDeltas, dense: dict[str, Tensor] | None = None) -> ClientUpdates:
    """The cohort's ``ClientUpdates``: ``rows``, ``dense`` (``[clients, *shape]``) and each client's example count as
    its weight."""
    return ClientUpdates(plan.client_ids, torch.from_numpy(plan.counts.astype(np.float32)), dense or {}, rows)


def start_params(
    plan: CohortPlan, model: GlobalModel, user_side: dict[str, Tensor], tables: tuple[str, ...]
) -> dict[str, Tensor]:
    """Each client's starting copy: its private user state and the rows of the tables it refers to."""
    order = torch.from_numpy(plan.order)
    start = {k: v[order].clone() for k, v in user_side.items()}
    start |= {k: plan.gather(model.params[k]) for k in tables}
    return start


def stacked_layout(plan: CohortPlan, tables: tuple[str, ...], whole: tuple[str, ...] = ()) -> dict[str, StackedRows]:
    """Whose each stacked row is, for a client term with per-client state: a client's copy of a table row
    (``tables``), or a client's own copy of a whole weight (``whole``, one row per execution slot)."""
    rows = StackedRows(plan.client_ids[plan.row_owner], plan.row_item)
    return {t: rows for t in tables} | {n: StackedRows(plan.client_ids) for n in whole}


def local_steps(
    plan: CohortPlan, epochs: int, tables: tuple[str, ...], whole: tuple[str, ...] = ()
) -> dict[str, Tensor]:
    """Each stacked row's client's local steps in the round (its batches times ``epochs``), laid out as
    ``stacked_layout``."""
    steps = torch.from_numpy(plan.batches * epochs)
    return {t: steps[plan.row_owner] for t in tables} | {n: steps for n in whole}
