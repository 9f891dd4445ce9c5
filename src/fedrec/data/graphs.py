"""Citation graphs (Planetoid Cora, CiteSeer) and their division into client subgraphs, as FS-G does.

The raw files come through the dataset table (checksums, mirror) into the cache, which is writable, so
``torch_geometric.datasets.Planetoid`` finds them there, skips its download and writes its processed copy
beside them. Splitters assign every node to one client; a client holds the subgraph its nodes induce, with
the public train/validation/test masks restricted to its nodes.
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx
import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.datasets import Planetoid
from torch_geometric.utils import subgraph

from fedrec.data.download import ensure_dataset
from fedrec.data.registry import get_spec
from fedrec.data.splitters import iid_split

PLANETOID = {"cora": "Cora", "citeseer": "CiteSeer"}


def load_planetoid(name: str) -> Data:
    folder = ensure_dataset(get_spec(name))  # <cache>/planetoid/<Name>/raw
    dataset = Planetoid(str(folder.parent.parent), PLANETOID[name])
    data: Data = dataset[0]
    return data


@dataclass(frozen=True)
class ClientGraph:
    x: Tensor
    edge_index: Tensor
    y: Tensor
    train_mask: Tensor
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


def client_graphs(data: Data, owner: np.ndarray) -> list[ClientGraph]:
    graphs = []
    for client in range(int(owner.max()) + 1):
        nodes = torch.from_numpy(np.flatnonzero(owner == client))
        edges, _ = subgraph(nodes, data.edge_index, relabel_nodes=True, num_nodes=data.num_nodes)
        graphs.append(
            ClientGraph(data.x[nodes], edges, data.y[nodes], data.train_mask[nodes], data.test_mask[nodes], nodes)
        )
    return graphs
