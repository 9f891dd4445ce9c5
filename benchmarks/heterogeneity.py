"""Figures of the heterogeneity issue: algorithms for non-IID clients, and slow devices in virtual time.

    .venv/bin/python benchmarks/heterogeneity.py algorithms [--rounds 100]
        Fashion-MNIST, 100 clients with Dirichlet(0.1) label skew, 10 a round, small CNN, plain local SGD:
        test accuracy after a fixed budget of rounds for FedAvg, FedProx, FedAdam and SCAFFOLD.
    .venv/bin/python benchmarks/heterogeneity.py systems
        MovieLens-100K on devices whose speeds differ tenfold (log-normal): virtual time to test RMSE 0.93
        and final RMSE for synchronous FedAvg waiting for all, deadline + over-selection, and FedBuff.

Every run goes through ``fedrec run``'s code path (run folders under benchmarks/results/); a PNG of the
accuracy curves is saved beside them (``pip install .[bench]`` for matplotlib).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import torch

from fedrec.config import load_config
from fedrec.experiment.runner import execute

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
RESULTS = Path(__file__).parent / "results"
STAMP = time.strftime("%Y%m%d-%H%M%S")

NON_IID = ["split.alpha=0.1", "train.momentum=0", "train.epochs=2", "federation.eval_every=5"]
WAIT_FOR_ALL = ["federation.clients_per_round=null", "federation.over_selection=0", "federation.deadline_s=null"]
ALGORITHMS = {
    "FedAvg": [],
    "FedProx (mu 0.01)": ["federation.algorithm=fedprox", "federation.proximal_mu=0.01"],
    "FedAdam (server lr 0.01)": ["federation.server_optimizer=adam", "federation.server_lr=0.01"],
    "SCAFFOLD": ["federation.algorithm=scaffold"],
}


def run(example: str, overrides: list[str], label: str) -> dict[str, Any]:
    config = load_config(EXAMPLES / example, overrides)
    slug = "".join(c if c.isalnum() else "-" for c in label)
    outcome = execute(config, RESULTS / f"{STAMP}-{slug}", quiet=True)
    return {"summary": outcome.summary, "history": outcome.history}


def algorithms(args: argparse.Namespace) -> None:
    curves = {}
    for label, extra in ALGORITHMS.items():
        result = run("fmnist_cnn_dirichlet.yaml", [*NON_IID, f"rounds={args.rounds}", *extra], label)
        s, history = result["summary"], result["history"]
        best = max(h["test_accuracy"] for h in history)
        print(
            f"{label:26s} acc={s['metrics']['test_accuracy']:.4f} after {s['rounds']} rounds  best={best:.4f}  "
            f"{s['wall_time_s'] / s['rounds']:.2f} s/round",
            flush=True,
        )
        curves[label] = [(h["round"], h["test_accuracy"]) for h in history]
    plot(curves, "round", "test accuracy", "Fashion-MNIST, Dirichlet(0.1), 100 clients", "fmnist_alpha0.1")


SYSTEMS = {
    "sync, wait for all 943": ("ml100k_sync_deadline.yaml", [*WAIT_FOR_ALL, "rounds=100", "federation.eval_every=2"]),
    "sync, deadline + over-selection": ("ml100k_sync_deadline.yaml", ["federation.eval_every=5"]),
    "FedBuff": ("ml100k_fedbuff.yaml", ["federation.eval_every=15"]),
}


def systems(args: argparse.Namespace) -> None:
    curves = {}
    for label, (example, extra) in SYSTEMS.items():
        result = run(example, extra, label)
        s, history = result["summary"], result["history"]
        first = next((h for h in history if h["test_rmse"] <= args.target), None)
        when = f"{first['virtual_time_s']:8.1f} s (round {first['round']})" if first else "never"
        p = s["participation"]
        print(
            f"{label:32s} to RMSE {args.target}: {when}  final RMSE {s['metrics']['test_rmse']:.4f} after "
            f"{s['rounds']} rounds, {s['virtual_time_s']:.0f} s virtual  aggregated {p['aggregated']} "
            f"late {p['late']} staleness {p['staleness_mean']:.2f}  wall {s['wall_time_s']:.0f} s",
            flush=True,
        )
        curves[label] = [(h["virtual_time_s"], h["test_rmse"]) for h in history]
    plot(curves, "virtual time (s)", "test RMSE", "MovieLens-100K, log-normal device speeds", "ml100k_systems")


def plot(curves: dict[str, list[tuple[float, float]]], xlabel: str, ylabel: str, title: str, name: str) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed (pip install .[bench]); no plot written")
        return
    figure, axes = plt.subplots(figsize=(6, 4))
    for label, points in curves.items():
        axes.plot([p[0] for p in points], [p[1] for p in points], label=label)
    axes.set(xlabel=xlabel, ylabel=ylabel, title=title)
    axes.legend()
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{STAMP}-{name}.png"
    figure.savefig(path, dpi=120, bbox_inches="tight")
    print(f"plot: {path}")


def main() -> None:
    torch.set_num_threads(1)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("suite", choices=["algorithms", "systems"])
    parser.add_argument("--rounds", type=int, default=100, help="algorithms: rounds of each run")
    parser.add_argument("--target", type=float, default=0.93, help="systems: the test RMSE to reach")
    args = parser.parse_args()
    {"algorithms": algorithms, "systems": systems}[args.suite](args)


if __name__ == "__main__":
    main()
