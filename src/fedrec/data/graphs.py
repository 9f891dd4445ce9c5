"""Citation graphs (Planetoid Cora, CiteSeer) and their division into client subgraphs, as FS-G does.

The raw files come through the dataset table (checksums, mirror) into the cache, which is writable, so
``torch_geometric.datasets.Planetoid`` finds them there, skips its download and writes its processed copy
beside them. Splitters assign every node to one client; a client holds the subgraph its nodes induce, with
the train/validation/test masks restricted to its nodes: the public Planetoid masks (140 training nodes on
Cora), or random masks over the whole graph as FS-G draws them (for example 50/20/30%).
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass

import networkx as nx
import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.datasets import Planetoid
from torch_geometric.transforms import RandomNodeSplit
from torch_geometric.utils import subgraph

from fedrec.data.download import ensure_dataset
from fedrec.data.registry import get_spec
from fedrec.data.splitters import iid_split
from fedrec.errors import DataError

PLANETOID = {"cora": "Cora", "citeseer": "CiteSeer", "pubmed": "PubMed"}


def load_planetoid(name: str) -> Data:
    """The graph with its binary bag-of-words features (as FS-G uses them) and the public masks."""
    spec = get_spec(name)
    try:
        folder = ensure_dataset(spec)  # <cache>/planetoid/<Name>/raw
    except DataError as exc:
        if name == "pubmed" and "ind.pubmed.allx" in str(exc):
            allx = spec.file("ind.pubmed.allx")
            raise DataError(
                f"PubMed needs ind.pubmed.allx (the features of its 18,717 training nodes), which is not available: "
                f"put the official file ({allx.url}) with the other seven at {allx.path} in the mirror, "
                f"or unset FEDREC_DATA_MIRROR to download it"
            ) from None
        raise
    try:
        dataset = Planetoid(str(folder.parent.parent), PLANETOID[name])
        data: Data = dataset[0]
    except (ValueError, RuntimeError, EOFError, pickle.UnpicklingError) as exc:
        raise DataError(f"the {name} raw files in {folder} cannot be read ({exc}): replace them") from None
    if name == "pubmed" and data.x.shape != (19_717, 500):
        raise DataError(f"{folder}/ind.pubmed.allx does not hold 18,717 x 500 features: replace it")
    return data


def random_node_masks(data: Data, val_share: float, test_share: float, seed: int) -> Data:
    """FS-G's node split: a seeded random share of all nodes for validation and test, the rest for training."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        masked: Data = RandomNodeSplit("train_rest", num_val=val_share, num_test=test_share)(data.clone())
    return masked


@dataclass(frozen=True)
class ClientGraph:
    x: Tensor
    edge_index: Tensor
    y: Tensor
    train_mask: Tensor
    val_mask: Tensor
    test_mask: Tensor
    nodes: Tensor  # indices in the whole graph


def random_node_split(num_nodes: int, clients: int, seed: int) -> np.ndarray:
    """Client of each node, uniformly at random (seeded), in parts of equal size."""
    owner = np.empty(num_nodes, dtype=np.int64)
    for client, part in enumerate(iid_split(num_nodes, clients, seed)):
        owner[part] = client
    return owner


def louvain_split(edge_index: Tensor, num_nodes: int, clients: int, seed: int) -> np.ndarray:
    """Louvain communities (networkx, seeded), dealt largest first to the client with the fewest nodes."""
    graph = nx.Graph()
    graph.add_nodes_from(range(num_nodes))
    graph.add_edges_from(edge_index.t().tolist())
    communities = sorted(nx.community.louvain_communities(graph, seed=seed), key=lambda c: (-len(c), min(c)))
    owner = np.empty(num_nodes, dtype=np.int64)
    sizes = np.zeros(clients, dtype=np.int64)
    for community in communities:
        client = int(np.argmin(sizes))
        owner[list(community)] = client
        sizes[client] += len(community)
    return owner


def client_graphs(data: Data, owner: np.ndarray, clients: int | None = None) -> list[ClientGraph]:
    """The subgraph of each client ``0 .. clients - 1`` (default: the largest owner); one the splitter dealt
    no node is an empty graph, so a run has exactly the clients its config names."""
    graphs = []
    for client in range(int(owner.max()) + 1 if clients is None else clients):
        nodes = torch.from_numpy(np.flatnonzero(owner == client))
        edges, _ = subgraph(nodes, data.edge_index, relabel_nodes=True, num_nodes=data.num_nodes)
        masks = (data.train_mask[nodes], data.val_mask[nodes], data.test_mask[nodes])
        graphs.append(ClientGraph(data.x[nodes], edges, data.y[nodes], *masks, nodes))
    return graphs
