"""What a cluster's server and client processes load: the server no example, a client process only its own."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from fedrec.config import load_config
from fedrec.data.implicit import LeaveOneOut
from fedrec.data.ratings import RatingSplit
from fedrec.experiment.build import load_task_data, num_clients
from fedrec.experiment.task_data import client_data, count_clients, server_data
from fedrec.experiment.task_specs.classification import ClientSplit
from fedrec.experiment.task_specs.node_classification import GraphSplit

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CLIENTS = {"adult_natural.yaml": 9, "citeseer_gcn_louvain.yaml": 5, "cora_gcn_louvain.yaml": 5,
           "fmnist_cnn_dirichlet.yaml": 100, "lastfm_ranking.yaml": 1_892}  # fmt: skip


@pytest.mark.parametrize("example", sorted(p.name for p in EXAMPLES.glob("*.yaml") if p.name != "ml1m_ranking.yaml"))
def test_the_cluster_counts_the_clients_the_simulation_has(example: str) -> None:
    config = load_config(EXAMPLES / example)
    assert count_clients(config) == num_clients(config, server_data(config)) == CLIENTS.get(example, 943)


@pytest.mark.parametrize("example", ["ml100k_fedmf.yaml", "ml100k_ranking.yaml", "adult_natural.yaml"])
def test_the_server_holds_no_example(example: str) -> None:
    data = server_data(load_config(EXAMPLES / example))
    if isinstance(data, RatingSplit):
        assert (len(data.train), len(data.test), data.train.num_users, data.train.num_items) == (0, 0, 943, 1682)
    elif isinstance(data, LeaveOneOut):
        assert len(data.train) == 0 and (data.test_items == -1).all() and data.train.num_items == 1682
    else:
        assert isinstance(data, ClientSplit)
        assert (len(data.data.train), len(data.data.test), data.data.train.features.shape[1]) == (0, 0, 113)
        assert data.num_clients == 9 and not any(len(p) for p in data.train_parts)


def test_a_client_process_holds_only_its_clients_examples() -> None:
    config = load_config(EXAMPLES / "adult_natural.yaml")
    whole, mine = load_task_data(config), client_data(config, np.array([2, 5]))
    assert isinstance(whole, ClientSplit) and isinstance(mine, ClientSplit)
    for c in (2, 5):
        for part, full in ((mine.train_parts, whole.train_parts), (mine.test_parts, whole.test_parts)):
            assert len(part[c - 1]) == len(full[c - 1]) > 0
        rows, full_rows = (
            mine.data.train.features[mine.train_parts[c - 1]],
            whole.data.train.features[whole.train_parts[c - 1]],
        )
        assert np.array_equal(rows, full_rows), "the same examples in the same order"
    assert len(mine.data.train) == len(whole.train_parts[1]) + len(whole.train_parts[4])
    assert not len(mine.train_parts[0]) and not len(mine.test_parts[8])


def test_a_client_process_holds_only_its_subgraphs() -> None:
    config = load_config(EXAMPLES / "cora_gcn_louvain.yaml")
    whole, mine = load_task_data(config), client_data(config, np.array([3]))
    assert isinstance(whole, GraphSplit) and isinstance(mine, GraphSplit)
    assert torch.equal(mine.graphs[2].x, whole.graphs[2].x) and torch.equal(mine.graphs[2].y, whole.graphs[2].y)
    assert [len(g.y) for i, g in enumerate(mine.graphs) if i != 2] == [0, 0, 0, 0] and len(mine.whole.y) == 0
    assert mine.classes == whole.classes == 7
