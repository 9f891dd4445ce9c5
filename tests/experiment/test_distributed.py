"""The cluster mode with real processes on loopback: no mock of gRPC anywhere."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from fedrec.config import load_config
from fedrec.experiment.runner import execute
from tests.experiment.processes import finish, free_port, history, start, wait_for

RANGES = ["1-300", "301-600", "601-943"]


def _cluster(tmp_path: Path, overrides: list[str], ranges: list[str] = RANGES, server_args: list[str] = ()):  # type: ignore[no-untyped-def, assignment]
    port = free_port()
    out, log = tmp_path / "run", tmp_path / "log.txt"
    sets = [arg for o in overrides for arg in ("--set", o)]
    server = start("server", *server_args, "--listen", f"127.0.0.1:{port}", "--out", str(out), *sets, log=log)
    clients = [start("client", "--server", f"127.0.0.1:{port}", "--clients", r, log=log) for r in ranges]
    return port, out, log, server, clients


def test_cluster_reaches_the_simulations_result(tmp_path: Path) -> None:
    overrides = ["rounds=3"]
    _, out, log, server, clients = _cluster(tmp_path, overrides)
    assert finish([server, *clients]) == [0, 0, 0, 0], log.read_text()[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    simulated = execute(load_config(overrides=overrides), tmp_path / "sim", quiet=True).summary
    assert summary["mode"] == "distributed" and summary["num_clients"] == 943
    assert summary["rejected_updates"]["total"] == 0 and summary["status"] == "finished" and summary["rounds"] == 3
    assert summary["metrics"]["test_rmse"] == pytest.approx(simulated["metrics"]["test_rmse"], abs=1e-6)
    assert [h["round"] for h in history(out)] == [1, 2, 3]
    text = log.read_text()
    assert "client process 3 connected" in text and "round 3: test_rmse=" in text


def test_a_killed_client_process_does_not_stop_the_run(tmp_path: Path) -> None:
    overrides = ["rounds=5", "federation.execution=sequential", "distributed.compression=true"]
    _, out, log, server, clients = _cluster(tmp_path, overrides)
    wait_for(lambda: len(history(out)) >= 1, what="round 1")
    clients[1].send_signal(signal.SIGKILL)
    clients[1].wait()
    codes = finish([server, clients[0], clients[2]])
    assert codes == [0, 0, 0], log.read_text()[-3000:]
    rounds = history(out)
    assert [h["round"] for h in rounds] == [1, 2, 3, 4, 5]
    assert rounds[0]["participants"] == 943 and rounds[-1]["participants"] == 943 - 300
    assert json.loads((out / "summary.json").read_text())["metrics"]["test_rmse"] < rounds[0]["test_rmse"]


def test_wrong_credentials_are_refused(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens.txt"
    tokens.write_text("right-token 1-943\n")
    port, out, log, server, _ = _cluster(tmp_path, ["rounds=1"], ranges=[], server_args=["--tokens", str(tokens)])
    wrong = start("client", "--server", f"127.0.0.1:{port}", "--clients", "1-943", "--token", "guess", log=log)
    assert finish([wrong]) == [2]
    assert "refused this client process: unknown or wrong credential" in log.read_text()
    right = start("client", "--server", f"127.0.0.1:{port}", "--clients", "1-943", "--token", "right-token", log=log)
    assert finish([server, right]) == [0, 0], log.read_text()[-3000:]


def test_tls_with_client_certificates(tmp_path: Path) -> None:
    from fedrec.transport.certs import make_certificates

    certs = tmp_path / "certs"
    make_certificates(certs, ["127.0.0.1"])
    ca_only = tmp_path / "ca-only"
    ca_only.mkdir()
    (ca_only / "ca.pem").write_bytes((certs / "ca.pem").read_bytes())
    port, out, log, server, _ = _cluster(tmp_path, ["rounds=1"], ranges=[], server_args=["--tls", str(certs), "--mtls"])
    address = f"127.0.0.1:{port}"
    # a mismatch no retry can fix ends the client at once, saying what to change (no backoff until --retry-for)
    plaintext = start("client", "--server", address, "--clients", "1-943", "--retry-for", "600", log=log)
    assert finish([plaintext], timeout=60) == [2]
    assert f"the server at {address} requires TLS: pass --tls FOLDER" in log.read_text()
    no_client_cert = start("client", "--server", address, "--clients", "1-943", "--tls", str(ca_only),
                           "--retry-for", "2", log=log)  # fmt: skip
    assert finish([no_client_cert]) == [2]
    assert "could not reach a fedrec server" in log.read_text() or "TLS handshake" in log.read_text()
    trusted = start("client", "--server", address, "--clients", "1-943", "--tls", str(certs), log=log)
    assert finish([server, trusted]) == [0, 0], log.read_text()[-3000:]
    assert json.loads((out / "summary.json").read_text())["rounds"] == 1
    assert oct((certs / "server.key").stat().st_mode & 0o777) == "0o600"


def test_hello_check_refuses_wrong_task_ids_and_credentials() -> None:
    import numpy as np

    from fedrec.experiment.distributed import hello_check

    open_run = hello_check("rating", 943, None)
    assert open_run({"tasks": "rating"}, np.array([1, 943])) is None
    assert "runs only ranking" in (open_run({"tasks": "ranking"}, np.array([1])) or "")
    assert hello_check("node_classification", 5, None)({"tasks": "rating,node_classification"}, np.array([5])) is None
    assert "from 1 to 943" in (open_run({"tasks": "rating"}, np.array([1, 944])) or "")
    guarded = hello_check("rating", 943, {"k3y": np.arange(1, 101)})
    assert guarded({"tasks": "rating", "token": "k3y"}, np.array([5, 100])) is None
    assert "does not cover" in (guarded({"tasks": "rating", "token": "k3y"}, np.array([5, 101])) or "")
    assert "wrong credential" in (guarded({"tasks": "rating"}, np.array([5])) or "")
    assert "wrong credential" in (guarded({"tasks": "rating", "token": "guess"}, None) or "")  # before any id is read
    assert guarded({"tasks": "rating", "token": "k3y"}, None) is None


def test_updates_over_the_message_limit_are_split_not_lost(tmp_path: Path) -> None:
    out, log = tmp_path / "run", tmp_path / "log.txt"
    cluster = start("cluster", "--processes", "1", "--set", "rounds=1", "--set", "distributed.max_message_mb=2",
                    "--port", str(free_port()), "--out", str(out), log=log)  # fmt: skip
    assert finish([cluster]) == [0], log.read_text()[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert [h["participants"] for h in history(out)] == [943]
    assert summary["participation"]["aggregated"] == 943 and summary["rejected_updates"]["total"] == 0


def test_a_waiting_server_says_what_it_waits_for(tmp_path: Path) -> None:
    overrides = ["rounds=1", "distributed.status_every_s=0.5"]
    port, out, log, server, clients = _cluster(tmp_path, overrides, ranges=["1-470"])
    wait_for(lambda: "waiting for clients to join: 470 of 943 have joined" in log.read_text(), what="a status line")
    rest = start("client", "--server", f"127.0.0.1:{port}", "--clients", "471-943", log=log)
    assert finish([server, *clients, rest]) == [0, 0, 0], log.read_text()[-3000:]


def test_a_model_over_the_message_limit_is_refused_at_start_up(tmp_path: Path) -> None:
    from tests.cli.test_cli import assert_usage_error, fedrec

    result = fedrec("server", "--set", "distributed.max_message_mb=1", "--set", "model.dim=512", "--out",
                    str(tmp_path / "run"))  # fmt: skip
    assert_usage_error(result, "the model is 3.3 MiB on the wire", "raise distributed.max_message_mb")


def test_a_restarted_fedadam_server_resumes_its_optimizer_moments(tmp_path: Path) -> None:
    example = Path(__file__).resolve().parents[2] / "examples" / "adult_natural.yaml"
    overrides = ["rounds=6", "federation.eval_every=1", "federation.server_optimizer=adam",
                 "federation.server_optimizer.lr=0.01"]  # fmt: skip
    port, out, log, server, clients = _cluster(tmp_path, overrides, ["1-9"], ["--config", str(example)])
    wait_for(lambda: len(history(out)) >= 2, what="round 2")
    server.send_signal(signal.SIGKILL)
    server.wait()
    resumed = start("server", "--listen", f"127.0.0.1:{port}", "--resume", str(out), log=log)
    assert finish([resumed, *clients]) == [0, 0], log.read_text()[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    simulated = execute(load_config(example, overrides), tmp_path / "sim", quiet=True).summary
    assert summary["resumed_from_round"] >= 2 and summary["rounds"] == 6 and "resuming after round" in log.read_text()
    rounds = [h["round"] for h in history(out)]
    assert rounds == sorted(set(rounds)) and rounds[-1] == 6, "no round twice, the last one evaluated"
    for name, value in simulated["metrics"].items():
        assert summary["metrics"][name] == pytest.approx(value, abs=1e-6), name
