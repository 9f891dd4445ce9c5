"""FedAvg arithmetic against values computed by hand."""

import numpy as np
import pytest
import torch

from fedrec.algorithms.fedavg import FedAvg, fedavg_dense, fedavg_rows
from fedrec.payloads import ClientUpdates, GlobalModel, RowDeltas


def test_dense_is_the_example_weighted_mean_of_deltas() -> None:
    value = torch.tensor([1.0, 1.0])
    deltas = torch.tensor([[1.0, 0.0], [4.0, -2.0]])
    weights = torch.tensor([1.0, 3.0])
    # (1*[1,0] + 3*[4,-2]) / 4 = [3.25, -1.5]
    assert fedavg_dense(value, deltas, weights).tolist() == [4.25, -0.5]
    assert fedavg_dense(value, deltas, weights, server_lr=2.0).tolist() == [7.5, -2.0]


def test_rows_move_by_the_weighted_mean_of_their_contributors_only() -> None:
    table = torch.zeros(4, 2)
    index = torch.tensor([0, 2, 2])
    deltas = torch.tensor([[1.0, 1.0], [2.0, 0.0], [6.0, 4.0]])
    weights = torch.tensor([5.0, 1.0, 3.0])
    new = fedavg_rows(table, index, deltas, weights)
    # row 0: one contributor -> its delta; row 2: (1*[2,0] + 3*[6,4]) / 4 = [5, 3]; rows 1 and 3 untouched
    assert new.tolist() == [[1.0, 1.0], [0.0, 0.0], [5.0, 3.0], [0.0, 0.0]]


def test_aggregate_combines_updates_from_several_hosts() -> None:
    model = GlobalModel({"t": torch.zeros(3), "g": torch.tensor([1.0])}, frozenset({"t"}))

    def update(cid: int, n: float, g: float, rows: list[int], vals: list[float]) -> ClientUpdates:
        return ClientUpdates(
            np.array([cid]),
            torch.tensor([n]),
            {"g": torch.tensor([[g]])},
            RowDeltas(
                torch.zeros(len(rows), dtype=torch.int64),
                torch.tensor(rows),
                torch.ones(len(rows)),
                {"t": torch.tensor(vals)},
            ),
        )

    new = FedAvg().aggregate(model, [update(1, 1.0, 2.0, [0, 1], [1.0, 3.0]), update(2, 3.0, -2.0, [1], [5.0])])
    assert new.params["g"].item() == pytest.approx(1.0 + (1 * 2.0 + 3 * -2.0) / 4)
    assert new.params["t"].tolist() == [1.0, 4.0, 0.0]
    assert model.params["t"].tolist() == [0.0, 0.0, 0.0], "aggregation does not modify its input"
