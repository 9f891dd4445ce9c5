"""The training examples of the clients a host holds, grouped by client, and cut into cohorts."""

from __future__ import annotations

import numpy as np

from fedrec.data.ratings import Ratings
from fedrec.engine.types import CohortData


class ClientShards:
    """The examples of the hosted clients, grouped by client (client id = user index + 1)."""

    def __init__(self, ratings: Ratings, client_ids: np.ndarray) -> None:
        users = client_ids - 1
        keep = np.isin(ratings.users, users)
        order = np.argsort(ratings.users[keep], kind="stable")
        self.items = ratings.items[keep][order]
        self.ratings = ratings.values[keep][order]
        self.counts = np.bincount(np.searchsorted(users, ratings.users[keep]), minlength=len(users))
        self.starts = np.cumsum(self.counts) - self.counts

    def cohort(self, positions: np.ndarray, client_ids: np.ndarray) -> CohortData:
        """The examples of the clients at ``positions``, grouped by client in that order, as a ``CohortData`` of
        ``client_ids``."""
        counts = self.counts[positions]
        take = np.repeat(self.starts[positions] - (np.cumsum(counts) - counts), counts) + np.arange(counts.sum())
        return CohortData(client_ids, counts, self.items[take], self.ratings[take])


class HostedClients:
    """The clients a host holds, sorted by id, and their training examples."""

    client_ids: np.ndarray
    train_shards: ClientShards

    def positions(self, client_ids: np.ndarray) -> np.ndarray:
        """The position of each of ``client_ids`` (all hosted) among the hosted clients."""
        return np.searchsorted(self.client_ids, client_ids)

    def num_examples(self, client_ids: np.ndarray) -> np.ndarray:
        """int64 ``[len(client_ids)]``: training examples of each (its FedAvg weight)."""
        counts: np.ndarray = self.train_shards.counts[self.positions(client_ids)]
        return counts
