"""Secure aggregation's payloads on the wire: their arrays as raw tensors (masked vectors as int64 bits)."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import numpy as np
import torch
from torch import Tensor

from fedrec.privacy.secagg.messages import MaskedInputs, PublicKeys, RevealedShares, SealedShares, Survivors

_TYPES: dict[str, Any] = {
    "secagg_keys": PublicKeys,
    "secagg_sealed": SealedShares,
    "secagg_masked": MaskedInputs,
    "secagg_survivors": Survivors,
    "secagg_revealed": RevealedShares,
}
_NAMES = {t: n for n, t in _TYPES.items()}
_WIDTHS = {"cipher": 32, "mask": 32, "commitment": 32, "sealed": None, "share": None}  # byte columns
# arrays whose length is their own, not the payload's number of rows (they default to empty)
_OWN_LENGTH = {"commitment": "commitment", "accuser": "reports", "accused": "reports", "excluded": "excluded"}


class SecAggCodecError(ValueError):
    """Secure aggregation's payload bytes are malformed."""

    pass


def encode_secagg(payload: Any) -> tuple[str, dict[str, Tensor], dict[str, str]] | None:
    """A secure aggregation payload as ``(type name, tensors, meta)`` for the codec, or None for any other payload."""
    name = _NAMES.get(type(payload))
    if name is None:
        return None
    tensors, meta = {}, {}
    for f in fields(payload):
        value = getattr(payload, f.name)
        if isinstance(value, int):
            meta[f.name] = str(value)
        elif value.dtype == np.uint64:
            tensors[f.name] = torch.from_numpy(value.view(np.int64))
        else:
            tensors[f.name] = torch.from_numpy(np.ascontiguousarray(value))
    return name, tensors, meta


def decode_secagg(kind: str, arrays: dict[str, np.ndarray], meta: dict[str, str]) -> Any:
    """The payload of ``kind``, with the shape and dtype checks a hostile sender could otherwise exploit."""
    cls = _TYPES.get(kind)
    if cls is None:
        raise SecAggCodecError(f"unknown secure-aggregation payload {kind!r}")
    values: dict[str, Any] = {}
    for f in fields(cls):
        if f.name in meta:
            values[f.name] = int(meta[f.name])
            continue
        if f.name not in arrays:
            raise SecAggCodecError(f"{kind} lacks {f.name!r}")
        array = arrays[f.name]
        values[f.name] = array.view(np.uint64) if f.name == "vectors" else array
    payload = cls(**values)
    _check(payload)
    return payload


def _check(payload: Any) -> None:
    lengths: dict[str, set[int]] = {}
    for f in fields(payload):
        value = getattr(payload, f.name)
        if isinstance(value, int):
            continue
        if f.name in _WIDTHS:
            if value.dtype != np.uint8 or value.ndim != 2:
                raise SecAggCodecError(f"{f.name} must be a table of bytes")
        elif f.name == "vectors":
            if value.ndim != 2:
                raise SecAggCodecError("masked vectors must be a [clients, dim] table")
        elif value.dtype != np.int64 or value.ndim != 1:
            raise SecAggCodecError(f"{f.name} must be a vector of int64")
        lengths.setdefault(_OWN_LENGTH.get(f.name, "rows"), set()).add(len(value))
    if any(len(group) > 1 for group in lengths.values()):
        raise SecAggCodecError("the arrays of a secure-aggregation payload differ in length")
