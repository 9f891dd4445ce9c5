"""Test RMSE of the default federated job on ML-100K and of the centralized baseline on the same split.

    .venv/bin/python benchmarks/ml100k_rmse.py [--set key=value ...]

Runs both through ``fedrec.experiment.runner.execute`` (the code behind ``fedrec run``), writing run
folders under benchmarks/results/.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from fedrec.config import load_config
from fedrec.experiment.runner import execute

RESULTS = Path(__file__).parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args()
    torch.set_num_threads(1)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for mode in ("federated", "centralized"):
        config = load_config(overrides=[*args.overrides, f"mode={mode}"])
        outcome = execute(config, RESULTS / f"{stamp}-ml100k-{mode}", quiet=True)
        s = outcome.summary
        best = min(h["test_rmse"] for h in outcome.history)
        print(
            f"{mode:11s} rounds={s['rounds']:4d}  test_rmse={s['metrics']['test_rmse']:.4f}  "
            f"test_mae={s['metrics']['test_mae']:.4f}  best_rmse={best:.4f}  wall={s['wall_time_s']:.1f}s  "
            f"bytes_up={s['bytes_up']:,}  bytes_down={s['bytes_down']:,}"
        )


if __name__ == "__main__":
    main()
