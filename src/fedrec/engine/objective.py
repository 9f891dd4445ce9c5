"""What an algorithm may add to a client's local training: a term in its loss, and uploads beside its delta.

FedProx adds a proximal term; SCAFFOLD adds a drift correction and uploads the change of its control
variate. The tasks call this protocol on stacked weights (one row per client, the same for one client in
the sequential path), so a term written once holds in both execution paths. Implementations live in
``fedrec.algorithms``; ``PlainObjective`` is FedAvg's client: nothing added.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
import torch
from torch import Tensor

from fedrec.payloads import GlobalModel, StackedRows


class LocalObjective(Protocol):
    """A client algorithm's term in local training (FedProx, SCAFFOLD), applied by every task in both execution
    paths; row-aware for embedding tables."""

    def penalty(self, clients: np.ndarray, weights: dict[str, Tensor], model: GlobalModel) -> Tensor:
        """Extra loss of ``clients`` (row i of every weight is client i's) given the model they received."""
        ...

    def add_gradients(
        self, grads: dict[str, Tensor], params: dict[str, Tensor], anchors: dict[str, Tensor], active: dict[str, int]
    ) -> None:
        """For kernels with hand-derived gradients: add the term's gradient to ``grads`` in place. Every tensor
        is stacked (a row per client, or per client's copy of a table row); ``anchors`` holds the received
        values of the federated weights the term reads, and only their first ``active[name]`` rows train."""
        ...

    def begin_rows(self, layout: dict[str, StackedRows], model: GlobalModel) -> None:
        """Before a recommender's kernel trains: which client (and which table row, for row-sparse tables)
        each stacked row of each federated weight belongs to, so a term with per-client state (SCAFFOLD's
        ``c_i``) can line it up with the stacked weights."""
        ...

    def finish_rows(
        self, start: dict[str, Tensor], end: dict[str, Tensor], steps: dict[str, Tensor]
    ) -> dict[str, Tensor]:
        """After the kernel trained: uploads beside the deltas, stacked like the weights (``control.<name>``
        for SCAFFOLD), given each stacked row's local ``steps``; empty for a term that uploads nothing."""
        ...

    def uploads(
        self,
        clients: np.ndarray,
        model: GlobalModel,
        start: dict[str, Tensor],
        end: dict[str, Tensor],
        steps: np.ndarray,
    ) -> dict[str, Tensor]:
        """Dense uploads beside the weight deltas, ``[clients, *shape]`` each, once the clients took ``steps``."""
        ...


class ClientTermSpec(Protocol):
    """A client term a config names by its registered kind (``federation.algorithm: {kind: NAME, options:
    {...}}``), registered in ``fedrec.registry.CLIENT_TERMS``. It follows FedProx's contract: a term in each
    client's local loss (``penalty``, and ``add_gradients`` for the recommenders' hand-derived kernels) with no
    state of its own and no uploads, so it runs on every task that runs FedProx."""

    @property
    def options(self) -> Any:
        """The pydantic model its ``options`` are validated against, or None."""
        ...

    def build(self, options: Any, client_ids: np.ndarray) -> LocalObjective:
        """The term of the clients ``client_ids`` (one host's)."""
        ...


class PlainObjective(LocalObjective):
    """FedAvg's client: nothing added to the loss, nothing uploaded beside the delta."""

    def penalty(self, clients: np.ndarray, weights: dict[str, Tensor], model: GlobalModel) -> Tensor:
        return torch.zeros(())

    def add_gradients(
        self, grads: dict[str, Tensor], params: dict[str, Tensor], anchors: dict[str, Tensor], active: dict[str, int]
    ) -> None:
        return None

    def begin_rows(self, layout: dict[str, StackedRows], model: GlobalModel) -> None:
        return None

    def finish_rows(
        self, start: dict[str, Tensor], end: dict[str, Tensor], steps: dict[str, Tensor]
    ) -> dict[str, Tensor]:
        return {}

    def uploads(
        self,
        clients: np.ndarray,
        model: GlobalModel,
        start: dict[str, Tensor],
        end: dict[str, Tensor],
        steps: np.ndarray,
    ) -> dict[str, Tensor]:
        return {}


def module_weights(model: GlobalModel, names: set[str] | list[str]) -> dict[str, Tensor]:
    """The model's values of the module's own parameters (a model may carry more, as SCAFFOLD's controls)."""
    return {k: v for k, v in model.params.items() if k in names}


OBJECTIVE = "objective."  # private-state keys of the clients' own objective state (SCAFFOLD's c_i)


def objective_state(objective: LocalObjective) -> dict[str, Tensor]:
    """What the clients' objective keeps between rounds, under ``objective.<name>`` (empty for most)."""
    state = getattr(objective, "state_dict", None)
    return {OBJECTIVE + k: v for k, v in state().items()} if callable(state) else {}


def load_objective_state(objective: LocalObjective, private: dict[str, Tensor]) -> None:
    """Give ``objective`` its clients' state back from ``private`` (what ``objective_state`` saved); nothing for a term
    without state."""
    load = getattr(objective, "load_state_dict", None)
    if callable(load):
        load({k[len(OBJECTIVE) :]: v.clone() for k, v in private.items() if k.startswith(OBJECTIVE)})


def check_same_clients(private: dict[str, Tensor], client_ids: np.ndarray) -> None:
    """A private state must be that of these very clients, in this order."""
    saved = private["client_ids"].numpy()
    if not np.array_equal(saved, client_ids):
        raise ValueError(f"the saved private state holds clients {saved[:3].tolist()}..., not these clients")


def correct_gradients(objective: LocalObjective, weights: dict[str, Tensor]) -> None:
    """In a per-client reference, after ``backward``: a term's correction of the gradients (SCAFFOLD's
    ``c - c_i``, lined up by ``begin_rows``) added to the autograd ones, every row of each weight trained. A term
    that is a loss (FedProx's) reads its anchors, and none are given here: it is in the loss already."""
    grads = {k: w.grad for k, w in weights.items() if w.grad is not None}
    objective.add_gradients(
        grads, {k: w.detach() for k, w in weights.items()}, {}, {k: len(w) for k, w in weights.items()}
    )
