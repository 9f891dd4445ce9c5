"""Planetoid graphs through the real loader, and the graph splitters."""

import numpy as np
import pytest

from fedrec.data.graphs import client_graphs, load_planetoid, louvain_split, random_node_split


@pytest.fixture(scope="module")
def cora():  # type: ignore[no-untyped-def]
    return load_planetoid("cora")


def test_planetoid_statistics(cora) -> None:  # type: ignore[no-untyped-def]
    assert (cora.num_nodes, cora.num_features, int(cora.y.max()) + 1) == (2_708, 1_433, 7)
    assert cora.edge_index.shape[1] == 10_556
    assert (int(cora.train_mask.sum()), int(cora.val_mask.sum()), int(cora.test_mask.sum())) == (140, 500, 1_000)
    citeseer = load_planetoid("citeseer")
    assert (citeseer.num_nodes, int(citeseer.y.max()) + 1, citeseer.edge_index.shape[1]) == (3_327, 6, 9_104)


@pytest.mark.parametrize("kind", ["random", "louvain"])
def test_graph_splits_cover_every_node_once_and_are_seeded(cora, kind: str) -> None:  # type: ignore[no-untyped-def]
    def split(seed: int) -> np.ndarray:
        if kind == "louvain":
            return louvain_split(cora.edge_index, cora.num_nodes, 5, seed)
        return random_node_split(cora.num_nodes, 5, seed)

    owner = split(0)
    assert owner.shape == (2_708,) and set(owner.tolist()) == set(range(5))
    assert np.array_equal(owner, split(0))
    graphs = client_graphs(cora, owner)
    assert sum(len(g.nodes) for g in graphs) == 2_708
    assert sum(int(g.test_mask.sum()) for g in graphs) == 1_000
    kept = sum(g.edge_index.shape[1] for g in graphs)
    if kind == "louvain":
        assert kept > 0.85 * 10_556, "communities keep most edges inside a client"
    else:
        assert kept < 0.4 * 10_556, "a random split cuts most edges"
