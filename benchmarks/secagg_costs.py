"""Secure aggregation's cost model against the stopwatch: the seconds per primitive operation that
``fedrec.privacy.secagg.costs.SecAggCosts`` assumes, next to what they take on this machine.

    .venv/bin/python benchmarks/secagg_costs.py

Virtual time in a secure run comes from the model (so a seeded run gives the same ``virtual_time_s`` on any
machine); this script says how far the model's defaults are from this machine's measurements.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from fedrec.privacy.secagg import crypto
from fedrec.privacy.secagg.costs import SecAggCosts


def per_call(step: Callable[[], object], repeats: int) -> float:
    started = time.perf_counter()
    for _ in range(repeats):
        step()
    return (time.perf_counter() - started) / repeats


def main() -> None:
    model = SecAggCosts()
    own, peer = crypto.new_private_key(), crypto.public_bytes(crypto.new_private_key())
    key, seed = crypto.random_seed(), crypto.random_seed()
    sealed = crypto.seal(key, bytes(80), b"ad")
    n, t, words = 100, 51, 1_000_000
    measured = {
        "key_pair_s": per_call(crypto.new_private_key, 2000),
        "agreement_s": per_call(lambda: crypto.agree(own, peer, b"label"), 2000),
        "seal_s": (
            per_call(lambda: crypto.seal(key, bytes(80), b"ad"), 5000)
            + per_call(lambda: crypto.unseal(key, sealed, b"ad"), 5000)
        )
        / 2,  # fmt: skip
        "share_term_s": per_call(lambda: crypto.share_secret(seed, list(range(1, n + 1)), t), 20) / (n * t),
        "prg_word_s": per_call(lambda: crypto.prg(seed, words), 20) / words,
    }
    print(f"{'operation':<14} {'model (s)':>11} {'measured (s)':>13} {'measured/model':>15}")
    for name, seconds in measured.items():
        assumed = getattr(model, name)
        print(f"{name:<14} {assumed:>11.2e} {seconds:>13.2e} {seconds / assumed:>15.2f}")


if __name__ == "__main__":
    main()
