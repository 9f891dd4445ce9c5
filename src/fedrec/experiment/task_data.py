"""What each side of a run loads.

The simulation loads the whole task data (``parts.load_task_data``). In the cluster mode the server reads only
what shapes the model and counts the clients, and a client process keeps only its own clients' data:

- rating and ranking: the server reads the dataset's catalogue (``fedrec.data.catalogue``), no interaction;
  a client process streams the interactions file and keeps only its users' rows while it reads, and splits
  them exactly as the simulation splits the whole dataset (the seeded draws are per source row).
- classification and node classification: the split is a function of every example (a Dirichlet draw over
  all labels, Adult's encoding from the whole training set, Louvain communities of the whole graph), so the
  server and every client process parse the whole dataset to reproduce it; the server then keeps only the
  shapes and the client count, and a client process only its clients' examples or subgraphs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from fedrec.config import RunConfig
from fedrec.data.implicit import LeaveOneOut, leave_one_out
from fedrec.data.labelled import Labelled, TrainTest
from fedrec.data.movielens import load_catalogue, load_users
from fedrec.data.ratings import Ratings, RatingSplit, per_user_holdout
from fedrec.experiment.parts import ClientSplit, GraphSplit, TaskData, load_task_data, num_clients

if TYPE_CHECKING:  # graph learning pulls in PyTorch Geometric, which the other tasks need not pay for
    from fedrec.data.graphs import ClientGraph

NO_CLIENTS = np.empty(0, dtype=np.int64)


def server_data(config: RunConfig) -> TaskData:
    """The task data of a server: every client's count and the model's shapes, no client's examples."""
    if config.task in ("rating", "ranking"):
        empty = Ratings.empty(load_catalogue(config.data.name))
        if config.task == "ranking":
            return LeaveOneOut.empty(empty, config.ranking.eval_negatives)
        return RatingSplit(empty, empty)
    return client_data(config, NO_CLIENTS)


def most_examples(config: RunConfig) -> int | None:
    """The most training examples one honest client can hold: every interaction of the dataset (its
    catalogue's count); None where only parsing the whole dataset would tell (the server then bounds a
    client's count only by its first JOIN)."""
    if config.task in ("rating", "ranking"):
        return load_catalogue(config.data.name).source_rows
    return None


def client_data(config: RunConfig, client_ids: np.ndarray) -> TaskData:
    """The task data of a client process hosting ``client_ids``: theirs only, split as in the simulation."""
    ids = np.sort(np.asarray(client_ids, dtype=np.int64))
    if config.task in ("rating", "ranking"):
        ratings = load_users(config.data.name, ids)
        if config.task == "ranking":
            return leave_one_out(ratings, config.seed, config.ranking.eval_negatives)
        return per_user_holdout(ratings, config.data.test_fraction, config.seed)
    data = load_task_data(config)
    if isinstance(data, ClientSplit):
        return hosted_examples(data, ids)
    assert isinstance(data, GraphSplit)
    return hosted_graphs(data, ids)


def count_clients(config: RunConfig) -> int:
    """How many clients the run has, reading no more than that takes: a dataset of interactions counts its
    users in its catalogue, a seeded splitter makes ``split.clients`` parts, only a natural split (one client
    per attribute value) needs the data."""
    if config.task in ("rating", "ranking"):
        return load_catalogue(config.data.name).num_users
    if config.split.kind != "natural":
        return config.split.clients
    return num_clients(server_data(config))


def data_report(data: TaskData) -> dict[str, int] | None:
    """What loading and splitting did to a dataset of interactions, for ``summary.json``: users the split
    left without training data (not evaluated) and duplicate (user, item) rows merged at load time."""
    if not isinstance(data, RatingSplit | LeaveOneOut):
        return None
    catalogue = data.train.catalogue
    # the per-user holdout keeps at least one training rating per user; leave-one-out holds out a single
    # interaction, which leaves a user who has only that one with nothing
    without = catalogue.single_interaction_users if isinstance(data, LeaveOneOut) else 0
    return {"users_without_training": without, "duplicates_merged": catalogue.duplicates_merged}


def hosted_examples(split: ClientSplit, client_ids: np.ndarray) -> ClientSplit:
    """``split`` with only the examples of ``client_ids``; every other client keeps an empty share."""
    train, train_parts = _keep_parts(split.data.train, split.train_parts, client_ids)
    test, test_parts = _keep_parts(split.data.test, split.test_parts, client_ids)
    return ClientSplit(TrainTest(split.data.name, train, test), train_parts, test_parts)


def _keep_parts(data: Labelled, parts: list[np.ndarray], client_ids: np.ndarray) -> tuple[Labelled, list[np.ndarray]]:
    hosted = np.isin(np.arange(1, len(parts) + 1), client_ids)
    kept = [part if host else NO_CLIENTS for part, host in zip(parts, hosted, strict=True)]
    rows = np.unique(np.concatenate(kept)) if kept else NO_CLIENTS
    attributes = {name: values[rows] for name, values in data.attributes.items()}
    restricted = Labelled(data.features[rows], data.labels[rows], data.classes, attributes)
    return restricted, [np.searchsorted(rows, part) for part in kept]


def hosted_graphs(split: GraphSplit, client_ids: np.ndarray) -> GraphSplit:
    """``split`` with only the subgraphs of ``client_ids``, and without the whole graph."""
    empty = _empty_graph(split.whole)
    hosted = set(client_ids.tolist())
    graphs = [graph if c in hosted else empty for c, graph in enumerate(split.graphs, 1)]
    return GraphSplit(graphs, split.features, split.classes, empty)


def _empty_graph(like: ClientGraph) -> ClientGraph:
    from fedrec.data.graphs import ClientGraph

    none = torch.zeros(0, dtype=torch.bool)
    return ClientGraph(
        like.x[:0], like.edge_index[:, :0], like.y[:0], none, none, none, torch.zeros(0, dtype=torch.long)
    )
