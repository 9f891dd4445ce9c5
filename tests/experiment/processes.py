"""Starting real fedrec server and client processes on loopback for the cluster tests."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

FEDREC = [sys.executable, "-m", "fedrec"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(*args: str, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "FEDREC_THREADS": "1"}
    with log.open("ab") as handle:  # the child keeps its own copy of the descriptor
        return subprocess.Popen([*FEDREC, *args], stdout=handle, stderr=subprocess.STDOUT, env=env)


def history(folder: Path) -> list[dict]:  # type: ignore[type-arg]
    path = folder / "history.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def wait_for(condition, timeout: float = 120.0, what: str = "condition") -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise TimeoutError(f"gave up waiting for {what}")


def finish(processes: list[subprocess.Popen[bytes]], timeout: float = 180.0) -> list[int]:
    """Exit codes, in order; one deadline for all, so a hung server does not leave its clients waiting too."""
    deadline = time.monotonic() + timeout
    codes = []
    for process in processes:
        try:
            codes.append(process.wait(timeout=max(deadline - time.monotonic(), 0.1)))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            codes.append(-9)
    return codes
