"""Kinds 4 and 5 over real gRPC between real processes: streams that never say hello, a hello too large to
read, messages no client may send, a client that joins and never answers, every client gone at once."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import numpy as np
import torch

from fedrec.runtime.message import SERVER, Message, MessageKind
from fedrec.runtime.protocols import JoinInfo
from fedrec.runtime.server import SILENT_STEPS
from fedrec.transport.grpc_common import REFUSED, WELCOME
from fedrec.transport.grpc_server import MAX_UNGREETED
from tests.adversarial.arena import HOSTILE, baseline
from tests.adversarial.wire_client import RawClient
from tests.experiment.processes import finish, free_port, history, start, wait_for


def test_a_cluster_survives_a_hostile_process_and_ends_with_the_model_of_its_honest_clients(tmp_path: Path) -> None:
    port, out, log = free_port(), tmp_path / "run", tmp_path / "log.txt"
    address = f"127.0.0.1:{port}"
    # the reply timeout must not catch the honest process on a busy machine
    sets = ["rounds=2", "train.epochs=1", "distributed.min_clients=940", "distributed.reply_timeout_s=2.5"]
    server = start("server", "--listen", address, "--out", str(out), *[a for s in sets for a in ("--set", s)], log=log)
    wait_for(lambda: "listening on" in log.read_text(), what="the server to listen")
    mute = [RawClient(address) for _ in range(MAX_UNGREETED + 8)]  # more streams than may wait for a hello
    wait_for(lambda: log.read_text().count("waited longest to say hello") >= 8, what="the flood to be thinned")

    huge = RawClient(address)  # 10 million ids: refused before they are read
    refused = huge.hello(np.arange(1, 10_000_001))
    assert refused is not None and refused.kind == REFUSED and "under 8 MiB" in refused.meta["reason"]

    hostile = RawClient(address)
    welcome = hostile.hello(HOSTILE)
    assert welcome is not None and welcome.kind == WELCOME
    ids = tuple(HOSTILE.tolist())
    hostile.send(Message(MessageKind.JOIN, ids, SERVER, 0, JoinInfo(HOSTILE, np.array([20, 20, 20])), 0.0))
    honest = start("client", "--server", address, "--clients", "1-940", log=log)  # let in despite the flood
    for kind in (MessageKind.TRAIN, MessageKind.FINISH, MessageKind.DEADLINE):
        hostile.send(Message(kind, ids, SERVER, 1, None, 0.0))
    hostile.send(b"\x00garbage")
    # the hostile process then never answers: each step closes once its reply timeout has passed

    assert finish([server, honest]) == [0, 0], log.read_text()[-3000:]
    for client in [*mute, huge, hostile]:
        client.close()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "finished" and [h["round"] for h in history(out)] == [1, 2]
    assert summary["rejected_messages"]["by_reason"] == {"malformed": 1, "unexpected_kind": 3}
    assert summary["participation"]["timed_out"] == SILENT_STEPS * len(HOSTILE)  # then dropped from the run
    saved = torch.load(out / "checkpoint" / "server.pt", weights_only=True)
    expected = baseline(first=MessageKind.JOIN).params  # the simulation of the honest clients alone
    assert all(torch.equal(saved[name], value) for name, value in expected.items())
    text = log.read_text()
    assert "a hello must be under 8 MiB" in text and "dropped from the run" in text


def test_every_client_gone_the_server_waits_then_stops_resumably(tmp_path: Path) -> None:
    port, out, log = free_port(), tmp_path / "run", tmp_path / "log.txt"
    address = f"127.0.0.1:{port}"
    sets = ["rounds=30", "federation.clients_per_round=50", "distributed.rejoin_wait_s=2"]
    server = start("server", "--listen", address, "--out", str(out), *[a for s in sets for a in ("--set", s)], log=log)
    client = start("client", "--server", address, "--clients", "1-943", log=log)
    wait_for(lambda: len(history(out)) >= 2, what="round 2")
    client.send_signal(signal.SIGKILL)
    client.wait()
    assert finish([server]) == [0], log.read_text()[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    done = summary["rounds"]
    assert summary["status"] == "stopped" and done < 30
    assert summary["stopped"] == f"every client left after round {done} of 30 and none came back"
    assert "distributed run stopped early" in log.read_text()
    evaluated = [h["round"] for h in history(out)]  # no round passed with nobody; the last one's evaluation
    assert evaluated in (list(range(1, done + 1)), list(range(1, done)))  # may have been cut off by the kill

    resumed = start("server", "--listen", address, "--resume", str(out), log=log)
    client = start("client", "--server", address, "--clients", "1-943", log=log)
    assert finish([resumed, client]) == [0, 0], log.read_text()[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "finished" and [h["round"] for h in history(out)] == list(range(1, 31))
    assert summary["resumed_from_round"] == done
