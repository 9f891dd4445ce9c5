"""What a federated run did, for its summary: rounds completed of those planned, why it ended early, whose
replies were refused and why, and whether anything was learned at all.

``status`` is ``finished`` (every planned round), ``stopped`` (ended early; ``stopped`` says why: a privacy
budget spent, every client gone) or ``failed`` (no update was ever aggregated, so the model is the initial
one; ``failure`` says so, and ``fedrec run`` exits non-zero).
"""

from __future__ import annotations

from typing import Any

from fedrec.runtime.server import Server


def server_outcome(server: Server) -> dict[str, Any]:
    """The summary fields that describe what ``server``'s run did (after it has finished)."""
    outcome: dict[str, Any] = {
        "rounds": server.round,
        "planned_rounds": server.plan.rounds,
        "aggregated_rounds": server.aggregated_rounds,
        "metrics_round": server.metrics_round,
        "status": status(server),
        **server.rejections.as_dict(),
        "participation": server.stats.as_dict(),
    }
    if server.stopped:
        outcome["stopped"] = server.stopped
    if server.aggregated_rounds == 0:
        refused = server.rejections.as_dict()["rejected_updates"]["by_reason"]
        why = f"; updates refused: {refused}" if refused else ""
        why += f"; {server.stopped}" if server.stopped else ""
        outcome["failure"] = f"no update was aggregated in {server.round} rounds, so the model is the initial one{why}"
    return outcome


def status(server: Server) -> str:
    """``finished``, ``stopped`` (the run ended early, with ``server.stopped`` saying why) or ``failed`` (no update was
    ever aggregated)."""
    if server.aggregated_rounds == 0:
        return "failed"
    return "stopped" if server.stopped or server.round < server.plan.rounds else "finished"
