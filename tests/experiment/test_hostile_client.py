"""A hostile client process over real gRPC that sends an update over the server's message limit: its stream is
refused and the run is unharmed (the other malformed updates: ``tests/adversarial``)."""

from __future__ import annotations

import json
import math
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml

import fedrec.transport.grpc_client as grpc_client
from fedrec.config import build_config
from fedrec.experiment.client_training import local_training, mf_shape
from fedrec.experiment.task_specs.rating import load_split
from fedrec.payloads import ClientUpdates, RowDeltas
from fedrec.runtime.client_host import ClientHost
from fedrec.tasks.rating.task import RatingTask
from fedrec.transport.grpc_client import Backoff, GrpcClientTransport
from fedrec.transport.grpc_common import WireOptions
from tests.experiment.processes import finish, free_port, history, start, wait_for


def corrupt(update: ClientUpdates, how: str) -> ClientUpdates:
    rows, dense = update.rows, dict(update.dense)
    values, index = dict(rows.values), rows.index.clone()
    if how == "nan":
        values["item_emb"] = values["item_emb"].clone()
        values["item_emb"][0, 0] = float("nan")
    elif how == "shape":
        dense["global_bias"] = torch.zeros(len(update.client_ids), 3)
    elif how == "index":
        index[0] = 10**6
    elif how == "oversized":
        big = 40_000
        owner = torch.zeros(big, dtype=torch.int64)
        return ClientUpdates(
            update.client_ids,
            update.num_examples,
            dense,
            RowDeltas(
                owner,
                torch.arange(big),
                torch.ones(big),
                {"item_emb": torch.zeros(big, 32), "item_bias": torch.zeros(big)},
            ),
        )
    return ClientUpdates(
        update.client_ids, update.num_examples, dense, RowDeltas(rows.owner, index, rows.weight, values)
    )


class RogueTask:
    def __init__(self, inner: RatingTask, how: str) -> None:
        self.inner, self.how = inner, how

    def num_examples(self, ids: np.ndarray) -> np.ndarray:
        return self.inner.num_examples(ids)

    def evaluate(self, ids: np.ndarray, model: Any) -> Any:
        return self.inner.evaluate(ids, model)

    def train(self, ids: np.ndarray, model: Any, round_index: int) -> ClientUpdates:
        return corrupt(self.inner.train(ids, model, round_index), self.how)


@pytest.mark.parametrize("how", ["oversized"])  # NaN, shapes, indices...: tests/adversarial/test_updates.py
def test_malformed_updates_are_rejected_and_the_run_finishes(tmp_path: Path, how: str, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(
        grpc_client, "_send", lambda outbox, data, limit, message: outbox.put(data)
    )  # no self-restraint
    port, out, log = free_port(), tmp_path / "run", tmp_path / "log.txt"
    sets = ["--set", "rounds=2", "--set", "distributed.min_clients=50", "--set", "distributed.max_message_mb=1"]
    server = start("server", "--listen", f"127.0.0.1:{port}", "--out", str(out), *sets, log=log)
    honest = start("client", "--server", f"127.0.0.1:{port}", "--clients", "6-50", log=log)
    wait_for(lambda: "listening on" in log.read_text(), what="the server to listen")  # the rogue gives up fast
    rogue_ids = np.arange(1, 6)

    def build_host(welcome: dict[str, str]) -> ClientHost:
        config = build_config(yaml.safe_load(welcome["config"]))
        task = RatingTask(load_split(config), rogue_ids, mf_shape(config), local_training(config), "cohort")
        return ClientHost(rogue_ids, RogueTask(task, how))

    rogue = GrpcClientTransport(
        f"127.0.0.1:{port}",
        rogue_ids,
        {"tasks": "rating"},
        build_host,
        WireOptions(),
        backoff=Backoff(first_s=0.2, max_s=0.5, give_up_after_s=3),
    )
    thread = threading.Thread(target=lambda: _quietly(rogue.run), daemon=True)
    thread.start()
    assert finish([server, honest]) == [0, 0], log.read_text()[-3000:]
    thread.join(timeout=10)
    summary = json.loads((out / "summary.json").read_text())
    assert math.isfinite(summary["metrics"]["test_rmse"]) and summary["metrics"]["test_rmse"] < 1.5
    rounds = history(out)
    assert [h["round"] for h in rounds] == [1, 2]
    if how == "oversized":
        assert all(h["participants"] == 45 for h in rounds), "only the honest clients' updates were aggregated"
        return
    reason, refused = REFUSED[how]  # per round: the client at fault, or all five for a malformed message
    assert all(h["participants"] == 50 - refused for h in rounds), "only the faulty clients' updates were lost"
    assert summary["rejected_updates"] == {"total": 2 * refused, "by_reason": {reason: 2 * refused}}
    assert "refused" in log.read_text()


REFUSED = {"nan": ("non_finite", 1), "index": ("row_outside_table", 1), "shape": ("malformed", 5)}


def _quietly(run) -> None:  # type: ignore[no-untyped-def]
    try:
        run()
    except Exception:  # the rogue's fate is not under test
        pass
