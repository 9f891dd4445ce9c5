"""What the cluster mode costs over the simulation, on loopback: P client processes hosting all 943 ML-100K users.

Runs the same seeded config twice, evaluating every round: as ``fedrec cluster`` (a server and P client
processes over gRPC) and as the in-process simulation. Reads everything from the run folders, never from log
lines: each round's wall time from ``history.jsonl`` (rounds after the first, whose cluster time includes the
processes connecting), the bytes on the wire against the raw bytes of the tensors they carried from
``summary.json``, and the final test RMSE of both runs, which must agree.

    .venv/bin/python benchmarks/cluster_overhead.py [--processes 50] [--rounds 6]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fedrec.config import load_config
from fedrec.experiment.runner import execute


def round_times(folder: Path) -> dict[int, float]:
    """Seconds each round took, from one evaluated round to the next (every round is evaluated here)."""
    lines = [json.loads(line) for line in (folder / "history.jsonl").read_text().splitlines()]
    rounds = [int(line["round"]) for line in lines]
    walls = np.array([float(line["wall_time_s"]) for line in lines])
    return dict(zip(rounds[1:], np.diff(walls).tolist(), strict=True))


def summary_of(folder: Path) -> dict[str, Any]:
    summary: dict[str, Any] = json.loads((folder / "summary.json").read_text())
    return summary


def run_cluster(work: Path, processes: int, overrides: list[str]) -> Path:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sets = [arg for o in overrides for arg in ("--set", o)]
    command = [sys.executable, "-m", "fedrec", "cluster", "--processes", str(processes), "--port", str(port)]
    log = work / "cluster.log"
    with log.open("wb") as handle:
        code = subprocess.run(
            [*command, "--out", str(work / "cluster"), *sets],
            stdout=handle,
            stderr=subprocess.STDOUT,
            env={**os.environ, "FEDREC_THREADS": "1"},
            timeout=3600,
        ).returncode
    if code:
        sys.exit(f"fedrec cluster failed with status {code}; its messages are in {log}")
    return work / "cluster"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()
    torch.set_num_threads(1)
    work = Path(tempfile.mkdtemp(prefix="fedrec-cluster-"))
    overrides = [f"rounds={args.rounds}", "federation.eval_every=1"]
    started = time.perf_counter()
    cluster = run_cluster(work, args.processes, overrides)
    cluster_wall = time.perf_counter() - started
    execute(load_config(overrides=overrides), work / "simulation", quiet=True)
    over_grpc, in_process = round_times(cluster), round_times(work / "simulation")
    print(f"{args.processes} client processes, 943 clients, {args.rounds} rounds evaluated each, loopback, 2 cores")
    print("round  cluster s  simulation s  difference ms")
    differences = []
    for r in sorted(over_grpc):
        differences.append(1000 * (over_grpc[r] - in_process[r]))
        print(f"{r:5d}  {over_grpc[r]:9.3f}  {in_process[r]:12.3f}  {differences[-1]:13.1f}")
    print(
        f"median round: cluster {statistics.median(over_grpc.values()):.3f} s, simulation "
        f"{statistics.median(in_process.values()):.3f} s; median difference {statistics.median(differences):.1f} ms"
    )
    s = summary_of(cluster)
    up, down = s["bytes_up"], s["bytes_down"]
    raw_up, raw_down = s["raw_tensor_bytes_up"], s["raw_tensor_bytes_down"]
    print(f"bytes up on the wire {up:,} vs raw tensors {raw_up:,} ({100 * (up / raw_up - 1):+.2f}%)")
    print(f"bytes down on the wire {down:,} vs raw tensors {raw_down:,} ({100 * (down / raw_down - 1):+.2f}%)")
    simulated = summary_of(work / "simulation")["metrics"]["test_rmse"]
    print(
        f"test_rmse cluster {s['metrics']['test_rmse']:.6f}, simulation {simulated:.6f}; "
        f"cluster wall {cluster_wall:.1f} s incl. start-up; run folders in {work}"
    )


if __name__ == "__main__":
    main()
