"""SCAFFOLD: control variates correct each client's drift towards its own optimum.

Karimireddy et al., "SCAFFOLD: Stochastic Controlled Averaging for Federated Learning", ICML 2020, with the
paper's cheaper control update (option II). The server holds a control ``c`` per weight, which travels in
the model under ``control.<name>``; client i holds its own ``c_i``, which never leaves it. Each local SGD
step follows ``g_i(y) - c_i + c``, written here as the loss term ``<y, c - c_i>`` whose gradient it is.
After K steps of learning rate lr the client sets ``c_i+ = c_i - c + (x - y) / (K lr)`` and uploads
``y - x`` and ``c_i+ - c_i``; the server moves x as FedAvg does and ``c`` by the sum of the control
changes over all N clients (``|S|/N`` times their mean). Local training must be plain SGD for the
``(x - y) / (K lr)`` estimate to mean what it says; the config enforces it.

For a recommender's embedding tables the controls are row-aware: a client holds ``c_i`` only for the table
rows it trained (``RowControls``), its kernel adds ``c - c_i`` only to those rows (``begin_rows``,
``add_gradients``), and it uploads the control change of those rows beside their deltas (``finish_rows``); the
server moves each row of ``c`` by the sum of the changes addressed to it over N. Rows a client never trains
are neither corrected nor counted, as they are neither trained nor uploaded.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
import torch
from torch import Tensor

from fedrec.engine.objective import LocalObjective
from fedrec.payloads import ClientUpdates, GlobalModel, StackedRows, scatter_rows

CONTROL = "control."
ROWS = "rows."  # state keys of the per-row client controls of a table


class RowControls:
    """One table's client controls, only for the (client, row) pairs trained so far: ``keys`` sorted int64
    (``client position * table rows + row``), ``values`` ``[len(keys), *row_shape]``; any other pair's is zero.

    Changes are kept aside and merged into the table at once when a client with pending changes is read, or
    the state is saved, so a sequential round of many clients does not copy the table once per client."""

    def __init__(self, keys: np.ndarray, values: Tensor, num_rows: int = 1) -> None:
        self.keys, self.values, self.num_rows = keys, values, num_rows
        self._pending: list[tuple[np.ndarray, Tensor]] = []
        self._pending_clients: set[int] = set()

    @staticmethod
    def empty(row_shape: torch.Size, dtype: torch.dtype, num_rows: int) -> RowControls:
        """No client controls yet: rows of shape ``row_shape`` in ``dtype``, for a table of ``num_rows`` rows."""
        return RowControls(np.empty(0, dtype=np.int64), torch.zeros(0, *row_shape, dtype=dtype), num_rows)

    def get(self, keys: np.ndarray) -> Tensor:
        """The controls of ``keys`` (zero where none is kept), ``[len(keys), *row_shape]``."""
        if self._pending_clients.intersection((keys // self.num_rows).tolist()):
            self.merge()
        where = np.minimum(np.searchsorted(self.keys, keys), max(0, len(self.keys) - 1))
        found = self.keys[where] == keys if len(self.keys) else np.zeros(len(keys), dtype=bool)
        out = torch.zeros(len(keys), *self.values.shape[1:], dtype=self.values.dtype)
        out[torch.from_numpy(found)] = self.values[torch.from_numpy(where[found])]
        return out

    def add(self, keys: np.ndarray, change: Tensor) -> None:
        """Add ``change`` to the controls of ``keys`` (distinct): kept aside until the next ``merge``."""
        if len(np.unique(keys)) != len(keys):
            raise ValueError("RowControls.add takes each (client, row) once")
        self._pending.append((keys, change.to(self.values.dtype)))
        self._pending_clients.update(np.unique(keys // self.num_rows).tolist())

    def merge(self) -> None:
        """Fold the pending changes into the table (one copy for all of them)."""
        if not self._pending:
            return
        keys = np.concatenate([k for k, _ in self._pending])
        changes = torch.cat([c for _, c in self._pending])
        merged = np.union1d(self.keys, keys)
        values = torch.zeros(len(merged), *self.values.shape[1:], dtype=self.values.dtype)
        values[torch.from_numpy(np.searchsorted(merged, self.keys))] = self.values
        values.index_add_(0, torch.from_numpy(np.searchsorted(merged, keys)), changes)
        self.keys, self.values = merged, values
        self._pending, self._pending_clients = [], set()


class Aggregator(Protocol):
    """The aggregator SCAFFOLD wraps: it moves the weights; SCAFFOLD moves the controls beside them."""

    def aggregate(self, model: GlobalModel, updates: list[ClientUpdates]) -> GlobalModel:
        """The next version of ``model`` from ``updates``."""
        ...


def with_controls(model: GlobalModel) -> GlobalModel:
    """The initial model with a zero server control beside every weight (row-sparse beside a row-sparse table)."""
    zeros = {CONTROL + k: torch.zeros_like(v) for k, v in model.params.items() if not k.startswith(CONTROL)}
    sparse = model.row_sparse | {CONTROL + k for k in model.row_sparse}
    return GlobalModel({**model.params, **zeros}, frozenset(sparse))


class ScaffoldClient(LocalObjective):
    """The client half, for the clients one host holds; their controls stay here."""

    def __init__(self, client_ids: np.ndarray, lr: float) -> None:
        self.client_ids = np.sort(np.asarray(client_ids, dtype=np.int64))
        self.lr = lr
        self.controls: dict[str, Tensor] = {}  # name -> [len(client_ids), *shape]
        self.row_controls: dict[str, RowControls] = {}  # a table's rows each client trained: c_i of those rows
        self._layout: dict[str, StackedRows] = {}  # the round in training: its rows, c, keys and c - c_i
        self._server: dict[str, Tensor] = {}
        self._keys: dict[str, np.ndarray] = {}
        self._corrections: dict[str, Tensor] = {}

    def state_dict(self) -> dict[str, Tensor]:
        """Each client's own control ``c_i`` (``[clients, *shape]`` per weight; for a table, the rows it trained
        as ``rows.<name>.keys`` and ``rows.<name>.values``): it never leaves the device."""
        state = dict(self.controls)
        for name, rows in self.row_controls.items():
            rows.merge()
            state[f"{ROWS}{name}.keys"], state[f"{ROWS}{name}.values"] = torch.from_numpy(rows.keys), rows.values
            state[f"{ROWS}{name}.rows"] = torch.tensor(rows.num_rows)
        return state

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        self.controls = {k: v for k, v in state.items() if not k.startswith(ROWS)}
        names = {k[len(ROWS) : -len(".keys")] for k in state if k.startswith(ROWS) and k.endswith(".keys")}
        self.row_controls = {
            n: RowControls(state[f"{ROWS}{n}.keys"].numpy(), state[f"{ROWS}{n}.values"], int(state[f"{ROWS}{n}.rows"]))
            for n in names
        }

    def begin_rows(self, layout: dict[str, StackedRows], model: GlobalModel) -> None:
        """Line up ``c`` and ``c_i`` with the stacked weights: per client for whole weights, per (client, table
        row) for a table's rows. Row-aware: a client corrects only the rows it holds (a row it never trained
        has no ``c_i`` yet, which is zero)."""
        self._layout, self._server, self._keys, self._corrections = layout, {}, {}, {}
        for name, rows in layout.items():
            server = model.params[CONTROL + name]
            positions = np.searchsorted(self.client_ids, rows.clients).astype(np.int64)
            if not np.isin(rows.clients, self.client_ids).all():
                raise ValueError("SCAFFOLD's client term was given clients this host does not hold")
            if rows.items is None:
                self._keys[name] = positions
                own = self._own(name, server)[torch.from_numpy(positions)]
                self._server[name] = server.expand_as(own)
            else:
                table = self.row_controls.setdefault(
                    name, RowControls.empty(server.shape[1:], server.dtype, server.shape[0])
                )
                self._keys[name] = positions * server.shape[0] + rows.items
                own = table.get(self._keys[name])
                self._server[name] = server[torch.from_numpy(rows.items)]
            self._corrections[name] = (self._server[name] - own) * self._mask(rows, own)

    def finish_rows(
        self, start: dict[str, Tensor], end: dict[str, Tensor], steps: dict[str, Tensor]
    ) -> dict[str, Tensor]:
        """Option II's ``c_i+ = c_i - c + (x - y) / (K lr)`` for every stacked row, with ``K`` its client's local
        steps; keeps ``c_i+`` and returns ``control.<name>``: ``c_i+ - c_i``, stacked like the weights."""
        out = {}
        for name, rows in self._layout.items():
            k = steps[name].clamp(min=1).to(start[name].dtype).reshape(-1, *([1] * (start[name].dim() - 1)))
            change = ((start[name] - end[name]) / (k * self.lr) - self._server[name]) * self._mask(rows, start[name])
            if rows.items is None:
                own, index = self.controls[name], torch.from_numpy(self._keys[name])
                own[index] = own[index] + change
            else:
                kept = np.ones(len(rows.items), dtype=bool) if rows.controlled is None else rows.controlled
                self.row_controls[name].add(self._keys[name][kept], change[torch.from_numpy(kept)])
            out[CONTROL + name] = change
        self._layout, self._server, self._keys, self._corrections = {}, {}, {}, {}
        return out

    def _rows(self, clients: np.ndarray) -> Tensor:
        return torch.from_numpy(np.searchsorted(self.client_ids, clients))

    @staticmethod
    def _mask(rows: StackedRows, like: Tensor) -> Tensor | float:
        """1 on the rows the term controls, 0 on the others, shaped to multiply ``like`` row by row."""
        if rows.controlled is None:
            return 1.0
        mask = torch.from_numpy(rows.controlled).to(like.dtype)
        return mask.reshape(-1, *([1] * (like.dim() - 1)))

    def _own(self, name: str, like: Tensor) -> Tensor:
        if name not in self.controls:
            self.controls[name] = torch.zeros(len(self.client_ids), *like.shape, dtype=like.dtype)
        return self.controls[name]

    def penalty(self, clients: np.ndarray, weights: dict[str, Tensor], model: GlobalModel) -> Tensor:
        """``<y, c - c_i>``, whose gradient is the correction; zero while a recommender's kernel trains (after
        ``begin_rows`` the correction goes through ``add_gradients``, row-aware)."""
        if self._layout:
            return torch.zeros(())
        rows = self._rows(clients[: len(next(iter(weights.values())))])
        total = torch.zeros(())
        for name, w in weights.items():
            server = model.params[CONTROL + name]
            correction = server - self._own(name, server)[rows]
            total = total + (w * correction).sum()
        return total

    def add_gradients(
        self, grads: dict[str, Tensor], params: dict[str, Tensor], anchors: dict[str, Tensor], active: dict[str, int]
    ) -> None:
        """``g + c - c_i`` on every trained row (after ``begin_rows``)."""
        for name, correction in self._corrections.items():
            n = active[name]
            grads[name][:n] += correction[:n].reshape(grads[name][:n].shape)

    def uploads(
        self,
        clients: np.ndarray,
        model: GlobalModel,
        start: dict[str, Tensor],
        end: dict[str, Tensor],
        steps: np.ndarray,
    ) -> dict[str, Tensor]:
        rows = self._rows(clients)
        out = {}
        for name, x in start.items():
            server = model.params[CONTROL + name]
            own = self._own(name, server)
            k = torch.from_numpy(np.maximum(steps, 1)).to(x.dtype).reshape(-1, *([1] * (x.dim() - 1)))
            fresh = own[rows] - server + (x - end[name]) / (k * self.lr)
            out[CONTROL + name] = fresh - own[rows]
            own[rows] = fresh
        return out


def _without_controls(params: dict[str, Tensor]) -> dict[str, Tensor]:
    return {k: v for k, v in params.items() if not k.startswith(CONTROL)}


class ScaffoldServer:
    """The server half: the weights move as ``inner`` (FedAvg with any server optimizer) moves them, and
    each control by the sum of the clients' control changes over all ``num_clients`` clients."""

    def __init__(self, inner: Aggregator, num_clients: int) -> None:
        self.inner, self.num_clients = inner, num_clients

    def state_dict(self) -> dict[str, Any]:
        """The inner aggregator's state (the server controls travel in the model, and are saved with it)."""
        inner = getattr(self.inner, "state_dict", None)
        return {"inner": inner() if callable(inner) else {}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        load = getattr(self.inner, "load_state_dict", None)
        if callable(load):
            load(state["inner"])

    def aggregate(self, model: GlobalModel, updates: list[ClientUpdates]) -> GlobalModel:
        """The weights move as the wrapped aggregator moves them; each server control moves by the sum of the clients'
        control changes over all N clients (a table's control row by row)."""
        batch = ClientUpdates.concat(sorted(updates, key=lambda u: int(u.client_ids.min())))
        weights = {k: v for k, v in batch.dense.items() if not k.startswith(CONTROL)}
        r = batch.rows
        rows = r.with_values({k: v for k, v in r.values.items() if not k.startswith(CONTROL)})
        weights_only = ClientUpdates(batch.client_ids, batch.num_examples, weights, rows)
        moved = self.inner.aggregate(model.replace(_without_controls(model.params)), [weights_only])
        params = {**model.params, **moved.params}
        for name, change in batch.dense.items():
            if name.startswith(CONTROL):
                params[name] = model.params[name] + change.sum(0).to(model.params[name].dtype) / self.num_clients
        for name, change in r.values.items():  # a table's control moves row by row, by the sum over N clients
            if name.startswith(CONTROL):
                moved_rows = scatter_rows(r.index, change.to(params[name].dtype), model.params[name].shape[0])
                params[name] = model.params[name] + moved_rows / self.num_clients
        return model.replace(params)
