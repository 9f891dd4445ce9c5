"""Figures of the general and graph tasks: federated, each client alone ("local") and pooled ("global").

    .venv/bin/python benchmarks/general.py graphs                # Cora, CiteSeer; Louvain and random splits
    .venv/bin/python benchmarks/general.py fmnist [--rounds 200] # Dirichlet 0.5 and 0.1: rounds/time to 0.85
    .venv/bin/python benchmarks/general.py adult                 # natural split beside the pooled model

Each line is one run of an example config through ``fedrec run``'s code path (run folders go under
benchmarks/results/); seconds per round are wall-clock, evaluation included, one torch thread.
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


def run(example: str, overrides: list[str], label: str) -> dict[str, Any]:
    config = load_config(EXAMPLES / example, overrides)
    outcome = execute(config, RESULTS / f"{STAMP}-{label.replace(' ', '-')}", quiet=True)
    return {"summary": outcome.summary, "history": outcome.history}


def line(label: str, result: dict[str, Any], extra: str = "") -> None:
    s = result["summary"]
    m = s["metrics"]
    timing = (
        f"{s['wall_time_s'] / s['rounds']:.3f} s/round" if s["mode"] == "federated" else f"{s['wall_time_s']:.1f} s"
    )
    print(f"{label:34s} acc={m['test_accuracy']:.4f}  macro-F1={m['test_macro_f1']:.4f}  {timing}  {extra}")


def graphs(_: argparse.Namespace) -> None:
    for name in ("cora", "citeseer"):
        for split in ("louvain", "random"):
            for mode in ("federated", "local", "centralized"):
                label = f"{name} {split} {mode if mode != 'centralized' else 'global'}"
                line(label, run(f"{name}_gcn_louvain.yaml", [f"split.kind={split}", f"mode={mode}"], label))


def reached(history: list[dict[str, Any]], target: float) -> str:
    for h in history:
        if h["test_accuracy"] >= target:
            return f"reached {target} at round {h['round']} after {h['wall_time_s']:.0f} s"
    best = max(h["test_accuracy"] for h in history)
    return f"did not reach {target} (best {best:.4f})"


def fmnist(args: argparse.Namespace) -> None:
    for alpha in (0.5, 0.1):
        label = f"fmnist dirichlet {alpha}"
        sets = [f"split.alpha={alpha}", f"rounds={args.rounds}", "federation.eval_every=5"]
        result = run("fmnist_cnn_dirichlet.yaml", sets, label)
        line(f"{label} federated", result, reached(result["history"], args.target))
    line("fmnist global", run("fmnist_cnn_dirichlet.yaml", ["mode=centralized"], "fmnist global"))


def adult(_: argparse.Namespace) -> None:
    for mode in ("federated", "local", "centralized"):
        label = f"adult natural {mode if mode != 'centralized' else 'global'}"
        line(label, run("adult_natural.yaml", [f"mode={mode}"], label))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("suite", choices=["graphs", "fmnist", "adult"])
    parser.add_argument("--rounds", type=int, default=200, help="fmnist: rounds of each federated run")
    parser.add_argument("--target", type=float, default=0.85, help="fmnist: the accuracy to time")
    args = parser.parse_args()
    torch.set_num_threads(1)
    {"graphs": graphs, "fmnist": fmnist, "adult": adult}[args.suite](args)


if __name__ == "__main__":
    main()
