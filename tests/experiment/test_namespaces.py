"""Server and clients on different hosts: network namespaces this test creates, joined by a veth pair.

Skipped where the sandbox does not allow ``ip netns`` (it needs root / CAP_NET_ADMIN).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.experiment.processes import FEDREC, finish

SERVER_IP, CLIENT_IP = "10.231.7.1", "10.231.7.2"


def _ip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True)


@pytest.fixture
def two_hosts() -> Iterator[tuple[str, str]]:
    if shutil.which("ip") is None or os.geteuid() != 0:
        pytest.skip("ip netns needs the ip command and root")
    suffix = str(os.getpid())
    server, client = f"fedrec-s{suffix}", f"fedrec-c{suffix}"
    if _ip("netns", "add", server).returncode != 0:
        pytest.skip("this sandbox does not allow network namespaces")
    try:
        _ip("netns", "add", client)
        _ip("link", "add", f"vs{suffix}", "type", "veth", "peer", "name", f"vc{suffix}")
        _ip("link", "set", f"vs{suffix}", "netns", server)
        _ip("link", "set", f"vc{suffix}", "netns", client)
        for ns, dev, addr in ((server, f"vs{suffix}", SERVER_IP), (client, f"vc{suffix}", CLIENT_IP)):
            _ip("-n", ns, "addr", "add", f"{addr}/24", "dev", dev)
            _ip("-n", ns, "link", "set", dev, "up")
            _ip("-n", ns, "link", "set", "lo", "up")
        yield server, client
    finally:
        _ip("netns", "del", server)
        _ip("netns", "del", client)


def test_server_and_clients_on_different_hosts(tmp_path: Path, two_hosts: tuple[str, str]) -> None:
    server_ns, client_ns = two_hosts
    log, out = tmp_path / "log.txt", tmp_path / "run"
    env = {**os.environ, "FEDREC_THREADS": "1"}
    with log.open("ab") as handle:

        def run_in(ns: str, *args: str) -> subprocess.Popen[bytes]:
            command = ["ip", "netns", "exec", ns, *FEDREC, *args]
            return subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, env=env)

        server = run_in(server_ns, "server", "--listen", f"{SERVER_IP}:50123", "--out", str(out), "--set", "rounds=2")
        clients = [run_in(client_ns, "client", "--server", f"{SERVER_IP}:50123", "--clients", r)
                   for r in ("1-500", "501-943")]  # fmt: skip
        assert finish([server, *clients]) == [0, 0, 0], log.read_text()[-3000:]
    assert f"ipv4:{CLIENT_IP}:" in log.read_text(), "the clients connected from the other host"
    assert json.loads((out / "summary.json").read_text())["rounds"] == 2
