"""Two-layer graph networks for node classification, from PyTorch Geometric's layers."""

from __future__ import annotations

from torch import Tensor, nn
from torch_geometric.nn import GATConv, GCNConv, SAGEConv


class NodeClassifier(nn.Module):
    """Two graph-convolution layers (GCN, GraphSAGE or GAT from PyTorch Geometric) with dropout, mapping node features
    ``[nodes, features]`` to class logits ``[nodes, classes]``."""

    def __init__(self, kind: str, features: int, classes: int, hidden: int = 64, dropout: float = 0.5) -> None:
        super().__init__()
        if kind == "gcn":
            self.first, self.second = GCNConv(features, hidden), GCNConv(hidden, classes)
        elif kind == "sage":
            self.first, self.second = SAGEConv(features, hidden), SAGEConv(hidden, classes)
        elif kind == "gat":
            heads = 8
            self.first, self.second = GATConv(features, hidden // heads, heads=heads), GATConv(hidden, classes)
        else:
            raise ValueError(f"unknown graph model {kind!r}; choose gcn, sage or gat")
        self.dropout = dropout

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        x = nn.functional.dropout(x, self.dropout, self.training)
        x = nn.functional.relu(self.first(x, edge_index))
        x = nn.functional.dropout(x, self.dropout, self.training)
        out: Tensor = self.second(x, edge_index)
        return out
