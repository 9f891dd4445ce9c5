"""Every payload survives the wire unchanged; malformed bytes raise CodecError, never something deeper."""

import numpy as np
import pytest
import torch

from fedrec.payloads import ClientUpdates, GlobalModel, MetricSums, RowDeltas
from fedrec.runtime.message import SERVER, Message, MessageKind
from fedrec.runtime.protocols import JoinInfo
from fedrec.transport.codec import CodecError, decode, encode
from fedrec.transport.proto import wire_pb2 as wire


def _updates() -> ClientUpdates:
    rows = RowDeltas(
        torch.tensor([0, 0, 1]),
        torch.tensor([4, 9, 4]),
        torch.tensor([1.0, 2.0, 1.0]),
        {"item_emb": torch.randn(3, 5), "item_bias": torch.randn(3)},
    )
    return ClientUpdates(np.array([7, 8]), torch.tensor([3.0, 1.0]), {"global_bias": torch.randn(2, 1)}, rows)


def test_round_trip_of_every_payload() -> None:
    model = GlobalModel({"item_emb": torch.randn(10, 5), "global_bias": torch.tensor([3.5])}, frozenset({"item_emb"}))
    cases = [
        Message(MessageKind.TRAIN, SERVER, (7, 8), 3, model, 1.5),
        Message(MessageKind.UPDATE, (7, 8), SERVER, 3, _updates(), 2.0),
        Message(
            MessageKind.METRICS,
            (7,),
            SERVER,
            3,
            MetricSums(np.array([7]), {"sse": torch.tensor([2.5], dtype=torch.float64)}),
        ),
        Message(MessageKind.JOIN, (7, 8), SERVER, 0, JoinInfo(np.array([7, 8]), np.array([30, 40]))),
        Message(MessageKind.FINISH, SERVER, (7, 8), 9),
    ]
    for original in cases:
        decoded, meta = decode(encode(original, {"token": "t"}))
        assert meta["token"] == "t"
        assert (decoded.kind, decoded.sender, decoded.receiver, decoded.round, decoded.time) == (
            original.kind,
            original.sender,
            original.receiver,
            original.round,
            original.time,
        )
        _same(decoded.payload, original.payload)


def _same(a: object, b: object) -> None:
    if isinstance(b, torch.Tensor):
        assert isinstance(a, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    elif isinstance(b, np.ndarray):
        assert np.array_equal(np.asarray(a), b)
    elif isinstance(b, dict):
        assert isinstance(a, dict) and a.keys() == b.keys()
        for k in b:
            _same(a[k], b[k])
    elif hasattr(b, "__dataclass_fields__"):
        for name in b.__dataclass_fields__:
            _same(getattr(a, name), getattr(b, name))
    else:
        assert a == b


def test_wire_size_is_close_to_the_raw_tensor_bytes() -> None:
    model = GlobalModel({"item_emb": torch.randn(1682, 32), "item_bias": torch.randn(1682)})
    size = len(encode(Message(MessageKind.TRAIN, SERVER, tuple(range(1, 21)), 1, model)))
    assert model.nbytes <= size <= model.nbytes * 1.01


@pytest.mark.parametrize(
    "mutate",
    [
        lambda e: setattr(e, "protocol_version", 99),
        lambda e: setattr(e, "kind", "steal"),
        lambda e: setattr(e, "payload_type", "pickle"),
        lambda e: setattr(e.tensors[0], "dtype", "object"),
        lambda e: e.tensors[0].shape.append(1000),
        lambda e: e.tensors.pop(0),
    ],
    ids=["version", "kind", "payload-type", "dtype", "shape-vs-bytes", "missing-tensor"],
)
def test_malformed_envelopes_raise_codec_error(mutate) -> None:  # type: ignore[no-untyped-def]
    envelope = wire.Envelope.FromString(encode(Message(MessageKind.UPDATE, (7, 8), SERVER, 3, _updates())))
    mutate(envelope)
    with pytest.raises(CodecError):
        decode(envelope.SerializeToString())
    with pytest.raises(CodecError):
        decode(b"\xff\xff\xff not protobuf")


def test_secure_aggregation_payloads_cross_the_wire_intact() -> None:
    from fedrec.privacy.secagg.messages import MaskedInputs, PublicKeys, RevealedShares, SealedShares, Survivors

    rng = np.random.default_rng(0)
    keys = rng.integers(0, 256, size=(3, 32), dtype=np.uint8)
    payloads = [
        PublicKeys(np.array([4, 5, 9]), keys, keys[::-1].copy(), threshold=2),
        SealedShares(np.array([4, 4]), np.array([5, 9]), rng.integers(0, 256, size=(2, 176), dtype=np.uint8)),
        MaskedInputs(np.array([5]), rng.integers(0, 2**64, size=(1, 1000), dtype=np.uint64)),
        Survivors(np.array([4, 5])),
        RevealedShares(np.array([4, 4]), np.array([5, 9]), np.array([0, 1]),
                       rng.integers(0, 256, size=(2, 66), dtype=np.uint8)),
    ]  # fmt: skip
    for payload in payloads:
        back, _ = decode(encode(Message(MessageKind.SECAGG_MASKED, 5, SERVER, 3, payload)))
        assert type(back.payload) is type(payload)
        for name, value in vars(payload).items():
            got = getattr(back.payload, name)
            assert got == value if isinstance(value, int) else (got.dtype == value.dtype and np.array_equal(got, value))


def test_a_malformed_secure_aggregation_payload_is_a_codec_error() -> None:
    from fedrec.privacy.secagg.messages import SealedShares

    bad = SealedShares(np.array([4, 4]), np.array([5]), np.zeros((2, 176), dtype=np.uint8))
    with pytest.raises(CodecError, match="differ in length"):
        decode(encode(Message(MessageKind.SECAGG_SHARES, 4, SERVER, 1, bad)))
