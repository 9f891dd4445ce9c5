"""The folder a run leaves: config.yaml, history.jsonl, checkpoint/, and summary.json written last.

``summary.json`` appears only when a run completed, so a folder without it is never taken for a result.
Checkpoints hold tensors only and are loaded with ``weights_only=True``.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from fedrec.config import RunConfig, dump_config
from fedrec.errors import FedrecError, RunFolderError

log = logging.getLogger(__name__)

SERVER_CHECKPOINT = "checkpoint/server.pt"
CLIENTS_CHECKPOINT = "checkpoint/clients.pt"
SERVER_STATE = "checkpoint/server_state.pt"  # the server's progress besides the model (experiment.checkpoint)
SIMULATION_STATE = "checkpoint/simulation.pt"  # a simulation's whole state (experiment.checkpoint)


def default_run_dir(config: RunConfig) -> Path:
    """``runs/<dataset>-<task>-<mode>-<timestamp>`` for a run of ``config``."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{stamp}-{config.data.name}-{config.mode}"


class RunFolder:
    """A run's folder: resolved config, ``history.jsonl``, ``summary.json`` and checkpoints. Files are written whole (a
    temporary file renamed), so a crash never leaves half a file; raises ``RunFolderError`` for a folder that is
    not a run's."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def check_new(self) -> None:
        """Raises ``RunFolderError`` unless a new run can start here: a file, or a folder holding a run."""
        if self.path.exists() and not self.path.is_dir():
            raise RunFolderError(f"{self.path} is a file, not a folder; pass a folder (new or empty) as --out")
        if (self.path / "summary.json").exists() or (self.path / "history.jsonl").exists():
            raise RunFolderError(f"{self.path} already holds a run; pass another --out or remove that folder")

    def create(self, config: RunConfig) -> None:
        """Starts the folder of a new run; raises ``RunFolderError`` if it holds a run or cannot be made."""
        self.check_new()
        try:
            (self.path / "checkpoint").mkdir(parents=True, exist_ok=True)
            _write_atomic(self.path / "config.yaml", dump_config(config))
            (self.path / "history.jsonl").write_text("")
        except OSError as exc:
            reason = f"cannot make the run folder {self.path}: {exc.strerror}"
            raise RunFolderError(f"{reason}; pass another --out") from None

    @contextmanager
    def removed_if_refused(self, interrupted: bool = False) -> Iterator[None]:
        """On a user's error (``FedrecError``; with ``interrupted``, also Ctrl-C) before the first round,
        removes what ``create`` wrote, so a refused run leaves no half-written folder (and the same --out works
        once the error is fixed)."""
        try:
            yield
        except (FedrecError, KeyboardInterrupt) as stop:
            if isinstance(stop, FedrecError) or interrupted:
                self._discard_unstarted()
            raise

    def _discard_unstarted(self) -> None:
        checkpoint = self.path / "checkpoint"
        if (self.path / "summary.json").exists() or (self.path / "history.jsonl").read_text():
            return
        if checkpoint.is_dir() and any(checkpoint.iterdir()):  # a round completed: the run can be resumed
            return
        for name in ("config.yaml", "history.jsonl"):
            (self.path / name).unlink(missing_ok=True)
        for folder in (self.path / "checkpoint", self.path):
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()

    def truncate_history(self, last_round: int) -> list[dict[str, Any]]:
        """Keep the history lines up to ``last_round`` (those a resumed run will not write again). A line that
        is not a round's record (half written when the process was killed, or damaged) is dropped, and said."""
        path = self.path / "history.jsonl"
        lines = [_record(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []
        if None in lines:
            log.warning("%s: dropped %d damaged lines", path, lines.count(None))
        kept = [line for line in lines if line is not None and line["round"] <= last_round]
        _write_atomic(path, "".join(json.dumps(line) + "\n" for line in kept))
        return kept

    def reopen(self, checkpoint: str = SERVER_CHECKPOINT) -> RunConfig:
        """The config of an interrupted run, to continue it from ``checkpoint``; refuses a run that completed."""
        from fedrec.config import load_config

        if not (self.path / "config.yaml").is_file():
            raise RunFolderError(f"{self.path} holds no run to resume (no config.yaml)")
        summary = self.path / "summary.json"
        if summary.exists() and _status(summary) != "stopped":  # a stopped run (its clients gone) may go on
            raise RunFolderError(f"the run in {self.path} already completed; there is nothing to resume")
        simulation = (self.path / SIMULATION_STATE).is_file()
        if checkpoint == SIMULATION_STATE and not simulation and (self.path / SERVER_STATE).is_file():
            raise RunFolderError(  # a cluster server's checkpoint, or a simulation's that was lost
                f"{self.path / SIMULATION_STATE} is missing: if {self.path} holds a cluster run, continue it with "
                "`fedrec server --resume`; if a simulation, start the run again with another --out, or restore "
                "the run folder from a backup"
            )
        if checkpoint != SIMULATION_STATE and simulation:
            raise RunFolderError(f"{self.path} holds a simulation; continue it with `fedrec run --resume`")
        if not (self.path / checkpoint).is_file():
            raise RunFolderError(f"{self.path} has no checkpoint yet; start the run again instead of resuming")
        return load_config(self.path / "config.yaml")

    def append_history(self, record: dict[str, Any]) -> None:
        """Append one round's line to ``history.jsonl``."""
        with (self.path / "history.jsonl").open("a") as handle:
            handle.write(json.dumps(record) + "\n")

    def save_tensors(self, relative: str, tensors: dict[str, Tensor | int | float | str]) -> None:
        """Save ``tensors`` (and plain values) under ``relative`` with ``torch.save``, atomically."""
        target = self.path / relative
        partial = target.with_name(target.name + ".partial")
        torch.save(tensors, partial)
        os.replace(partial, target)

    def write_summary(self, summary: dict[str, Any]) -> None:
        """Write ``summary.json``, atomically."""
        _write_atomic(self.path / "summary.json", json.dumps(summary, indent=2) + "\n")

    def load_tensors(self, relative: str) -> dict[str, Any]:
        """What ``save_tensors`` saved (``weights_only``: no code runs on load); raises ``RunFolderError`` for a
        missing or unreadable file."""
        target = self.path / relative
        if not target.is_file():
            raise RunFolderError(f"{target} is missing; is {self.path} the folder of a completed fedrec run?")
        try:
            loaded: dict[str, Any] = torch.load(target, weights_only=True)
        except Exception as exc:  # torch raises RuntimeError, UnpicklingError, EOFError ... for a damaged file
            raise RunFolderError(f"{target} is damaged ({type(exc).__name__}); run again or restore it") from None
        return loaded

    def load_summary(self) -> dict[str, Any]:
        """``summary.json``; raises ``RunFolderError`` for a missing or damaged one."""
        target = self.path / "summary.json"
        if not target.is_file():
            raise RunFolderError(f"{target} is missing: the run in {self.path} did not complete")
        summary: dict[str, Any] = json.loads(target.read_text())
        return summary


def _record(line: str) -> dict[str, Any] | None:
    """A history line's record, or None if it is not one."""
    try:
        record = json.loads(line)
    except ValueError:
        return None
    return record if isinstance(record, dict) and isinstance(record.get("round"), int) else None


def _status(summary: Path) -> str:
    try:
        return str(json.loads(summary.read_text()).get("status", "finished"))
    except (OSError, ValueError, AttributeError):
        return "finished"


def _write_atomic(path: Path, text: str) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text)
    os.replace(partial, path)
