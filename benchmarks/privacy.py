"""Figures of the privacy issue: the leakage audit, secure aggregation's cost, and DP's accuracy curve.

.venv/bin/python benchmarks/privacy.py audit
    MovieLens-100K, 100 clients, one round of uploads after the default job's 100 rounds: precision and
    recall of the rated-item inference attack against plain FedMF, pseudo-items (x1, x4), local DP
    and secure aggregation, the bytes each upload costs, and the test RMSE each protection costs over a
    whole run (100 rounds, 100 clients a round).
.venv/bin/python benchmarks/privacy.py secagg
    MovieLens-100K, 100 clients a round: round time of plain FedAvg and of secure aggregation (virtual
    time: devices at 2 MB/s with their measured cryptography; and this machine's wall time, where one core
    does every client's cryptography), with 0% and 30% dropping out after masking; and the exactness of
    the recovered sum over the model's full vector.
.venv/bin/python benchmarks/privacy.py dp-curve [--rounds 100]
    MovieLens-1M (the mirror's derived copy), user-level DP-FedAvg at q = 0.1 and the default delta
    (1e-5): test RMSE against epsilon for several noise multipliers, beside the run without DP. Each epsilon
    is checked against a direct dp-accounting computation from the summary's privacy block.
.venv/bin/python benchmarks/privacy.py example
    examples/ml100k_dp.yaml as it is (noise multiplier 1), and with target_epsilon 4 instead: the final test
    RMSE, the epsilon spent at the default delta, and the noise multiplier the run computed.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import dp_accounting
import numpy as np
import torch
from dp_accounting import rdp
from heterogeneity import plot

from fedrec.config import load_config
from fedrec.experiment.audit import AuditSettings, audit_run
from fedrec.experiment.build import build_task
from fedrec.experiment.runner import execute
from fedrec.experiment.task_specs.rating import load_split
from fedrec.privacy.secagg.encoding import SecureEncoding
from fedrec.privacy.secagg.rehearsal import rehearse

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
RESULTS = Path(__file__).parent / "results"
STAMP = time.strftime("%Y%m%d-%H%M%S")
COHORT = ["federation.clients_per_round=100"]


def run(example: str, overrides: list[str], label: str) -> dict[str, Any]:
    config = load_config(EXAMPLES / example, overrides)
    slug = "".join(c if c.isalnum() else "-" for c in label)
    outcome = execute(config, RESULTS / f"{STAMP}-{slug}", quiet=True)
    return {"summary": outcome.summary, "history": outcome.history, "folder": outcome.folder}


def audit(args: argparse.Namespace) -> None:
    trained = run("ml100k_fedmf.yaml", [], "audit-model")
    rmse = trained["summary"]["metrics"]["test_rmse"]
    print(f"model under attack: the default job after 100 rounds, test RMSE {rmse:.4f}")
    for ratio in (1.0, 4.0):
        results, _ = audit_run(trained["folder"], None, [], AuditSettings(pseudo_items=ratio, local_noise=1.0))
        for name, r in results.items():
            if ratio == 4.0 and not name.startswith("pseudo"):
                continue
            print(f"  {name:22s} precision {r.precision:.3f}  recall {r.recall:.3f}  precision@m {r.precision_at_m:.3f}"
                  f"  (random {r.random_precision:.3f})  upload {r.upload_bytes:,.0f} B")  # fmt: skip
    print("RMSE each protection costs (100 rounds, 100 clients a round):")
    costs = {
        "plain": [],
        "pseudo-items x1": ["privacy.pseudo_items=1.0"],
        "pseudo-items x4": ["privacy.pseudo_items=4.0"],
        "local DP z=1, C=0.5": ["privacy.dp=local", "privacy.dp.noise_multiplier=1.0", "privacy.dp.clip_norm=0.5"],
    }
    for label, extra in costs.items():
        s = run("ml100k_fedmf.yaml", [*COHORT, "federation.eval_every=100", *extra], label)["summary"]
        eps = s.get("privacy", {}).get("epsilon")
        spent = f"  epsilon {eps:.1f} (per upload {s['privacy']['per_upload_epsilon']:.2f})" if eps else ""
        print(
            f"  {label:22s} test RMSE {s['metrics']['test_rmse']:.4f}  up {s['bytes_up'] / 1e6:8.1f} MB{spent}",
            flush=True,
        )


SECAGG_RUNS = {
    "plain FedAvg": [],
    "secure aggregation": ["privacy.secure_aggregation=true"],
    "secure aggregation, 30% drop after masking": [
        "privacy.secure_aggregation=true",
        "privacy.secure_aggregation.dropout=0.3",
    ],
}
DEVICES = {  # the ratio depends on how long a device trains against how long it uploads
    "devices at 20,000 examples/s, 2 MB/s (the default)": [],
    "devices at 2,000 examples/s, 2 MB/s": ["devices.examples_per_s=2000"],
}


def secagg(args: argparse.Namespace) -> None:
    rounds = args.rounds
    common = [*COHORT, f"rounds={rounds}", f"federation.eval_every={rounds}"]
    for device, speed in DEVICES.items():
        print(device)
        base = None
        for label, extra in SECAGG_RUNS.items():
            s = run("ml100k_fedmf.yaml", [*common, *speed, *extra], f"{label} {speed}")["summary"]
            virtual, wall = s["virtual_time_s"] / rounds, s["wall_time_s"] / rounds
            base = base or (virtual, wall)
            print(f"  {label:44s} virtual {virtual:.3f} s/round ({virtual / base[0]:.1f}x)  wall {wall:.3f} s/round "
                  f"({wall / base[1]:.0f}x)  up {s['bytes_up'] / rounds / 100 / 1e3:.0f} kB/client  "
                  f"RMSE {s['metrics']['test_rmse']:.4f}", flush=True)  # fmt: skip
    config = load_config(EXAMPLES / "ml100k_fedmf.yaml")
    model = build_task(config, load_split(config), np.arange(1, 2)).initial_model()
    dim = SecureEncoding().dim(model)
    rng = np.random.default_rng(0)
    vectors = {c: rng.integers(0, 2**64, size=dim, dtype=np.uint64) for c in range(1, 101)}
    dropped = frozenset(rng.choice(np.arange(1, 101), size=30, replace=False).tolist())
    started = time.perf_counter()
    seen = rehearse(vectors, threshold=51, dropped=dropped)
    exact = np.array_equal(seen.total, np.stack([vectors[c] for c in seen.survivors.tolist()]).sum(0, dtype=np.uint64))
    print(f"100 clients, 30 dropped after masking, {dim:,} words each: sum of the 70 survivors exact: {exact} "
          f"({time.perf_counter() - started:.1f} s for every stage of all clients and the server)")  # fmt: skip


def dp_curve(args: argparse.Namespace) -> None:
    common = ["data.name=ml-1m-derived", f"rounds={args.rounds}", "federation.client_fraction=0.1",
              f"federation.eval_every={args.rounds}", "privacy.dp.clip_norm=0.5",
              "federation.server_optimizer.lr=0.03"]  # fmt: skip
    no_dp = ["privacy.dp={kind: none}"]  # no DP: nothing clips
    plain = run("ml100k_dp.yaml", [*common, *no_dp], "ml1m-no-dp")
    print(f"no DP: test RMSE {plain['summary']['metrics']['test_rmse']:.4f}", flush=True)
    points = []
    for z in args.noise:
        s = run("ml100k_dp.yaml", [*common, f"privacy.dp.noise_multiplier={z}"], f"ml1m-dp-z{z}")["summary"]
        p = s["privacy"]
        event = dp_accounting.PoissonSampledDpEvent(
            p["sampling_rate"], dp_accounting.GaussianDpEvent(p["noise_multiplier"])
        )
        direct = rdp.RdpAccountant()
        direct.compose(dp_accounting.SelfComposedDpEvent(event, p["steps"]))
        check = direct.get_epsilon(p["delta"])
        rmse = s["metrics"]["test_rmse"]
        points.append((p["epsilon"], rmse))
        print(f"z={z:<4} epsilon {p['epsilon']:.3f} (dp-accounting directly: {check:.3f})  delta {p['delta']:.3g}  "
              f"q {p['sampling_rate']}  steps {p['steps']}  test RMSE {rmse:.4f}", flush=True)  # fmt: skip
    baseline = plain["summary"]["metrics"]["test_rmse"]
    curves = {"DP-FedAvg": sorted(points), "no DP": [(min(points)[0], baseline), (max(points)[0], baseline)]}
    plot(curves, "epsilon (delta = 1e-5)", "test RMSE", "MovieLens-1M, user-level DP-FedAvg, q = 0.1", "ml1m_dp_curve")


def example(_: argparse.Namespace) -> None:
    target = ["privacy.dp.noise_multiplier=null", "privacy.dp.target_epsilon=4"]
    for label, overrides in (("ml100k_dp.yaml", []), ("the same, target_epsilon 4", target)):
        s = run("ml100k_dp.yaml", overrides, "ml100k-dp" if not overrides else "ml100k-dp-target4")["summary"]
        p = s["privacy"]
        spent = f"epsilon {p['epsilon']:.2f} at delta {p['delta']:.3g}"
        print(f"{label}: test RMSE {s['metrics']['test_rmse']:.4f}  {spent}  noise multiplier "
              f"{p['noise_multiplier']:.3f}  rounds {p['steps']}", flush=True)  # fmt: skip


def main() -> None:
    torch.set_num_threads(1)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="figure", required=True)
    sub.add_parser("audit")
    p = sub.add_parser("secagg")
    p.add_argument("--rounds", type=int, default=5)
    p = sub.add_parser("dp-curve")
    p.add_argument("--rounds", type=int, default=100)
    p.add_argument("--noise", type=float, nargs="+", default=[0.6, 1.0, 1.5, 3.0])
    sub.add_parser("example")
    args = parser.parse_args()
    {"audit": audit, "secagg": secagg, "dp-curve": dp_curve, "example": example}[args.figure](args)


if __name__ == "__main__":
    main()
