"""``fedrec cluster``: a server and P client processes on this machine, with the clients divided among them."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from fedrec.config import RunConfig
from fedrec.errors import FedrecError, RunFailed
from fedrec.experiment.distributed import refuse_simulation_backend
from fedrec.experiment.task_data import count_clients
from fedrec.run_folder import default_run_dir

MAX_PROCESSES = 64  # each client process is a Python interpreter with torch: a few hundred MB of memory


def client_ranges(num_clients: int, processes: int) -> list[str]:
    """Contiguous id ranges, one per process, as ``"1-315"`` strings."""
    parts = np.array_split(np.arange(1, num_clients + 1), min(processes, num_clients))
    return [f"{p[0]}-{p[-1]}" for p in parts]


def run_cluster(
    config_path: Path | None, overrides: list[str], config: RunConfig, processes: int, out: Path | None, port: int
) -> Path:
    """``fedrec cluster``: one server and ``processes`` client processes on this machine over gRPC (port ``port``, 0: a
    free one), writing the run to ``out``; returns the run folder. Raises ``FedrecError`` when a process fails."""
    refuse_simulation_backend(config)
    folder = out or default_run_dir(config)
    num_users = count_clients(config)  # as the server counts them (rating, ranking: from the catalogue)
    if processes > min(num_users, MAX_PROCESSES):
        raise FedrecError(
            f"--processes {processes} is more than this run's {num_users} clients or this machine's limit of "
            f"{MAX_PROCESSES} client processes; pass at most {min(num_users, MAX_PROCESSES)} (or start more "
            "`fedrec client` processes yourself)"
        )
    address = f"127.0.0.1:{port}"
    fedrec = [sys.executable, "-m", "fedrec"]
    sets = [arg for o in overrides for arg in ("--set", o)]
    server_cmd = [*fedrec, "server", "--listen", address, "--out", str(folder), *sets]
    if config_path is not None:
        server_cmd += ["--config", str(config_path)]
    children = [subprocess.Popen(server_cmd)]
    try:
        _wait_until_listening(children[0], port)
        for ids in client_ranges(num_users, processes):
            children.append(subprocess.Popen([*fedrec, "client", "--server", address, "--clients", ids]))
        code = _wait_for_server(children[0], children[1:])
        for child in children[1:]:
            child.wait(timeout=30)
    except KeyboardInterrupt:
        for child in children:
            child.send_signal(signal.SIGINT)
        for child in children:
            child.wait(timeout=30)
        raise
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
    if code == 1:  # the run ended without aggregating anything: the server said why
        raise RunFailed("the run aggregated no update; see the server's messages above")
    if code != 0:
        raise FedrecError(f"the server exited with status {code}; see its messages above")
    return folder


def _wait_for_server(server: subprocess.Popen[bytes], clients: list[subprocess.Popen[bytes]]) -> int:
    """The server's exit status; if every client process exits with an error first, the server would wait for
    them for ``distributed.rejoin_wait_s``: it is stopped (resumably) and the failure reported at once."""
    while server.poll() is None:
        codes = [c.poll() for c in clients]
        if all(code is not None for code in codes) and any(codes):
            server.send_signal(signal.SIGINT)
            server.wait(timeout=60)
            failed = sorted({code for code in codes if code})
            raise FedrecError(
                f"every client process exited (status {', '.join(map(str, failed))}) before the run ended; "
                "see their messages above"
            )
        time.sleep(0.2)
    return server.returncode


def _wait_until_listening(server: subprocess.Popen[bytes], port: int, timeout_s: float = 600.0) -> None:
    """Return once the server accepts connections, so the client processes connect at their first attempt."""
    deadline = time.monotonic() + timeout_s
    while server.poll() is None and time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1.0).close()
            return
        except OSError:
            time.sleep(0.2)
    if server.poll() is None:
        raise FedrecError(f"the server did not listen on port {port} within {timeout_s:.0f} s")
    raise FedrecError(f"the server exited with status {server.returncode} before listening; see its messages above")
