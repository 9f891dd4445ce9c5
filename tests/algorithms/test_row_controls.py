"""SCAFFOLD's per-row client controls: zero until trained, changes kept aside and merged once, saved whole."""

import numpy as np
import pytest
import torch

from fedrec.algorithms.scaffold import RowControls, ScaffoldClient


def test_row_controls_add_up_across_rounds_and_read_back_pending_changes() -> None:
    table = RowControls.empty(torch.Size([2]), torch.float64, num_rows=10)
    assert torch.equal(table.get(np.array([3, 13])), torch.zeros(2, 2))
    table.add(np.array([3, 13]), torch.ones(2, 2))  # client 0 row 3, client 1 row 3
    table.add(np.array([25]), torch.full((1, 2), 2.0))  # client 2 row 5: another client's, no merge needed
    assert len(table.keys) == 0, "kept aside until a client with pending changes is read"
    assert torch.equal(table.get(np.array([13, 25, 4])), torch.tensor([[1.0, 1.0], [2.0, 2.0], [0.0, 0.0]]))
    table.add(np.array([13]), torch.ones(1, 2))
    table.merge()
    assert table.keys.tolist() == [3, 13, 25]
    assert torch.equal(table.values, torch.tensor([[1.0, 1.0], [2.0, 2.0], [2.0, 2.0]]))
    with pytest.raises(ValueError, match="each \\(client, row\\) once"):
        table.add(np.array([3, 3]), torch.ones(2, 2))


def test_a_clients_row_controls_survive_a_checkpoint() -> None:
    term = ScaffoldClient(np.array([4, 9]), lr=0.1)
    term.row_controls["item_emb"] = RowControls.empty(torch.Size([3]), torch.float32, num_rows=7)
    term.row_controls["item_emb"].add(np.array([8]), torch.ones(1, 3))
    again = ScaffoldClient(np.array([4, 9]), lr=0.1)
    again.load_state_dict(term.state_dict())
    assert torch.equal(again.row_controls["item_emb"].get(np.array([8, 1])), torch.tensor([[1.0] * 3, [0.0] * 3]))
