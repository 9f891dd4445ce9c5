"""Checks every incoming update before it may touch the model, one client at a time.

A client may be broken (a device whose training diverged) or hostile. What can be pinned on one client is
refused for that client only, so a fault costs no more than its own contribution: a count that is not
positive or exceeds what the client joined with, deltas holding NaN or infinity or values beyond ``max_abs``
(finite is not the same as sane: no honest training moves a parameter by a million), rows outside the table,
the same row twice, row weights that are not positive or exceed what the client's examples can touch
(``rows_per_example`` times its count), a client that never joined. What cannot be pinned on
a client (a payload of the wrong type, tensors with the wrong names, shapes or dtypes, a client named twice)
is a malformed message, and the whole message is refused. Either way the model is untouched by what is refused.

Every refusal carries a short ``reason`` key (counted per reason in ``summary.json``) and a readable detail.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
from torch import Tensor

from fedrec.payloads import ClientUpdates, GlobalModel, MetricSums


class ClientRoster(Protocol):
    """The clients that joined (the server's registry): batched membership and example counts."""

    def known(self, ids: np.ndarray) -> np.ndarray:
        """bool ``[len(ids)]``: which of ``ids`` joined."""
        ...

    def counts_of(self, ids: np.ndarray) -> np.ndarray:
        """int64 ``[len(ids)]``: the example counts of ``ids``, all known."""
        ...


@dataclass(frozen=True)
class Refusal:
    """Why some of a message's clients (``positions`` in its payload; None: the whole message) are refused."""

    reason: str  # malformed | unknown_client | bad_count | non_finite | row_outside_table | duplicate_row | ...
    detail: str
    positions: np.ndarray | None = None


@dataclass(frozen=True)
class UpdateCheck:
    """``rows_per_example``: how many table rows one training example touches (1 for rating; one positive
    and ``epochs * negatives`` sampled items for ranking), bounding a row's weight by the client's count.
    ``max_abs``: the largest change to one value an honest update makes."""

    rows_per_example: int = 1
    max_abs: float = 1e6

    def model_problem(self, model: GlobalModel) -> str | None:
        """Why ``model`` (a new version) may not replace the current one: a value that is not finite."""
        floats = {name: value for name, value in model.params.items() if value.is_floating_point()}
        bad = [name for name, value in floats.items() if not bool(torch.isfinite(value).all())]
        return f"{', '.join(sorted(bad))} would hold NaN or infinite values" if bad else None

    def refusals(self, update: object, model: GlobalModel, registered: ClientRoster) -> list[Refusal]:
        """Every refusal of ``update``: one for the whole message, or one per (reason, refused clients)."""
        if isinstance(update, MetricSums):
            return _metrics_refusals(update, registered)
        if not isinstance(update, ClientUpdates):
            return [Refusal("malformed", f"expected client updates, got {type(update).__name__}")]
        whole = _clients_problem(update.client_ids, registered) or _structure_problem(update, model)
        if whole is not None:
            return [whole]
        return _per_client(update, model, registered, self.rows_per_example, self.max_abs)

    def problem(self, update: object, model: GlobalModel, registered: ClientRoster) -> str | None:
        """The first refusal's detail, or None when every client of ``update`` passes."""
        found = self.refusals(update, model, registered)
        return found[0].detail if found else None


def _clients_problem(ids: np.ndarray, registered: ClientRoster) -> Refusal | None:
    if len(ids) == 0 or len(np.unique(ids)) != len(ids):
        return Refusal("malformed", "no client ids, or the same client twice")
    return None


def _unknown(ids: np.ndarray, registered: ClientRoster) -> list[Refusal]:
    """Clients that never joined (or have left): refused on their own, the others of the message judged."""
    unknown = ~registered.known(ids)
    if not unknown.any():
        return []
    return [Refusal("unknown_client", f"clients {ids[unknown][:5].tolist()} never joined", np.flatnonzero(unknown))]


def _structure_problem(update: ClientUpdates, model: GlobalModel) -> Refusal | None:
    n = len(update.client_ids)
    if update.num_examples.shape != (n,):
        return Refusal("malformed", "num_examples must be one count per client")
    dense_names = set(model.params) - model.row_sparse
    if set(update.dense) != dense_names or set(update.rows.values) != set(model.row_sparse):
        return Refusal("malformed", f"expected tensors {sorted(dense_names)} and rows of {sorted(model.row_sparse)}")
    for name, delta in update.dense.items():
        problem = _shape_problem(name, delta, (n, *model.params[name].shape), model.params[name].dtype)
        if problem:
            return Refusal("malformed", problem)
    rows = update.rows
    length = rows.index.shape[0] if rows.index.dim() == 1 else -1
    if length < 0 or rows.owner.shape != (length,) or rows.weight.shape != (length,):
        return Refusal("malformed", "row owner, index and weight must be vectors of one length")
    if rows.owner.dtype != torch.int64 or rows.index.dtype != torch.int64:
        return Refusal("malformed", "row owner and index must be int64")
    if length and (int(rows.owner.min()) < 0 or int(rows.owner.max()) >= n):
        return Refusal("malformed", "a row names an owner outside the update's clients")
    for name, values in rows.values.items():
        table = model.params[name]
        problem = _shape_problem(name, values, (length, *table.shape[1:]), table.dtype)
        if problem:
            return Refusal("malformed", problem)
    return None


def _per_client(
    update: ClientUpdates, model: GlobalModel, registered: ClientRoster, rows_per_example: int, max_abs: float
) -> list[Refusal]:
    n = len(update.client_ids)
    found = _unknown(update.client_ids, registered)
    known = registered.known(update.client_ids)
    claimed = torch.zeros(n, dtype=torch.float64)
    claimed[torch.from_numpy(known)] = torch.from_numpy(registered.counts_of(update.client_ids[known])).double()
    counts = update.num_examples.double()
    bad_count = (~torch.isfinite(counts) | (counts <= 0) | (counts > claimed)) & torch.from_numpy(known)
    found += [Refusal("bad_count", "num_examples must be positive and at most what the client joined with",
                     _positions(bad_count))]  # fmt: skip
    diverged = torch.from_numpy(update.non_finite())  # a NaN count or weight is said above or below
    found.append(Refusal("non_finite", "the update holds NaN or infinite values", _positions(diverged)))
    found.append(Refusal("implausible_magnitude", f"a change beyond {max_abs:g}", _positions(_beyond(update, max_abs))))
    rows = update.rows
    owners = rows.owner

    def by_owner(bad_rows: Tensor) -> np.ndarray:
        marked = torch.zeros(n, dtype=torch.bool)
        marked[owners[bad_rows]] = True
        return _positions(marked)

    ceiling = counts.float()[owners] * rows_per_example if len(owners) else torch.zeros(0)
    weight_bad = ~torch.isfinite(rows.weight) | (rows.weight <= 0) | (rows.weight.double() > ceiling.double())
    found.append(Refusal("bad_row_weight", "row weights must be positive, finite and at most what the client's "
                         "examples touch", by_owner(weight_bad)))  # fmt: skip
    for name in rows.values:
        size = model.params[name].shape[0]
        outside = (rows.index < 0) | (rows.index >= size)
        found.append(Refusal("row_outside_table", f"a row index is outside {name} (0..{size - 1})", by_owner(outside)))
    if len(owners):
        _, inverse, seen = torch.unique(owners * (1 << 32) + rows.index, return_inverse=True, return_counts=True)
        found.append(Refusal("duplicate_row", "a client sent the same row twice", by_owner(seen[inverse] > 1)))
    return _merged([r for r in found if r.positions is not None and len(r.positions)])


def _beyond(update: ClientUpdates, max_abs: float) -> Tensor:
    """bool ``[n]``: clients with a finite delta larger than ``max_abs`` in magnitude."""
    n = len(update.client_ids)
    bad = torch.zeros(n, dtype=torch.bool)
    for delta in update.dense.values():
        if delta.is_floating_point() and delta.numel():
            flat = delta.reshape(n, -1)
            bad |= ((flat.abs() > max_abs) & torch.isfinite(flat)).any(1)
    for values in update.rows.values.values():
        if values.is_floating_point() and values.numel():
            flat = values.reshape(values.shape[0], -1)
            big = ((flat.abs() > max_abs) & torch.isfinite(flat)).any(1)
            bad[update.rows.owner[big]] = True
    return bad


def _merged(refusals: list[Refusal]) -> list[Refusal]:
    """One refusal per reason (the first detail; the union of the clients), in order of first appearance."""
    by_reason: dict[str, Refusal] = {}
    for r in refusals:
        seen = by_reason.get(r.reason)
        if seen is None:
            by_reason[r.reason] = r
        else:
            assert seen.positions is not None and r.positions is not None
            by_reason[r.reason] = Refusal(r.reason, seen.detail, np.union1d(seen.positions, r.positions))
    return list(by_reason.values())


def _metrics_refusals(sums: MetricSums, registered: ClientRoster) -> list[Refusal]:
    whole = _clients_problem(sums.client_ids, registered)
    if whole is not None:
        return [whole]
    found = _unknown(sums.client_ids, registered)
    n = len(sums.client_ids)
    bad = torch.zeros(n, dtype=torch.bool)
    for name, values in sums.sums.items():
        if values.dim() not in (1, 2) or values.shape[0] != n:
            return [Refusal("malformed", f"metric sum {name} must be one value (or row) per client")]
        bad |= _non_finite_rows(values) | _any_per_row(values < 0)
    detail = "metric sums must be finite and non-negative"
    return found + ([Refusal("bad_metrics", detail, _positions(bad))] if bool(bad.any()) else [])


def _shape_problem(name: str, value: Tensor, shape: tuple[int, ...], dtype: torch.dtype) -> str | None:
    if tuple(value.shape) != shape or value.dtype != dtype:
        return f"{name} has shape {tuple(value.shape)} {value.dtype}, expected {shape} {dtype}"
    return None


def _non_finite_rows(value: Tensor) -> Tensor:
    """bool [value.shape[0]]: rows holding NaN or infinity."""
    if not value.is_floating_point():
        return torch.zeros(value.shape[0], dtype=torch.bool)
    return _any_per_row(~torch.isfinite(value))


def _any_per_row(mask: Tensor) -> Tensor:
    """bool [mask.shape[0]]: rows of ``mask`` with any True."""
    if mask.numel() == 0:
        return torch.zeros(mask.shape[0], dtype=torch.bool)
    return mask.reshape(mask.shape[0], -1).any(1)


def _positions(mask: Tensor) -> np.ndarray:
    return torch.nonzero(mask).flatten().numpy()
