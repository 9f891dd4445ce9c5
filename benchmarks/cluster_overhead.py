"""Transport overhead of the cluster mode on loopback: P client processes hosting all 943 ML-100K users.

For each round, the server's time from broadcast to the round's close minus the slowest client process's
own training time is what the transport and the server's bookkeeping cost. Also prints the bytes on the
wire against the raw bytes of the tensors they carried.

    .venv/bin/python benchmarks/cluster_overhead.py [--processes 50] [--rounds 6]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="fedrec-cluster-"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    address = f"127.0.0.1:{port}"
    env = {**os.environ, "FEDREC_THREADS": "1"}
    fedrec = [sys.executable, "-m", "fedrec"]
    sets = ["--set", f"rounds={args.rounds}", "--set", f"federation.eval_every={args.rounds}"]
    logs = [work / f"p{k}.log" for k in range(args.processes + 1)]
    procs = [_start([*fedrec, "server", "--listen", address, "--out", str(work / "run"), *sets], logs[0], env)]
    for k, part in enumerate(np.array_split(np.arange(1, 944), args.processes), 1):
        procs.append(
            _start([*fedrec, "client", "--server", address, "--clients", f"{part[0]}-{part[-1]}"], logs[k], env)
        )
    started = time.perf_counter()
    codes = [p.wait(timeout=1800) for p in procs]
    if any(codes):
        sys.exit(f"a process failed ({codes}); logs in {work}")
    closed = {int(r): float(s) for r, s in re.findall(r"round (\d+) closed after ([\d.]+) s", logs[0].read_text())}
    compute: dict[int, float] = {}
    for log in logs[1:]:
        for r, s in re.findall(r"round (\d+): trained \d+ clients in ([\d.]+) s", log.read_text()):
            compute[int(r)] = max(compute.get(int(r), 0.0), float(s))
    summary = json.loads((work / "run" / "summary.json").read_text())
    print(f"{args.processes} client processes, 943 clients, {args.rounds} rounds, loopback, 2 cores")
    print("round  server-side round s  slowest client training s  overhead ms")
    overheads = []
    for r in sorted(closed):
        overhead = 1000 * (closed[r] - compute.get(r, 0.0))
        overheads.append(overhead)
        print(f"{r:5d}  {closed[r]:19.3f}  {compute.get(r, 0.0):25.3f}  {overhead:11.1f}")
    print(
        f"median overhead per round: {statistics.median(overheads):.1f} ms (rounds after the first: "
        f"{statistics.median(overheads[1:] or overheads):.1f} ms)"
    )
    up, down = summary["bytes_up"], summary["bytes_down"]
    raw_up, raw_down = summary["raw_tensor_bytes_up"], summary["raw_tensor_bytes_down"]
    print(f"bytes up on the wire {up:,} vs raw tensors {raw_up:,} ({100 * (up / raw_up - 1):+.2f}%)")
    print(f"bytes down on the wire {down:,} vs raw tensors {raw_down:,} ({100 * (down / raw_down - 1):+.2f}%)")
    print(f"test_rmse {summary['metrics']['test_rmse']:.4f}; wall {time.perf_counter() - started:.1f} s incl. start-up")


def _start(cmd: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    with log.open("wb") as handle:
        return subprocess.Popen(cmd, stdout=handle, stderr=subprocess.STDOUT, env=env)


if __name__ == "__main__":
    main()
