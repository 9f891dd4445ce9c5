"""Clipping bounds every client's whole update; DP-FedAvg sums, noises and divides as documented."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fedrec.algorithms.dp_fedavg import DPFedAvg
from fedrec.algorithms.server_opt import ServerOptimizer
from fedrec.payloads import ClientUpdates, GlobalModel, RowDeltas
from fedrec.privacy.clipping import clip_updates, update_norms
from fedrec.privacy.sums import NoisySum


def _updates(n: int = 6, rows: int = 20, dim: int = 4, scale: float = 1.0, seed: int = 0) -> ClientUpdates:
    g = torch.Generator().manual_seed(seed)
    owner = torch.arange(n).repeat_interleave(5)
    index = torch.randint(0, rows, (5 * n,), generator=g)
    values = {"item_emb": scale * torch.randn(5 * n, dim, generator=g, dtype=torch.float64)}
    dense = {"global_bias": scale * torch.randn(n, 1, generator=g, dtype=torch.float64)}
    return ClientUpdates(np.arange(1, n + 1), torch.ones(n), dense, RowDeltas(owner, index, torch.ones(5 * n), values))


def _model(rows: int = 20, dim: int = 4) -> GlobalModel:
    params = {
        "item_emb": torch.zeros(rows, dim, dtype=torch.float64),
        "global_bias": torch.zeros(1, dtype=torch.float64),
    }
    return GlobalModel(params, frozenset({"item_emb"}))


def test_update_norm_covers_dense_and_row_deltas() -> None:
    u = _updates()
    for k in range(len(u.client_ids)):
        mine = u.rows.owner == k
        expected = torch.cat(
            [u.dense["global_bias"][k].reshape(-1), u.rows.values["item_emb"][mine].reshape(-1)]
        ).norm()
        assert float(update_norms(u)[k]) == pytest.approx(float(expected), rel=1e-12)


@pytest.mark.parametrize("scale", [0.01, 1.0, 100.0])
def test_clipping_bounds_every_update_and_keeps_small_ones(scale: float) -> None:
    u = _updates(scale=scale)
    before = update_norms(u)
    clipped = clip_updates(u, 1.0)
    after = update_norms(clipped)
    assert (after <= 1.0 + 1e-9).all()
    small = before <= 1.0
    assert torch.allclose(after[small], before[small])
    assert torch.allclose(after[~small], torch.ones(int((~small).sum()), dtype=torch.float64))
    k = int(torch.argmax(before))  # the direction is kept
    ratio = clipped.dense["global_bias"][k] / u.dense["global_bias"][k]
    assert float(ratio) == pytest.approx(min(1.0, 1.0 / float(before[k])), rel=1e-9)


def test_without_noise_the_model_moves_by_the_clipped_sum_over_the_expected_count() -> None:
    u = _updates(scale=10.0)
    dp = DPFedAvg(clip_norm=1.0, noise_multiplier=0.0, expected_clients=4.0, server_opt=ServerOptimizer())
    new = dp.aggregate(_model(), [u])
    clipped = clip_updates(u, 1.0)
    table = torch.zeros(20, 4, dtype=torch.float64).index_add_(0, clipped.rows.index, clipped.rows.values["item_emb"])
    assert torch.allclose(new.params["item_emb"], table / 4.0)
    assert torch.allclose(new.params["global_bias"], clipped.dense["global_bias"].sum(0) / 4.0)


def test_the_noise_has_the_documented_spread_and_reaches_every_row() -> None:
    rows, dim = 2000, 8
    u = _updates(n=3, rows=rows, dim=dim, scale=0.0)  # zero updates: what moves is the noise
    dp = DPFedAvg(clip_norm=0.5, noise_multiplier=2.0, expected_clients=10.0, server_opt=ServerOptimizer())
    new = dp.aggregate(_model(rows, dim), [u]).params["item_emb"]
    assert (new != 0).all()  # rows nobody trained move too
    assert float(new.std()) == pytest.approx(2.0 * 0.5 / 10.0, rel=0.03)


def test_a_noisy_sum_from_secure_aggregation_is_not_clipped_or_noised_again() -> None:
    dp = DPFedAvg(clip_norm=0.1, noise_multiplier=5.0, expected_clients=2.0, server_opt=ServerOptimizer())
    sums = {
        "item_emb": torch.full((20, 4), 3.0, dtype=torch.float64),
        "global_bias": torch.ones(1, dtype=torch.float64),
    }
    new = dp.aggregate(_model(), [NoisySum(sums)])
    assert torch.equal(new.params["item_emb"], torch.full((20, 4), 1.5, dtype=torch.float64))
