"""Seconds per simulated round on ML-100K with every one of the 943 clients training one local epoch.

Prints the cohort path (batched tensor operations) and the sequential path (one client at a time, autograd
and torch.optim) for the same round, and the per-client cost of each.

    .venv/bin/python benchmarks/round_time.py [--rounds 10] [--threads 1]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from fedrec.algorithms.fedavg import FedAvg
from fedrec.config import load_config
from fedrec.experiment.parts import load_split, local_training, mf_shape
from fedrec.tasks.rating import RatingTask


def time_rounds(execution: str, rounds: int) -> list[float]:
    config = load_config()
    split = load_split(config)
    ids = np.arange(1, split.train.num_users + 1)
    task = RatingTask(split, ids, mf_shape(config), local_training(config), execution)  # type: ignore[arg-type]
    model, fedavg, seconds = task.initial_model(), FedAvg(), []
    for r in range(1, rounds + 1):
        start = time.perf_counter()
        model = fedavg.aggregate(model, [task.train(ids, model, r)])
        seconds.append(time.perf_counter() - start)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cohort = time_rounds("cohort", args.rounds)
    sequential = time_rounds("sequential", 1)
    c, s = statistics.median(cohort), sequential[0]
    print(f"threads={args.threads}; a round = 943 clients x 1 local epoch (train + FedAvg)")
    print(
        f"cohort path:     median {c:.3f} s/round over {args.rounds} rounds ({1000 * c / 943:.3f} ms per client update)"
    )
    print(f"sequential path: {s:.3f} s/round ({1000 * s / 943:.2f} ms per client update)")
    print(f"speed-up of the cohort path: {s / c:.0f}x")


if __name__ == "__main__":
    main()
