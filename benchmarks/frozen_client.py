"""How long a cluster server takes to notice a client process that froze (SIGSTOP: connected, silent, no
FIN): with fedrec's keepalive settings, and with the same settings but no ``grpc.http2.ping_timeout_ms``
(gRPC's default ping timeout, 60 s, then governs).

    .venv/bin/python benchmarks/frozen_client.py

Both figures come from the same run: a server, one client process that keeps training and one that is
frozen after round 2; the time is from SIGSTOP to the server's "disconnected" line.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WITHOUT_PING_TIMEOUT = """
import fedrec.transport.grpc_common as common
options = common.WireOptions.channel_options
common.WireOptions.channel_options = lambda self: [o for o in options(self) if o[0] != "grpc.http2.ping_timeout_ms"]
from fedrec.cli.main import main
main()
"""


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def noticed_after(folder: Path, patched: bool) -> float:
    log, port = folder / f"log-{patched}.txt", _port()
    env = {**os.environ, "FEDREC_THREADS": "1"}
    server_cmd = [sys.executable, "-c", WITHOUT_PING_TIMEOUT] if patched else [sys.executable, "-m", "fedrec"]

    def start(command: list[str], *args: str) -> subprocess.Popen[bytes]:
        with log.open("ab") as out:
            return subprocess.Popen([*command, *args], stdout=out, stderr=subprocess.STDOUT, env=env)

    out = str(folder / f"run-{patched}")
    server = start(server_cmd, "server", "--listen", f"127.0.0.1:{port}", "--out", out, "--set", "rounds=500",
                   "--set", "federation.clients_per_round=20")  # fmt: skip
    client = [sys.executable, "-m", "fedrec", "client", "--server", f"127.0.0.1:{port}", "--clients"]
    awake, frozen = start(client, "1-500"), start(client, "501-943")
    try:
        while "round 2:" not in log.read_text():
            time.sleep(0.1)
        frozen.send_signal(signal.SIGSTOP)
        stopped = time.monotonic()
        while "disconnected" not in log.read_text() and time.monotonic() - stopped < 300:
            time.sleep(0.1)
        return time.monotonic() - stopped
    finally:
        for process in (server, awake, frozen):
            process.kill()
        frozen.send_signal(signal.SIGCONT)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        fedrec = noticed_after(Path(tmp), patched=False)
        default = noticed_after(Path(tmp), patched=True)
    print(f"frozen client process noticed after {fedrec:.1f} s (fedrec's keepalive); "
          f"{default:.1f} s without the ping timeout ({default / fedrec:.1f}x)")  # fmt: skip


if __name__ == "__main__":
    main()
