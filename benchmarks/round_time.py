"""Seconds per simulated round with every client of a config training one round (train + FedAvg).

Prints the cohort path (batched tensor operations) and the sequential path (one client at a time, autograd
and torch.optim) for the same round, and the per-client cost of each.

    .venv/bin/python benchmarks/round_time.py [--rounds 10] [--threads 1]          # ML-100K rating, 943 clients
    .venv/bin/python benchmarks/round_time.py --config examples/ml1m_ranking.yaml \\
        --set data.name=ml-1m-derived --rounds 2 --no-sequential                  # ML-1M ranking, 6,040 clients
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from fedrec.algorithms.fedavg import FedAvg
from fedrec.config import load_config
from fedrec.experiment.build import build_task, load_task_data


def time_rounds(config_path: Path | None, overrides: list[str], execution: str, rounds: int) -> tuple[list[float], int]:
    config = load_config(config_path, [*overrides, f"federation.execution={execution}"])
    data = load_task_data(config)
    ids = np.arange(1, data.train.num_users + 1)
    task = build_task(config, data, ids)
    model, fedavg, seconds = task.initial_model(), FedAvg(), []
    for r in range(1, rounds + 1):
        start = time.perf_counter()
        model = fedavg.aggregate(model, [task.train(ids, model, r)])
        seconds.append(time.perf_counter() - start)
    return seconds, len(ids)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=None)
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--no-sequential", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cohort, clients = time_rounds(args.config, args.overrides, "cohort", args.rounds)
    c = statistics.median(cohort)
    print(f"threads={args.threads}; a round = {clients} clients x their local epochs (train + FedAvg)")
    print(f"cohort path:     median {c:.3f} s/round over {args.rounds} rounds ({1000 * c / clients:.3f} ms per client)")
    if not args.no_sequential:
        s = time_rounds(args.config, args.overrides, "sequential", 1)[0][0]
        print(f"sequential path: {s:.3f} s/round ({1000 * s / clients:.2f} ms per client update)")
        print(f"speed-up of the cohort path: {s / c:.0f}x")


if __name__ == "__main__":
    main()
