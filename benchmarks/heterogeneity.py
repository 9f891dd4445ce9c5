"""Figures of the heterogeneity issue: algorithms for non-IID clients, and slow devices in virtual time.

    .venv/bin/python benchmarks/heterogeneity.py algorithms [--rounds 100]
        Fashion-MNIST, 100 clients with Dirichlet(0.1) label skew, 10 a round, small CNN, plain local SGD:
        test accuracy after a fixed budget of rounds for FedAvg, FedProx, FedAdam and SCAFFOLD, and for
        FedAvg with a personal head, and Ditto's personal models (each client tested on its own label mix).
    .venv/bin/python benchmarks/heterogeneity.py systems
        MovieLens-100K on devices whose speeds differ tenfold (log-normal): virtual time to test RMSE 0.93
        and final RMSE for synchronous FedAvg waiting for all, deadline + over-selection, and FedBuff.
    .venv/bin/python benchmarks/heterogeneity.py personalization
        MovieLens-100K: per-user test RMSE (mean, 90th percentile, mean of the worst decile) of the global
        model and after each user fine-tunes a personal copy on its own ratings, for the default job and
        for FedBuff on heterogeneous devices (where slow users train rarely).

Every run goes through ``fedrec run``'s code path (run folders under benchmarks/results/); a PNG of the
accuracy curves is saved beside them (``pip install .[bench]`` for matplotlib).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fedrec.config import load_config
from fedrec.experiment.build import load_task_data
from fedrec.experiment.runner import execute
from fedrec.experiment.simulation import run_simulation

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
RESULTS = Path(__file__).parent / "results"
STAMP = time.strftime("%Y%m%d-%H%M%S")

NON_IID = ["split.alpha=0.1", "train.momentum=0", "train.epochs=2", "federation.eval_every=5"]
# the convex case: logistic regression, 5 local epochs of SGD at lr 0.01, where client drift is easy to see
CONVEX = ["model.classifier=logreg", "train.epochs=5", "train.lr=0.01"]
WAIT_FOR_ALL = [
    "federation.clients_per_round=null",
    "federation.policy.over_selection=0",
    "federation.policy.deadline_s=null",
]
ALGORITHMS = {
    "FedAvg": [],
    "FedProx (mu 0.01)": ["federation.algorithm=fedprox", "federation.algorithm.mu=0.01"],
    "FedAdam (server lr 0.01)": ["federation.server_optimizer=adam", "federation.server_optimizer.lr=0.01"],
    "SCAFFOLD": ["federation.algorithm=scaffold"],
    "FedAvg + personal head": ["federation.local_layers=[7]"],  # the CNN's last layer stays on each client
    "FedAvg + Ditto (lambda 0.1)": ["federation.ditto_lambda=0.1"],
}


def run(example: str, overrides: list[str], label: str) -> dict[str, Any]:
    config = load_config(EXAMPLES / example, overrides)
    slug = "".join(c if c.isalnum() else "-" for c in label)
    outcome = execute(config, RESULTS / f"{STAMP}-{slug}", quiet=True)
    return {"summary": outcome.summary, "history": outcome.history}


def algorithms(args: argparse.Namespace) -> None:
    curves = {}
    for label, extra in ALGORITHMS.items():
        if (args.only and args.only not in label) or (args.model == "logreg" and "personal head" in label):
            continue  # logistic regression has one layer: a personal head would be the whole model
        model = CONVEX if args.model == "logreg" else []
        result = run("fmnist_cnn_dirichlet.yaml", [*NON_IID, *model, f"rounds={args.rounds}", *extra], label)
        s, history = result["summary"], result["history"]
        best = max(h["test_accuracy"] for h in history)
        personal = s["metrics"].get("personal_accuracy")
        mine = f"  personal models acc={personal:.4f}" if personal is not None else ""
        print(
            f"{label:28s} acc={s['metrics']['test_accuracy']:.4f} after {s['rounds']} rounds  best={best:.4f}  "
            f"{s['wall_time_s'] / s['rounds']:.2f} s/round{mine}",
            flush=True,
        )
        curves[label] = [(h["round"], h["test_accuracy"]) for h in history]
    title = f"Fashion-MNIST, Dirichlet(0.1), 100 clients, {args.model}"
    plot(curves, "round", "test accuracy", title, f"fmnist_alpha0.1_{args.model}")


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


def per_user_rmse(sse: np.ndarray, count: np.ndarray) -> str:
    rmse = np.sqrt(sse[count > 0] / count[count > 0])
    worst = np.sort(rmse)[-max(1, len(rmse) // 10) :]
    return f"mean {rmse.mean():.4f}  p90 {np.percentile(rmse, 90):.4f}  worst decile {worst.mean():.4f}"


def personalization(args: argparse.Namespace) -> None:
    jobs = {"default job (100 rounds)": (EXAMPLES / "ml100k_fedmf.yaml", []), "FedBuff, log-normal devices":
            (EXAMPLES / "ml100k_fedbuff.yaml", [])}  # fmt: skip
    for label, (example, extra) in jobs.items():
        config = load_config(example, extra)
        result = run_simulation(config, load_task_data(config))
        task = result.task
        ids = task.client_ids
        for epochs in (0, *args.finetune):
            task.finetune_epochs = epochs
            sums = task.evaluate(ids, result.model).sums
            key = "ft_sse" if epochs else "sse"
            figures = per_user_rmse(sums[key].numpy(), sums["count"].numpy())
            name = "global model" if not epochs else f"fine-tuned {epochs} epochs"
            print(f"{label:28s} {name:22s} per-user RMSE {figures}", flush=True)


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
    parser.add_argument("suite", choices=["algorithms", "systems", "personalization"])
    parser.add_argument("--finetune", type=int, nargs="*", default=[1, 3, 10], help="personalization: epochs")
    parser.add_argument("--rounds", type=int, default=100, help="algorithms: rounds of each run")
    parser.add_argument("--model", choices=["cnn", "logreg"], default="cnn", help="algorithms: the classifier")
    parser.add_argument("--only", default="", help="algorithms: run only those whose label contains this")
    parser.add_argument("--target", type=float, default=0.93, help="systems: the test RMSE to reach")
    args = parser.parse_args()
    {"algorithms": algorithms, "systems": systems, "personalization": personalization}[args.suite](args)


if __name__ == "__main__":
    main()
