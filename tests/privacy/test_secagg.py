"""Secure aggregation: the server recovers exactly the survivors' sum, with and without dropouts, and a
single masked vector tells it nothing about the update inside."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fedrec.algorithms.fedavg import FedAvg
from fedrec.payloads import ClientUpdates, GlobalModel, RowDeltas
from fedrec.privacy.secagg import crypto
from fedrec.privacy.secagg.encoding import SecureEncoding, dequantize
from fedrec.privacy.secagg.messages import MaskedInputs, PublicKeys, RevealedShares, SealedShares
from fedrec.privacy.secagg.protocol import SecAggClient, SecAggError
from fedrec.privacy.secagg.rehearsal import Shared, rehearse, share
from fedrec.privacy.secagg.session import SecAggSession


def _vectors(n: int, d: int, seed: int = 0) -> dict[int, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {cid: rng.integers(0, 2**64, size=d, dtype=np.uint64) for cid in range(1, n + 1)}


def _sum(vectors: dict[int, np.ndarray], ids: list[int]) -> np.ndarray:
    return np.stack([vectors[c] for c in ids]).sum(axis=0, dtype=np.uint64)


def test_the_sum_is_exact_without_dropouts() -> None:
    vectors = _vectors(12, 500)
    seen = rehearse(vectors, threshold=7)
    assert np.array_equal(seen.total, _sum(vectors, list(vectors)))


def test_the_sum_of_the_survivors_is_exact_when_30_percent_drop_after_sharing() -> None:
    vectors = _vectors(20, 300, seed=1)
    dropped = frozenset({2, 5, 9, 11, 14, 20})
    seen = rehearse(vectors, threshold=11, dropped=dropped)
    alive = [c for c in vectors if c not in dropped]
    assert seen.survivors.tolist() == alive
    assert np.array_equal(seen.total, _sum(vectors, alive))


def test_too_many_dropouts_stop_the_round_rather_than_unmask_a_few() -> None:
    with pytest.raises(SecAggError, match="fewer than the threshold"):
        rehearse(_vectors(10, 50), threshold=6, dropped=frozenset({1, 2, 3, 4, 5}))


def test_a_masked_vector_is_uncorrelated_with_the_update_inside() -> None:
    d = 20_000
    rng = np.random.default_rng(3)
    update = rng.normal(size=d)
    fixed = (update * 2**24).astype(np.int64).view(np.uint64)
    vectors = {1: fixed, **{c: rng.integers(0, 2**64, size=d, dtype=np.uint64) for c in range(2, 9)}}
    masked = rehearse(vectors, threshold=5).masked[1].view(np.int64).astype(np.float64)
    assert abs(np.corrcoef(masked, update)[0, 1]) < 0.03  # about 4.2 standard errors at d = 20,000
    assert abs(np.corrcoef(masked[:-1], masked[1:])[0, 1]) < 0.03  # and it looks like noise
    as_seen = masked / 2**24  # read as the fixed-point update it claims to be
    assert np.abs(as_seen).mean() > 1e9 * np.abs(update).mean()


def test_the_server_cannot_lower_the_threshold_below_a_majority() -> None:
    client = SecAggClient(1)
    keys = np.zeros((4, 32), dtype=np.uint8)
    with pytest.raises(SecAggError, match="must exceed half"):
        client.share(PublicKeys(np.arange(1, 5), keys, keys, threshold=2))


def test_a_tampered_share_does_not_authenticate() -> None:
    shared = share([1, 2, 3], 2, 10)
    routed = shared.routed.addressed_to(np.array([1]))
    forged = routed.sealed.copy()
    forged[0, 40] ^= 1
    with pytest.raises(SecAggError, match="does not authenticate"):
        shared.clients[1].masked_input(SealedShares(routed.sender, routed.receiver, forged), np.zeros(10, np.uint64))


def test_a_client_reveals_once_and_never_both_secrets_of_one_peer() -> None:
    vectors = _vectors(5, 20)
    shared = share(list(vectors), 3, 20)
    shared.mask(vectors, dropped=frozenset({5}))
    survivors = shared.session.call_survivors()
    revealed = shared.clients[1].reveal(survivors)
    assert len(set(revealed.owner.tolist())) == len(revealed.owner)  # one secret per peer
    assert dict(zip(revealed.owner.tolist(), revealed.secret.tolist(), strict=True))[5] == 0  # the dropped: mask key
    with pytest.raises(SecAggError, match="twice"):
        shared.clients[1].reveal(survivors)


def test_fewer_shares_than_the_threshold_do_not_recover_a_secret() -> None:
    secret = crypto.random_seed()
    shares = crypto.share_secret(secret, [1, 2, 3, 4, 5], 3)
    assert crypto.recover_secret(shares[:3], crypto.lagrange_at_zero([1, 2, 3])) == secret
    assert crypto.recover_secret(shares[2:], crypto.lagrange_at_zero([3, 4, 5])) == secret
    with pytest.raises(OverflowError):  # two points give some other value, almost surely not even 32 bytes wide
        crypto.recover_secret(shares[:2], crypto.lagrange_at_zero([1, 2]))


def _client_updates(seed: int = 0) -> tuple[ClientUpdates, GlobalModel]:
    g = torch.Generator().manual_seed(seed)
    n, rows, dim = 7, 30, 3
    owner = torch.arange(n).repeat_interleave(4)
    index = torch.cat([torch.randperm(rows, generator=g)[:4] for _ in range(n)])
    updates = ClientUpdates(
        np.arange(1, n + 1),
        torch.randint(1, 50, (n,), generator=g).float(),
        {"global_bias": 0.1 * torch.randn(n, 1, generator=g)},
        RowDeltas(
            owner,
            index,
            torch.randint(1, 4, (4 * n,), generator=g).float(),
            {
                "item_emb": 0.1 * torch.randn(4 * n, dim, generator=g),
                "item_bias": 0.1 * torch.randn(4 * n, generator=g),
            },
        ),
    )
    params = {
        "item_emb": torch.randn(rows, dim, generator=g),
        "item_bias": torch.zeros(rows),
        "global_bias": torch.ones(1),
    }
    return updates, GlobalModel(params, frozenset({"item_emb", "item_bias"}))


def test_fedavg_of_the_unmasked_sum_equals_fedavg_of_the_plain_updates() -> None:
    updates, model = _client_updates()
    encoding = SecureEncoding(weighted=True)
    vectors = encoding.encode(updates, model, 1)
    assert vectors.shape == (7, encoding.dim(model)) and vectors.dtype == np.uint64
    seen = rehearse(dict(zip(updates.client_ids.tolist(), vectors, strict=True)), threshold=4)
    secure = FedAvg().aggregate(model, [encoding.decode(seen.total, model)])
    plain = FedAvg().aggregate(model, [updates])
    for name in model.params:
        assert torch.allclose(secure.params[name], plain.params[name], atol=1e-6), name
    untouched = torch.ones(30, dtype=torch.bool)
    untouched[updates.rows.index] = False
    assert torch.equal(secure.params["item_emb"][untouched], model.params["item_emb"][untouched])


def test_dp_noise_shares_add_up_to_the_noise_the_accountant_assumes() -> None:
    rows, n = 4000, 8
    model = GlobalModel({"item_emb": torch.zeros(rows, 2)}, frozenset({"item_emb"}))
    none = torch.empty(0, dtype=torch.int64)
    rows = RowDeltas(none, none, torch.empty(0), {"item_emb": torch.empty(0, 2)})
    zero = ClientUpdates(np.arange(1, n + 1), torch.ones(n), {}, rows)
    encoding = SecureEncoding(weighted=False, noise_std=0.5, min_survivors=n)
    total = encoding.encode(zero, model, 1).sum(axis=0, dtype=np.uint64)
    noise = dequantize(total)
    assert float(noise.std()) == pytest.approx(0.5, rel=0.03)


def _reveal_with_liars(liars: set[int], n: int = 6, threshold: int = 4) -> tuple[dict[int, np.ndarray], Shared]:
    vectors = _vectors(n, 30)
    shared = share(list(vectors), threshold, 30)
    shared.mask(vectors)
    survivors = shared.session.call_survivors()
    for c in vectors:
        revealed = shared.clients[c].reveal(survivors)
        if c in liars:  # a dishonest client changes one byte of every share it reveals
            forged = revealed.share.copy()
            forged[:, -1] ^= 0x5A
            revealed = RevealedShares(revealed.sender, revealed.owner, revealed.secret, forged)
        shared.session.add(revealed)
    return vectors, shared


def test_a_wrong_revealed_share_is_found_and_the_sum_stays_exact() -> None:
    vectors, shared = _reveal_with_liars({1})
    assert np.array_equal(shared.session.unmask(), _sum(vectors, list(vectors)))
    assert shared.session.bad_revealers == {1}


def test_too_many_wrong_revealed_shares_fail_the_round_instead_of_corrupting_the_sum() -> None:
    _, shared = _reveal_with_liars({1, 2, 3})  # 3 right shares, threshold 4
    with pytest.raises(SecAggError, match="inconsistent"):
        shared.session.unmask()


def test_sealed_shares_that_leave_a_peer_out_are_refused() -> None:
    clients = {cid: SecAggClient(cid) for cid in range(1, 6)}
    session = SecAggSession(np.arange(1, 6), 3, 10)
    for cid, client in clients.items():
        cipher, mask = client.advertise()
        row = np.frombuffer(cipher + mask + client.commitment(), dtype=np.uint8).reshape(3, 32)
        session.add(PublicKeys(np.array([cid]), row[:1], row[1:2], row[2:]))
    roster = session.publish_roster()
    sealed = clients[1].share(roster)
    with pytest.raises(SecAggError, match="one for each other client"):
        session.add(SealedShares(sealed.sender[1:], sealed.receiver[1:], sealed.sealed[1:]))
    session.add(sealed)  # the whole set is taken
    assert session.answered == {1}


def test_a_client_cannot_report_more_peers_than_an_honest_one_could() -> None:
    vectors = _vectors(7, 10)
    shared = share(list(vectors), 4, 10)  # 7 clients, threshold 4: an honest client reports at most 3
    masked = shared.clients[1].masked_input(shared.routed.addressed_to(np.array([1])), vectors[1])
    reports = MaskedInputs(np.array([1]), masked[None], np.full(4, 1), np.array([2, 3, 4, 5]))
    with pytest.raises(SecAggError, match="more than the 3"):
        shared.session.add(reports)
    shared.session.add(MaskedInputs(np.array([1]), masked[None], np.full(3, 1), np.array([2, 3, 4])))
    assert shared.session.accusations == {1: {2, 3, 4}}
