"""The node classification task's spec: a citation graph divided into client subgraphs (random or Louvain
communities), a GNN per client (``task: node_classification``). Importing it pulls in PyTorch Geometric."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch

from fedrec.config import RunConfig
from fedrec.data.graphs import ClientGraph
from fedrec.engine.accuracy import AccuracyMetrics
from fedrec.experiment.client_training import every_client_holds_data, local_training, objective
from fedrec.experiment.task_spec import TaskSpec
from fedrec.tasks.node_classification.task import NodeClassificationTask

GRAPHS = ("cora", "citeseer", "pubmed")


@dataclass(frozen=True)
class GraphSplit:
    """A citation graph divided into client subgraphs."""

    graphs: list[ClientGraph]
    features: int
    classes: int
    whole: ClientGraph  # the graph before the split, with every edge: what the global baseline trains on

    @property
    def num_clients(self) -> int:
        """Clients (subgraphs) the split made."""
        return len(self.graphs)


def load_graph_split(config: RunConfig) -> GraphSplit:
    """The graph, its node masks, and one subgraph per client. Raises ``ConfigError`` when a client gets no
    node."""
    from torch_geometric.transforms import NormalizeFeatures

    from fedrec.data.graphs import client_graphs, load_planetoid, louvain_split, random_node_masks, random_node_split

    data = load_planetoid(config.data.name)
    if config.data.normalize_features:
        data = NormalizeFeatures()(data)
    s = config.split
    if s.node_masks == "random":
        data = random_node_masks(data, s.val_share, s.test_share, config.seed)
    if s.kind == "louvain":
        owner = louvain_split(data.edge_index, data.num_nodes, s.clients, config.seed)
    else:
        owner = random_node_split(data.num_nodes, s.clients, config.seed)
    every_client_holds_data(config, np.bincount(owner, minlength=s.clients), "nodes")
    (whole,) = client_graphs(data, np.zeros(data.num_nodes, dtype=np.int64))
    return GraphSplit(client_graphs(data, owner, s.clients), data.num_features, int(data.y.max()) + 1, whole)


def hosted_graphs(split: GraphSplit, client_ids: np.ndarray) -> GraphSplit:
    """``split`` with only the subgraphs of ``client_ids``, and without the whole graph."""
    empty = _empty_graph(split.whole)
    hosted = set(client_ids.tolist())
    graphs = [graph if c in hosted else empty for c, graph in enumerate(split.graphs, 1)]
    return GraphSplit(graphs, split.features, split.classes, empty)


def _empty_graph(like: ClientGraph) -> ClientGraph:
    none = torch.zeros(0, dtype=torch.bool)
    return ClientGraph(
        like.x[:0], like.edge_index[:, :0], like.y[:0], none, none, none, torch.zeros(0, dtype=torch.long)
    )


class NodeClassificationSpec(TaskSpec):
    """Node classification on Cora and CiteSeer: the graph split among clients by Louvain communities or at random;
    GCN, GraphSAGE or GAT."""

    baselines = True
    datasets = GRAPHS
    modes: ClassVar[frozenset[str]] = frozenset({"federated", "centralized", "local"})
    client_algorithms: ClassVar[frozenset[str]] = frozenset({"fedavg", "fedprox", "scaffold"})

    def problem(self, config: RunConfig) -> str | None:
        if config.split.kind not in ("random", "louvain"):
            return (
                f"split.kind {config.split.kind} does not fit graph data.name {config.data.name}: use random or louvain"
            )
        return None

    def load(self, config: RunConfig) -> GraphSplit:
        return load_graph_split(config)

    def client_data(self, config: RunConfig, client_ids: np.ndarray) -> GraphSplit:
        return hosted_graphs(load_graph_split(config), np.sort(np.asarray(client_ids, dtype=np.int64)))

    def num_clients(self, data: GraphSplit) -> int:
        return data.num_clients

    def count_clients(self, config: RunConfig) -> int:
        return config.split.clients

    def build(self, config: RunConfig, data: GraphSplit, client_ids: np.ndarray) -> NodeClassificationTask:
        from fedrec.models.gnn import NodeClassifier

        gnn = NodeClassifier(config.model.classifier, data.features, data.classes, config.model.hidden[0])
        return NodeClassificationTask(
            data.graphs, client_ids, gnn, local_training(config), objective(config, client_ids), data.classes
        )

    def metrics(self, config: RunConfig, data: Any) -> AccuracyMetrics:
        return AccuracyMetrics()


SPEC = NodeClassificationSpec()
