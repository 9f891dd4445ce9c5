"""Ranking figures: federated MF (BPR) beside the centralized model and a popularity baseline.

    .venv/bin/python benchmarks/ranking.py --config examples/ml100k_ranking.yaml [--set key=value ...]
    .venv/bin/python benchmarks/ranking.py --config examples/ml1m_ranking.yaml --set data.name=ml-1m-derived
    .venv/bin/python benchmarks/ranking.py --config examples/ml100k_ranking.yaml --set rounds=30 \
        --set ranking.cold_start_users=0.1 --modes federated      # the cold-start figures

Prints HR@10/NDCG@10 (leave-one-out, 99 sampled negatives), Recall@20/NDCG@20 (all unseen items) and
seconds per federated round, over the users who have a training interaction (as the task evaluates them);
with ``ranking.cold_start_users``, also the held-out users' figures. Run folders go under benchmarks/results/.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from fedrec.config import load_config
from fedrec.experiment.runner import execute
from fedrec.experiment.task_specs.ranking import load_implicit
from fedrec.tasks.ranking.metrics import hit, ndcg, rank_of_first

RESULTS = Path(__file__).parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--modes", default="federated,centralized")
    args = parser.parse_args()
    torch.set_num_threads(1)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    config = load_config(args.config, args.overrides)
    loo = load_implicit(config)
    evaluated = np.bincount(loo.train.users, minlength=loo.train.num_users) > 0  # as the task: users who train
    popularity = torch.from_numpy(np.bincount(loo.train.items, minlength=loo.train.num_items)).double()
    candidates = np.column_stack([loo.test_items, loo.eval_negatives])[evaluated]
    rank = rank_of_first(popularity[torch.from_numpy(candidates)])
    print(f"{config.data.name}: {loo.train.num_users} clients, {int(evaluated.sum())} evaluated (the others have no "
          f"training interaction); held-out item by {'time' if loo.by_time else 'chance'}")  # fmt: skip
    print(f"popularity   hr@10={float(hit(rank, 10).mean()):.4f}  ndcg@10={float(ndcg(rank, 10).mean()):.4f}")
    for mode in args.modes.split(","):
        run_config = load_config(args.config, [*args.overrides, f"mode={mode}"])
        outcome = execute(run_config, RESULTS / f"{stamp}-{config.data.name}-ranking-{mode}", quiet=True)
        s, m = outcome.summary, outcome.summary["metrics"]
        per_round = s["wall_time_s"] / s["rounds"]
        print(
            f"{mode:11s}  hr@10={m['hr@10']:.4f}  ndcg@10={m['ndcg@10']:.4f}  recall@20={m['recall@20']:.4f}  "
            f"ndcg@20={m['ndcg@20']:.4f}  rounds={s['rounds']}  {per_round:.2f} s/round incl. evaluation"
        )
        if "cold_hr@10" in m:
            print(f"{'':11s}  users held out of training (cold start): cold_hr@10={m['cold_hr@10']:.4f}  "
                  f"cold_ndcg@10={m['cold_ndcg@10']:.4f}")  # fmt: skip


if __name__ == "__main__":
    main()
