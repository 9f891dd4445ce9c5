"""The wire format: a protobuf envelope whose tensors are raw bytes with their dtype and shape.

Nothing is pickled. Decoding checks what it can without knowing the model (known kind and payload type,
known dtype, byte length matching the shape, required tensors present) and raises ``CodecError`` otherwise;
the server's update check then validates the contents against the model.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from google.protobuf.message import DecodeError
from torch import Tensor

from fedrec.payloads import ClientUpdates, GlobalModel, MetricSums, RowDeltas
from fedrec.runtime.message import SERVER, Message, MessageKind
from fedrec.runtime.protocols import Deadline, JoinInfo, Timer, Withdrawal
from fedrec.transport.proto import wire_pb2 as wire
from fedrec.transport.secagg_codec import decode_secagg, encode_secagg

PROTOCOL_VERSION = 1
_DTYPES = {
    "float32": torch.float32,
    "float64": torch.float64,
    "int64": torch.int64,
    "int32": torch.int32,
    "uint8": torch.uint8,
}
_INT32 = torch.iinfo(torch.int32)
_NAMES = {v: k for k, v in _DTYPES.items()}


class CodecError(ValueError):
    """Bytes that are not a well-formed fedrec envelope."""


def encode(message: Message, meta: dict[str, str] | None = None) -> bytes:
    """The wire bytes of ``message``: a protobuf envelope with raw tensor bytes (dtype, shape); never pickle."""
    envelope = wire.Envelope(
        protocol_version=PROTOCOL_VERSION,
        kind=message.kind.value,
        sender=list(message.senders()),
        receiver=list(message.receivers()),
        round=message.round,
        time=message.time,
    )
    kind, tensors, payload_meta = encode_payload(message.payload)
    envelope.payload_type = kind
    envelope.tensors.extend(_tensor_proto(name, value) for name, value in tensors.items())
    envelope.meta.update({**payload_meta, **(meta or {})})
    data: bytes = envelope.SerializeToString()
    return data


def decode(data: bytes) -> tuple[Message, dict[str, str]]:
    """The message (and the envelope's meta) of wire bytes; raises ``CodecError`` for anything that is not a valid
    fedrec envelope."""
    try:
        envelope = wire.Envelope.FromString(data)
    except DecodeError as exc:
        raise CodecError(f"not a fedrec envelope: {exc}") from None
    if envelope.protocol_version != PROTOCOL_VERSION:
        raise CodecError(f"protocol version {envelope.protocol_version}, expected {PROTOCOL_VERSION}")
    try:
        kind = MessageKind(envelope.kind)
    except ValueError:
        raise CodecError(f"unknown message kind {envelope.kind!r}") from None
    tensors = {t.name: _tensor(t) for t in envelope.tensors}
    payload = decode_payload(envelope.payload_type, tensors, dict(envelope.meta))
    sender = _address(list(envelope.sender))
    receiver = _address(list(envelope.receiver))
    message = Message(kind, sender, receiver, int(envelope.round), payload, float(envelope.time))
    return message, dict(envelope.meta)


def _address(ids: list[int]) -> int | tuple[int, ...]:
    return SERVER if ids == [SERVER] else tuple(ids)


def encode_payload(payload: Any) -> tuple[str, dict[str, Tensor], dict[str, str]]:
    """A payload as ``(type name, tensors, meta)``; raises ``TypeError`` for a payload with no wire encoding."""
    if payload is None:
        return ("none", {}, {})
    if isinstance(payload, Deadline):
        return ("deadline", {}, {"timer": payload.timer.value, "step": payload.step})
    if isinstance(payload, GlobalModel):
        tensors = {f"params/{k}": v for k, v in payload.params.items()}
        return ("model", tensors, {"row_sparse": ",".join(sorted(payload.row_sparse))})
    if isinstance(payload, ClientUpdates):
        rows = payload.rows
        tensors = {"client_ids": torch.from_numpy(payload.client_ids), "num_examples": payload.num_examples}
        tensors |= {f"dense/{k}": v for k, v in payload.dense.items()}
        tensors |= {"rows/owner": rows.owner, "rows/index": rows.index, "rows/weight": rows.weight}
        tensors |= {f"rows/values/{k}": v for k, v in rows.values.items()}
        return ("updates", tensors, {})
    if isinstance(payload, MetricSums):
        tensors = {"client_ids": torch.from_numpy(payload.client_ids)} | {
            f"sums/{k}": v for k, v in payload.sums.items()
        }
        return ("metrics", tensors, {})
    if isinstance(payload, JoinInfo):
        ids, counts = torch.from_numpy(payload.client_ids), torch.from_numpy(payload.num_examples.astype(np.int64))
        return ("join", {"client_ids": ids, "num_examples": counts}, {})
    if isinstance(payload, Withdrawal):
        return (
            "withdrawal",
            {"client_ids": torch.from_numpy(payload.client_ids)},
            {"reason": payload.reason, "of": payload.of},
        )
    secure = encode_secagg(payload)
    if secure is not None:
        return secure
    raise TypeError(f"no wire encoding for {type(payload).__name__}")


def decode_payload(kind: str, tensors: dict[str, Tensor], meta: dict[str, str]) -> Any:
    """A payload from ``encode_payload``'s parts; raises ``CodecError`` for an unknown type or missing tensors."""
    if kind == "none":
        return _legacy_deadline(meta["note"]) if "note" in meta else None
    if kind == "deadline":
        try:
            return Deadline(Timer(meta.get("timer", "")), meta.get("step", ""))
        except ValueError:
            raise CodecError(f"unknown deadline timer {meta.get('timer')!r}") from None
    if kind == "model":
        sparse = frozenset(n for n in meta.get("row_sparse", "").split(",") if n)
        return GlobalModel({k[7:]: v for k, v in tensors.items() if k.startswith("params/")}, sparse)
    if kind == "updates":
        rows = RowDeltas(
            _need(tensors, "rows/owner"),
            _need(tensors, "rows/index"),
            _need(tensors, "rows/weight"),
            _group(tensors, "rows/values/"),
        )
        return ClientUpdates(_ids(tensors), _need(tensors, "num_examples"), _group(tensors, "dense/"), rows)
    if kind == "metrics":
        return MetricSums(_ids(tensors), _group(tensors, "sums/"))
    if kind == "join":
        return JoinInfo(_ids(tensors), _need(tensors, "num_examples").numpy())
    if kind == "withdrawal":
        return Withdrawal(_ids(tensors), meta.get("reason", ""), meta.get("of", "update"))
    if kind.startswith("secagg_"):
        try:
            return decode_secagg(kind, {k: v.numpy() for k, v in tensors.items()}, meta)
        except ValueError as error:
            raise CodecError(str(error)) from None
    raise CodecError(f"unknown payload type {kind!r}")


def _ids(tensors: dict[str, Tensor]) -> np.ndarray:
    ids = _need(tensors, "client_ids")
    if ids.dtype != torch.int64 or ids.dim() != 1:
        raise CodecError("client_ids must be a vector of int64")
    return ids.numpy()


def _need(tensors: dict[str, Tensor], name: str) -> Tensor:
    if name not in tensors:
        raise CodecError(f"the payload lacks the tensor {name!r}")
    return tensors[name]


def _group(tensors: dict[str, Tensor], prefix: str) -> dict[str, Tensor]:
    return {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}


def _tensor_proto(name: str, value: Tensor) -> wire.Tensor:
    """Integer tensors travel as int32 when their values fit (indices always do); they decode as int64."""
    value = value.detach().contiguous()
    if value.dtype == torch.int64 and (value.numel() == 0 or (_INT32.min <= value.min() and value.max() <= _INT32.max)):
        value = value.to(torch.int32)
    if value.dtype not in _NAMES:
        raise TypeError(f"{name}: dtype {value.dtype} has no wire encoding")
    return wire.Tensor(name=name, dtype=_NAMES[value.dtype], shape=list(value.shape), data=value.numpy().tobytes())


def _tensor(proto: wire.Tensor) -> Tensor:
    dtype = _DTYPES.get(proto.dtype)
    if dtype is None:
        raise CodecError(f"tensor {proto.name!r} has unknown dtype {proto.dtype!r}")
    shape = tuple(int(s) for s in proto.shape)
    if any(s < 0 for s in shape):
        raise CodecError(f"tensor {proto.name!r} has a negative dimension")
    itemsize = torch.empty(0, dtype=dtype).element_size()
    if int(np.prod(shape, dtype=np.int64)) * itemsize != len(proto.data):
        raise CodecError(f"tensor {proto.name!r}: {len(proto.data)} bytes do not fill shape {shape}")
    array = np.frombuffer(proto.data, dtype=np.dtype(proto.dtype).newbyteorder("<")).reshape(shape)
    tensor = torch.from_numpy(array.astype(array.dtype.newbyteorder("="), copy=True))
    return tensor.to(torch.int64) if tensor.dtype == torch.int32 else tensor


_LEGACY_TIMERS = {"train": Timer.ROUND, "evaluate": Timer.EVALUATION, "join": Timer.REJOIN}


def _legacy_deadline(note: str) -> Deadline:
    """A deadline as checkpoints before ``Deadline`` wrote it: the kind of the step it closed."""
    if note in _LEGACY_TIMERS:
        return Deadline(_LEGACY_TIMERS[note])
    if note.startswith("secagg_"):
        return Deadline(Timer.ROUND, note.removeprefix("secagg_").upper())
    raise CodecError(f"unknown deadline note {note!r}")
