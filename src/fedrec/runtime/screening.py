"""What a client says is checked before the server believes it: JOINs, and each client's update or metric sums.

A refusal names the clients it concerns (``positions`` in the payload) or the whole message; a refused client
loses only its own contribution. The checks of values (shapes, magnitudes, row weights) are the update check's
(``algorithms.validation``) and the metric combiner's (``implausible``); here they are applied and counted.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from fedrec.runtime.message import Message, MessageKind
from fedrec.runtime.protocols import ClientRoster, JoinInfo, MetricCombiner, Refusal, UpdateCheck

log = logging.getLogger("fedrec.runtime.server")


@dataclass(frozen=True)
class WholeRefusal:
    """A refusal of a whole message (``positions`` None), or of the clients at ``positions``."""

    reason: str
    detail: str
    positions: np.ndarray | None = None


def join_problem(message: Message, max_examples: int | None) -> tuple[str, str] | None:
    """``(reason, detail)`` when a JOIN cannot be believed: not a ``JoinInfo``, naming other clients than its
    senders, counts that are not one non-negative integer per client or above ``max_examples``; else None."""
    info = message.payload
    if not isinstance(info, JoinInfo):
        return "wrong_payload", f"a JOIN carries JoinInfo, not {type(info).__name__}"
    ids, counts = np.asarray(info.client_ids), np.asarray(info.num_examples)
    senders = np.sort(np.asarray(message.senders(), dtype=np.int64))
    if ids.shape != senders.shape or not np.array_equal(np.sort(ids), senders):
        return "impersonation", "the JOIN names other clients than its senders"
    if counts.shape != ids.shape or counts.dtype.kind not in "iu":
        return "malformed", "a JOIN gives one integer example count per client"
    if len(counts) and counts.min() < 0:
        return "bad_count", "example counts must not be negative"
    if max_examples is not None and len(counts) and counts.max() > max_examples:
        return "bad_count", f"{int(counts.max())} examples claimed for one client; the data has {max_examples}"
    return None


def refusals(
    message: Message, check: UpdateCheck | None, model: Any, clients: ClientRoster, metrics: MetricCombiner
) -> Sequence[Refusal]:
    """Why (parts of) an UPDATE or METRICS cannot be believed: a payload speaking for others than its sender,
    the update check's refusals against ``model`` and the registered ``clients``, and for metric sums the
    combiner's ``implausible``."""
    claimed = getattr(message.payload, "client_ids", None)
    if claimed is None or not np.array_equal(np.asarray(claimed), np.asarray(message.senders())):
        return [WholeRefusal("impersonation", "the payload speaks for other clients than its sender")]
    found: list[Refusal] = list(check.refusals(message.payload, model, clients)) if check else []
    if message.kind is not MessageKind.METRICS or any(r.positions is None for r in found):
        return found
    whole, bad = metrics.implausible(message.payload)
    if whole is not None:
        return [WholeRefusal("malformed", whole)]
    if bad.any():
        found.append(WholeRefusal("implausible_metrics", "metric sums no evaluation can produce", np.flatnonzero(bad)))
    return found


def screened(message: Message, found: Sequence[Refusal], counter: Counter[str]) -> tuple[Message | None, np.ndarray]:
    """The part of ``message`` whose clients ``found`` does not refuse (None if none is left), and the ids of
    those refused (int64), each counted once in ``counter`` under its first reason and logged."""
    senders = np.asarray(message.senders(), dtype=np.int64)
    if not found:
        return message, np.empty(0, dtype=np.int64)
    whole = next((r for r in found if r.positions is None), None)
    if whole is not None:
        counter[whole.reason] += len(senders)
        log.warning("refused a %s from clients %s: %s", message.kind.name, senders[:5].tolist(), whole.detail)
        return None, senders
    bad = np.zeros(len(senders), dtype=bool)
    for refusal in found:
        assert refusal.positions is not None
        fresh = refusal.positions[~bad[refusal.positions]]
        bad[fresh] = True
        if len(fresh):
            counter[refusal.reason] += len(fresh)
            log.warning("refused the %s of %d clients (%s): %s", message.kind.name, len(fresh),
                        senders[fresh][:5].tolist(), refusal.detail)  # fmt: skip
    keep = np.flatnonzero(~bad)
    return (message.part(keep) if len(keep) else None), senders[bad]
