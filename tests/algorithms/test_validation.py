"""Hostile or broken updates are refused with a reason; honest ones pass."""

import numpy as np
import pytest
import torch

from fedrec.algorithms.validation import UpdateCheck
from fedrec.payloads import ClientUpdates, GlobalModel, MetricSums, RowDeltas
from fedrec.runtime.protocols import ClientRoster

MODEL = GlobalModel(
    {"item_emb": torch.zeros(10, 4), "item_bias": torch.zeros(10), "global_bias": torch.zeros(1)},
    frozenset({"item_emb", "item_bias"}),
)
REGISTERED = ClientRoster()
REGISTERED.add(np.array([1, 2]), np.array([5, 3]))  # client 1 joined with 5 examples, client 2 with 3


def honest(**changes) -> ClientUpdates:  # type: ignore[no-untyped-def]
    rows = dict(
        owner=torch.tensor([0, 0, 1]),
        index=torch.tensor([2, 7, 2]),
        weight=torch.ones(3),
        values={"item_emb": torch.randn(3, 4), "item_bias": torch.randn(3)},
    )
    fields = dict(
        client_ids=np.array([1, 2]), num_examples=torch.tensor([5.0, 3.0]), dense={"global_bias": torch.randn(2, 1)}
    )
    for key, value in changes.items():
        (rows if key in rows else fields)[key] = value
    return ClientUpdates(**fields, rows=RowDeltas(**rows))  # type: ignore[arg-type]


def test_an_honest_update_passes() -> None:
    assert UpdateCheck().problem(honest(), MODEL, REGISTERED) is None


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"client_ids": np.array([1, 9])}, "never joined"),
        ({"client_ids": np.array([1, 1])}, "twice"),
        ({"num_examples": torch.tensor([50.0, 3.0])}, "num_examples"),
        ({"dense": {"global_bias": torch.randn(2, 3)}}, "shape"),
        ({"dense": {"global_bias": torch.tensor([[float("nan")], [0.0]])}}, "NaN"),
        ({"dense": {"global_bias": torch.randn(2, 1, dtype=torch.float64)}}, "float64"),
        ({"dense": {}}, "expected tensors"),
        ({"index": torch.tensor([2, 70, 2])}, "outside item_emb"),
        ({"index": torch.tensor([2, 2, 2])}, "same row twice"),
        ({"owner": torch.tensor([0, 0, 5])}, "owner outside"),
        ({"weight": torch.tensor([1.0, -1.0, 1.0])}, "weights"),
        ({"values": {"item_emb": torch.full((3, 4), float("inf")), "item_bias": torch.randn(3)}}, "NaN or infinite"),
    ],
)
def test_bad_updates_are_refused_with_the_reason(changes: dict, reason: str) -> None:  # type: ignore[type-arg]
    problem = UpdateCheck().problem(honest(**changes), MODEL, REGISTERED)
    assert problem is not None and reason in problem


def test_metric_sums_and_foreign_payloads() -> None:
    ok = MetricSums(np.array([1]), {"sse": torch.tensor([1.0], dtype=torch.float64)})
    assert UpdateCheck().problem(ok, MODEL, REGISTERED) is None
    bad = MetricSums(np.array([1]), {"sse": torch.tensor([-1.0], dtype=torch.float64)})
    assert "non-negative" in (UpdateCheck().problem(bad, MODEL, REGISTERED) or "")
    assert "expected client updates" in (UpdateCheck().problem("rm -rf", MODEL, REGISTERED) or "")


@pytest.mark.parametrize(
    ("changes", "reason", "refused"),
    [
        ({"client_ids": np.array([1, 9])}, "unknown_client", [1]),
        ({"num_examples": torch.tensor([50.0, 3.0])}, "bad_count", [0]),
        ({"dense": {"global_bias": torch.tensor([[0.0], [float("nan")]])}}, "non_finite", [1]),
        ({"index": torch.tensor([2, 70, 2])}, "row_outside_table", [0]),
        ({"index": torch.tensor([2, 2, 2])}, "duplicate_row", [0]),
        ({"weight": torch.tensor([1.0, 1.0, -1.0])}, "bad_row_weight", [1]),
        ({"values": {"item_emb": torch.tensor([[0.0] * 4, [0.0] * 4, [float("inf")] * 4]),
                     "item_bias": torch.zeros(3)}}, "non_finite", [1]),
        ({"client_ids": np.array([1, 1])}, "malformed", None),  # cannot be pinned on one client: the whole message
        ({"dense": {"global_bias": torch.randn(2, 3)}}, "malformed", None),
    ],
)  # fmt: skip
def test_a_fault_is_pinned_on_the_client_that_made_it(changes: dict, reason: str, refused: list | None) -> None:  # type: ignore[type-arg]
    found = UpdateCheck().refusals(honest(**changes), MODEL, REGISTERED)
    assert [r.reason for r in found] == [reason]
    positions = found[0].positions
    assert (positions is None) if refused is None else (positions is not None and positions.tolist() == refused)


def test_metric_sums_are_refused_per_client() -> None:
    sums = MetricSums(np.array([1, 2, 7]), {"sse": torch.tensor([1.0, float("nan"), 2.0], dtype=torch.float64)})
    found = UpdateCheck().refusals(sums, MODEL, REGISTERED)
    assert {r.reason: r.positions.tolist() for r in found if r.positions is not None} == {
        "unknown_client": [2], "bad_metrics": [1]
    }  # fmt: skip
