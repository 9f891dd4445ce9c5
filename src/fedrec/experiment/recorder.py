"""Turns the server's round reports into history lines, checkpoints and the live view."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from fedrec.experiment.progress import ProgressView
from fedrec.privacy.accountant import PrivacyLedger
from fedrec.run_folder import RunFolder
from fedrec.runtime.protocols import RoundRecord


class RunRecorder:
    """Records each evaluated round: appends its line to ``history.jsonl`` with the bytes moved and epsilon spent so
    far, and shows progress."""

    def __init__(
        self,
        folder: RunFolder | None,
        view: ProgressView,
        traffic: Callable[[], tuple[int, int]] = lambda: (0, 0),
    ) -> None:
        self.folder = folder
        self.view = view
        self.traffic = traffic
        self.started = time.perf_counter()
        self.history: list[dict[str, Any]] = []
        self.ledger: PrivacyLedger | None = None  # user-level DP: each line carries the epsilon spent so far

    def on_round(self, record: RoundRecord) -> None:
        """One evaluated round's line."""
        up, down = self.traffic()
        line: dict[str, Any] = {"round": record.round, **record.metrics}
        line |= {
            "participants": record.num_participants,
            "virtual_time_s": round(record.virtual_time_s, 6),
            "wall_time_s": round(time.perf_counter() - self.started, 4),
            "bytes_up": up,
            "bytes_down": down,
            **{k: v for k, v in record.participation.items() if k in ("late", "offline", "staleness_mean")},
        }
        if self.ledger is not None:
            line["epsilon"] = round(self.ledger.epsilon(record.round), 6)
        self.history.append(line)
        if self.folder is not None:
            self.folder.append_history(line)
        self.view.update(record.round, record.metrics)
