"""Pure, seeded splitters of labelled data across clients; each returns one index array per client.

Every example goes to exactly one client; the same (labels, parameters, seed) always give the same split.
"""

from __future__ import annotations

import numpy as np


def iid_split(num_examples: int, num_clients: int, seed: int) -> list[np.ndarray]:
    """Shuffle, then cut into ``num_clients`` parts of (almost) equal size."""
    order = np.random.default_rng([seed, 0x11D]).permutation(num_examples)
    return [np.sort(part) for part in np.array_split(order, num_clients)]


def dirichlet_split(
    labels: np.ndarray, num_clients: int, alpha: float, seed: int, min_size: int = 1
) -> list[np.ndarray]:
    """Label skew: each class is divided among clients in proportions drawn from Dirichlet(alpha).

    Small alpha gives each client few classes. Draws are repeated (with the same generator) until every
    client holds at least ``min_size`` examples.
    """
    if alpha <= 0:
        raise ValueError(f"alpha must be positive, got {alpha}")
    rng = np.random.default_rng([seed, 0xD1])
    classes = [np.flatnonzero(labels == label) for label in np.unique(labels)]
    for _ in range(1000):
        owner = np.empty(len(labels), dtype=np.int64)
        for of_class in classes:
            members = rng.permutation(of_class)
            shares = rng.dirichlet(np.full(num_clients, alpha))
            cuts = (np.cumsum(shares)[:-1] * len(members)).astype(np.int64)
            owner[members] = np.searchsorted(cuts, np.arange(len(members)), side="right")  # np.split's parts
        if np.bincount(owner, minlength=num_clients).min() >= min_size:
            return [np.flatnonzero(owner == c) for c in range(num_clients)]
    raise ValueError(f"no Dirichlet({alpha:g}) draw in 1000 gives each of {num_clients} clients {min_size} examples")


def split_like(
    train_labels: np.ndarray, train_parts: list[np.ndarray], labels: np.ndarray, seed: int
) -> list[np.ndarray]:
    """Divide another labelled set (a test set) so that each client's share of every class is its share of
    that class in training: a client is then tested on the distribution it trains on, which personalized
    models need, and the union of the parts is still the whole set."""
    classes = np.unique(np.concatenate([train_labels, labels]))
    held = np.zeros((len(train_parts), len(classes)))
    for client, part in enumerate(train_parts):
        held[client] = np.bincount(np.searchsorted(classes, train_labels[part]), minlength=len(classes))
    rng = np.random.default_rng([seed, 0x7E57])
    owner = np.empty(len(labels), dtype=np.int64)
    for k, label in enumerate(classes):
        members = rng.permutation(np.flatnonzero(labels == label))
        total = held[:, k].sum()
        shares = held[:, k] / total if total else np.full(len(train_parts), 1 / len(train_parts))
        cuts = np.round(np.cumsum(shares)[:-1] * len(members)).astype(np.int64)
        for client, part in enumerate(np.split(members, cuts)):
            owner[part] = client
    return [np.flatnonzero(owner == c) for c in range(len(train_parts))]


def shard_split(labels: np.ndarray, num_clients: int, classes_per_client: int, seed: int) -> list[np.ndarray]:
    """Pathological non-IID (McMahan et al. 2017): sort by label, cut into shards, deal each client
    ``classes_per_client`` shards, so a client sees at most that many classes."""
    rng = np.random.default_rng([seed, 0x5A])
    order = np.lexsort((rng.random(len(labels)), labels))
    shards = np.array_split(order, num_clients * classes_per_client)
    dealt = rng.permutation(len(shards)).reshape(num_clients, classes_per_client)
    return [np.sort(np.concatenate([shards[s] for s in row])) for row in dealt]


def natural_split(groups: np.ndarray, min_size: int = 1) -> tuple[list[np.ndarray], list[str]]:
    """One client per distinct value of a real attribute (e.g. Adult's workclass); groups smaller than
    ``min_size`` are pooled into one client named "other"."""
    values, counts = np.unique(groups, return_counts=True)
    big = values[counts >= min_size]
    parts = [np.flatnonzero(groups == v) for v in big]
    names = [str(v) for v in big]
    rest = np.flatnonzero(~np.isin(groups, big))
    if len(rest):
        parts.append(rest)
        names.append("other")
    return parts, names
