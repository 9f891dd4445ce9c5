"""What a client process may send the server, checked on every message before the server worker sees it.

A client sends only the kinds below, each with the payload type that kind requires, speaking for clients it
hosts (the ids its credential covered at hello), every payload naming exactly its message's senders. What
fails is refused with a short reason (counted in ``summary.json`` as ``rejected_messages``); the contents are
judged by the server worker: a JOIN's counts against its registry, updates and metric sums against the model
(``algorithms.validation``).
"""

from __future__ import annotations

import numpy as np

from fedrec.payloads import ClientUpdates, MetricSums
from fedrec.privacy.secagg.messages import MaskedInputs, PublicKeys, RevealedShares, SealedShares
from fedrec.runtime.message import Message, MessageKind
from fedrec.runtime.protocols import JoinInfo, Withdrawal
from fedrec.transport.codec import CodecError, decode

CLIENT_SENDS: dict[MessageKind, type] = {
    MessageKind.JOIN: JoinInfo,
    MessageKind.UPDATE: ClientUpdates,
    MessageKind.METRICS: MetricSums,
    MessageKind.WITHDRAW: Withdrawal,
    MessageKind.SECAGG_KEYS: PublicKeys,
    MessageKind.SECAGG_SHARES: SealedShares,
    MessageKind.SECAGG_MASKED: MaskedInputs,
    MessageKind.SECAGG_REVEAL: RevealedShares,
    MessageKind.OFFLINE: type(None),  # a host that simulates its devices dropping out (secure agg. dropout) says so
}


def refusal(message: Message, hosted: np.ndarray) -> tuple[str, str] | None:
    """``(reason key, detail)`` when a client process hosting ``hosted`` (sorted ids) may not send
    ``message``; None when it may."""
    required = CLIENT_SENDS.get(message.kind)
    if required is None:
        return "unexpected_kind", f"a client may not send {message.kind.name}"
    senders = np.asarray(message.senders(), dtype=np.int64)
    if len(senders) == 0 or len(np.unique(senders)) != len(senders):
        return "malformed", f"a {message.kind.name} must name its senders, each once"
    if not np.isin(senders, hosted).all():
        return "impersonation", f"a {message.kind.name} for clients the process does not host"
    if not isinstance(message.payload, required):
        got = type(message.payload).__name__
        return "wrong_payload", f"a {message.kind.name} carries {required.__name__}, not {got}"
    if message.payload is None:
        return None  # OFFLINE speaks for its senders only
    claimed = np.asarray(getattr(message.payload, "client_ids", None))
    if claimed.shape != senders.shape or not np.array_equal(np.sort(claimed), np.sort(senders)):
        return "impersonation", f"the {message.kind.name}'s payload speaks for other clients than its senders"
    return None


def admit(data: bytes, hosted: np.ndarray) -> Message | tuple[str, str]:
    """The message ``data`` encodes, if a client process hosting ``hosted`` may send it; else ``(reason,
    detail)``. Whatever the bytes are, this raises nothing."""
    try:
        message, _ = decode(data)
    except CodecError as exc:
        return "malformed", f"a malformed message ({exc})"
    except Exception as exc:  # noqa: BLE001 - whatever the bytes do to the decoder
        return "malformed", f"an undecodable message ({type(exc).__name__}: {str(exc)[:120]})"
    refused = refusal(message, hosted)
    return message if refused is None else refused
