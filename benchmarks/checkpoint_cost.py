"""What checkpointing a simulation after every round costs: the share of a run's wall time spent writing
``checkpoint/simulation.pt`` (the server's state, every client's private state, the messages in flight).

    .venv/bin/python benchmarks/checkpoint_cost.py [--rounds 20] [--set data.name=ml-1m-derived ...]

Both figures come from the same run, so the share holds on a busy machine too.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

import fedrec.experiment.checkpoint as checkpoint
from fedrec.config import load_config
from fedrec.experiment.runner import execute

RESULTS = Path(__file__).parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args()
    torch.set_num_threads(1)
    spent, saves = [0.0], [0]
    save = checkpoint.SimulationCheckpointer.save

    def timed(self: checkpoint.SimulationCheckpointer) -> None:
        started = time.perf_counter()
        save(self)
        spent[0] += time.perf_counter() - started
        saves[0] += 1

    checkpoint.SimulationCheckpointer.save = timed  # type: ignore[method-assign]
    config = load_config(overrides=[f"rounds={args.rounds}", *args.overrides])
    started = time.perf_counter()
    folder = RESULTS / f"{time.strftime('%Y%m%d-%H%M%S')}-checkpoint-cost"
    execute(config, folder, quiet=True)
    total = time.perf_counter() - started
    size = (folder / checkpoint.SIMULATION_STATE).stat().st_size / 2**20
    print(f"{config.data.name}: {args.rounds} rounds in {total:.2f} s; {saves[0]} checkpoints of {size:.1f} MiB "
          f"took {spent[0]:.2f} s, {spent[0] / total:.1%} of the run")  # fmt: skip


if __name__ == "__main__":
    main()
