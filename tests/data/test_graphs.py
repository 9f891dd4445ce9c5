"""Planetoid graphs through the real loader, and the graph splitters."""

import pickle

import numpy as np
import pytest
import scipy.sparse
import torch

from fedrec.data.graphs import client_graphs, load_planetoid, louvain_split, random_node_masks, random_node_split
from fedrec.errors import DataError


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


def test_random_node_masks_are_disjoint_seeded_shares_of_all_nodes(cora) -> None:  # type: ignore[no-untyped-def]
    masked = random_node_masks(cora, 0.2, 0.3, seed=4)
    masks = torch.stack([masked.train_mask, masked.val_mask, masked.test_mask])
    assert masks.sum(0).eq(1).all(), "every node is in exactly one mask"
    assert masks.sum(1).tolist() == [2_708 - 542 - 812, 542, 812]
    again = random_node_masks(cora, 0.2, 0.3, seed=4)
    assert torch.equal(masks, torch.stack([again.train_mask, again.val_mask, again.test_mask]))
    assert not torch.equal(masked.test_mask, random_node_masks(cora, 0.2, 0.3, seed=5).test_mask)
    assert int(cora.train_mask.sum()) == 140, "the public masks are left untouched"
    graphs = client_graphs(masked, louvain_split(cora.edge_index, cora.num_nodes, 5, 0))
    assert sum(int(g.val_mask.sum()) for g in graphs) == 542


def test_pubmed_without_allx_says_what_is_missing(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import SHARED_DATA

    monkeypatch.setenv("FEDREC_DATA_DIR", str(tmp_path / "cache"))
    with pytest.raises(DataError, match=r"PubMed needs ind\.pubmed\.allx .*FEDREC_DATA_MIRROR"):
        load_planetoid("pubmed")
    # The seven files the mirror has, plus an allx of the documented shape, make PubMed load.
    mirror = tmp_path / "mirror" / "planetoid" / "PubMed" / "raw"
    mirror.mkdir(parents=True)
    for source in (SHARED_DATA / "planetoid" / "PubMed_missing_allx" / "raw").iterdir():
        (mirror / source.name).write_bytes(source.read_bytes())
    with (mirror / "ind.pubmed.allx").open("wb") as handle:
        pickle.dump(
            scipy.sparse.random(18_717, 500, density=0.01, format="csr", dtype=np.float32, random_state=0), handle
        )
    monkeypatch.setenv("FEDREC_DATA_MIRROR", str(tmp_path / "mirror"))
    pubmed = load_planetoid("pubmed")
    assert (pubmed.num_nodes, pubmed.num_features, int(pubmed.y.max()) + 1) == (19_717, 500, 3)
    assert pubmed.edge_index.shape[1] == 88_648 and int(pubmed.test_mask.sum()) == 1_000
