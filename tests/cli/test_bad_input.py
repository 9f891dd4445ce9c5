"""Every subcommand, given bad input, says what is wrong and how to fix it in one line, exit status 2.

Most cases run ``fedrec``'s ``main()`` in this process (a new interpreter per case would cost seconds each);
the cases about the process itself (Ctrl-C while it starts, a closed stdout) run the real console script.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from fedrec.cli.main import main
from fedrec.config import dump_config, load_config
from fedrec.experiment.runner import execute
from tests.serving.checkpoints import trained_users

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
FEDREC = str(Path(sys.executable).parent / "fedrec")


def fedrec(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *args: str) -> tuple[int, str, str]:
    """``fedrec ARGS`` in this process: (exit status, stdout, stderr)."""
    monkeypatch.setattr(sys, "argv", ["fedrec", *args])
    with pytest.raises(SystemExit) as ended:
        main()
    captured = capsys.readouterr()
    return int(ended.value.code or 0), captured.out, captured.err


def assert_one_line_error(result: tuple[int, str, str], *phrases: str) -> None:
    code, _, err = result
    assert code == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for phrase in phrases:
        assert phrase in lines[0], lines[0]


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of bad inputs: a file where a folder belongs, broken YAML, new users' files, configs of runs
    fedrec recommend cannot serve."""
    root = tmp_path_factory.mktemp("bad")
    (root / "a_file").write_text("")
    (root / "broken.yaml").write_text("federation:\n  rounds: [1\n  lr: 2\n")
    for name, text in {"nan": "50 nan\n", "high": "50 50\n", "low": "50 -20\n", "twice": "50 5\n181 4\n50 3\n",
                       "unrated": "50\n172 5\n", "empty": "# nothing\n"}.items():  # fmt: skip
        (root / f"{name}.txt").write_text(text)
    (root / "junk_tls").mkdir()
    for name in ("ca.pem", "server.pem", "server.key"):
        (root / "junk_tls" / name).write_text("not a certificate\n")
    adult = load_config(overrides=["task=classification", "data.name=uci-adult"])
    graph = load_config(EXAMPLES / "cora_gcn_louvain.yaml")
    for name, config in (("adult_run", adult), ("cora_run", graph)):
        (root / name).mkdir()
        (root / name / "config.yaml").write_text(dump_config(config))
    return root


@pytest.fixture(scope="module")
def sampled_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One round in which 10 of 943 users trained."""
    out = tmp_path_factory.mktemp("bad") / "run"
    execute(load_config(overrides=["rounds=1", "federation.clients_per_round=10"]), out, quiet=True)
    return out


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield int(listener.getsockname()[1])


NEW_USER = ["recommend", "--run", "{run}", "--new-user-ratings"]
CASES: list[tuple[list[str], list[str]]] = [
    # run
    (["run", "{files}"], ["is a folder; pass a YAML file"]),
    (["run", "{files}/broken.yaml"], ["not valid YAML: line 3, column 5"]),
    (["run", "--out", "{files}/a_file"], ["is a file, not a folder"]),
    (["run", "--out", "{files}/a_file/run"], ["cannot make the run folder", "Not a directory"]),
    (["run", "--set", "model.classifier=gcn"], ["model.classifier='gcn' has no effect on a rating run"]),
    (["run", "--set", "federation.rounds=2", "--set", "mode=centralized"], ["--set rounds=N"]),
    (["run", "--set", "task=ranking", "--set", "ranking.eval_negatives=1000"], ["at most 945"]),
    (["run", str(EXAMPLES / "adult_natural.yaml"), "--set", "split.kind=dirichlet", "--set", "split.clients=3000",
      "--set", "split.alpha=0.01"], ["raise split.alpha or lower split.clients"]),
    (["run", "--set", "rounds=abc"], ["invalid value for federation.rounds"]),
    (["run", "--set", "seed=-1"], ["invalid value for seed", "greater than or equal to 0"]),
    (["run", "--set", "train.l2=inf"], ["invalid value for train.l2", "finite number"]),
    (["run", "--set", "devices.kind=trace", "--set", "devices.trace={files}/none.csv", "--out", "{files}/refused"],
     ["cannot read the device trace"]),
    (["run", "--bogus"], ["No such option: --bogus", "fedrec run --help"]),
    (["nope"], ["No such command 'nope'"]),
    # recommend
    (["recommend", "--run", "{files}/adult_run", "--user", "1"], ["classification run", "task rating or ranking"]),
    (["recommend", "--run", "{files}/cora_run", "--user", "1"], ["node_classification run"]),
    (["recommend", "--run", "{files}/nowhere", "--user", "1"], ["not a fedrec run folder"]),
    (["recommend", "--run", "{run}", "--user", "abc"], ["Invalid value for '--user'"]),
    (["recommend", "--run", "{run}", "--user", "{untrained}"], ["no training round", "--new-user-ratings"]),
    (["recommend", "--run", "{run}", "--user", "99999"], ["user 99999 is not in ml-100k", "1..943"]),
    (["recommend", "--run", "{run}", "--user", "{trained}", "-k", "0"], ["at least 1"]),
    ([*NEW_USER, "{files}/nan.txt"], ["nan.txt:1: rating 'nan' is not a number"]),
    ([*NEW_USER, "{files}/high.txt"], ["rating 50 is outside ml-100k's scale 1-5"]),
    ([*NEW_USER, "{files}/low.txt"], ["rating -20 is outside ml-100k's scale 1-5"]),
    ([*NEW_USER, "{files}/twice.txt"], ["twice.txt:3: item 50 is listed twice"]),
    ([*NEW_USER, "{files}/unrated.txt"], ["item 50 has no rating"]),
    ([*NEW_USER, "{files}/empty.txt"], ["lists no items"]),
    ([*NEW_USER, "{files}/none.txt"], ["cannot read", "No such file"]),
    (["recommend", "--run", "{run}"], ["either --user"]),
    # audit
    (["audit", "--clients", "2"], ["--clients must be at least 3"]),
    (["audit", "--local-noise", "nan"], ["--local-noise must be a finite number > 0"]),
    (["audit", "--clients", "5000"], ["more than the 943 users"]),
    (["audit", "--run", "{run}", "--set", "model.dim=8"], ["--set cannot change model", "--config FILE"]),
    (["audit", "--run", "{run}", "--config", "x.yaml"], ["not both"]),
    # server
    (["server", "--listen", "127.0.0.1:99999"], ["port 99999", "from 1 to 65535"]),
    (["server", "--listen", "127.0.0.1:{busy}"], ["is busy"]),
    (["server", "--listen", "nowhere"], ["is not HOST:PORT"]),
    (["server", "--mtls"], ["--mtls requires", "--tls FOLDER"]),
    (["server", "--resume", "{run}", "--set", "rounds=3"], ["drop --config, --set and --out"]),
    (["server", "--resume", "{run}"], ["already completed"]),
    (["server", "--tls", "{files}", "--out", "{files}/never"], ["is missing; make the files with `fedrec certs"]),
    (["server", "--tokens", "{files}/none.txt"], ["cannot read the tokens file"]),
    (["server", "--tls", "{files}/junk_tls"], ["server.key is not an unencrypted PEM private key", "--force"]),
    # client
    (["client", "--server", "127.0.0.1:99999", "--clients", "1-3"], ["port 99999"]),
    (["client", "--server", "127.0.0.1:1", "--clients", "0-3"], ["client ids start at 1"]),
    (["client", "--server", "127.0.0.1:1", "--clients", "5-2"], ["runs backwards"]),
    (["client", "--server", "127.0.0.1:1", "--clients", "1-3", "--retry-for", "-1"], ["--retry-for"]),
    (["client", "--server", "127.0.0.1:1", "--clients", "1-3", "--tls", "{files}/none"], ["ca.pem is missing"]),
    (["client", "--server", "127.0.0.1:1"], ["Missing option '--clients'"]),
    # cluster
    (["cluster", "--processes", "0"], ["--processes must be at least 1"]),
    (["cluster", "--processes", "2000"], ["--processes 2000 is more than", "pass at most 64"]),
    (["cluster", "--port", "70000"], ["port 70000"]),
    (["cluster", "--port", "{busy}"], ["is busy"]),
    (["cluster", "--out", "{run}"], ["already holds a run"]),
    # certs
    (["certs", "--out", "{files}/a_file/certs"], ["cannot write certificates", "Not a directory"]),
    (["certs", "--out", "{files}/a_file"], ["is a file, not a folder; pass another --out"]),
    (["certs", "--out", "{files}/certs", "--host", "no such host"], ["is neither an IP address nor a host name"]),
    # data
    (["data", "fetch", "nope"], ["unknown dataset 'nope'", "ml-100k"]),
    (["data", "fetch"], ["Missing argument 'name'", "(see `fedrec data fetch --help`)"]),
]  # fmt: skip


@pytest.mark.parametrize(("args", "phrases"), CASES, ids=[" ".join(a)[:60] for a, _ in CASES])
def test_bad_input_is_one_line_with_status_2(
    args: list[str],
    phrases: list[str],
    files: Path,
    sampled_run: Path,
    busy_port: int,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    trained = trained_users(sampled_run)
    untrained = next(u for u in range(1, 944) if u not in trained)
    values = {"files": files, "run": sampled_run, "busy": busy_port, "trained": trained[0], "untrained": untrained}
    assert_one_line_error(fedrec(capsys, monkeypatch, *(a.format(**values) for a in args)), *phrases)


def test_a_refused_run_leaves_no_folder(files: Path, capsys: pytest.CaptureFixture[str], monkeypatch) -> None:  # type: ignore[no-untyped-def]
    out = files / "refused_here"
    args = ["run", "--set", "task=ranking", "--set", "model.kind=gmf", "--set", "ranking.personal=[nope]"]
    assert_one_line_error(fedrec(capsys, monkeypatch, *args, "--out", str(out)), "ranking.personal", "gmf_h")
    assert not out.exists()


def test_a_damaged_checkpoint_is_one_line(sampled_run: Path, tmp_path: Path, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    damaged = tmp_path / "damaged"
    shutil.copytree(sampled_run, damaged)
    clients = damaged / "checkpoint" / "clients.pt"
    clients.write_bytes(clients.read_bytes()[:1000])
    result = fedrec(capsys, monkeypatch, "recommend", "--run", str(damaged), "--user", "1")
    assert_one_line_error(result, "clients.pt is damaged")


def test_certs_refuse_to_replace_a_ca_without_force(tmp_path: Path, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "certs"
    assert fedrec(capsys, monkeypatch, "certs", "--out", str(out))[0] == 0
    ca = (out / "ca.pem").read_bytes()
    assert_one_line_error(fedrec(capsys, monkeypatch, "certs", "--out", str(out)), "already holds ca.pem", "--force")
    assert (out / "ca.pem").read_bytes() == ca
    assert fedrec(capsys, monkeypatch, "certs", "--out", str(out), "--force")[0] == 0
    assert (out / "ca.pem").read_bytes() != ca
    mixed = tmp_path / "mixed"
    shutil.copytree(out, mixed)
    assert fedrec(capsys, monkeypatch, "certs", "--out", str(out), "--force")[0] == 0
    shutil.copy(out / "server.key", mixed / "server.key")
    result = fedrec(capsys, monkeypatch, "server", "--tls", str(mixed), "--out", str(tmp_path / "never"))
    assert_one_line_error(result, "server.key is not the key of server.pem")
    assert not (tmp_path / "never").exists()


def test_bad_environment_is_one_line(files: Path, capsys: pytest.CaptureFixture[str], monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("FEDREC_DATA_DIR", str(files / "a_file" / "cache"))
    assert_one_line_error(fedrec(capsys, monkeypatch, "data", "fetch", "ml-100k"), "cannot write", "FEDREC_DATA_DIR")
    monkeypatch.setenv("FEDREC_THREADS", "two")
    assert_one_line_error(fedrec(capsys, monkeypatch, "data", "list"), "FEDREC_THREADS must be a whole number")


INTERRUPT_WHILE_IMPORTING = """
import sys
class Interrupt:  # Ctrl-C arrives while the command line imports {module}
    def find_spec(self, name, path=None, target=None):
        if name == "{module}":
            raise KeyboardInterrupt
sys.meta_path.insert(0, Interrupt())
sys.argv = ["fedrec", "data", "list"]
from fedrec.cli.main import main
main()
"""


@pytest.mark.parametrize("module", ["typer", "fedrec.config", "torch"])
def test_ctrl_c_during_start_up_exits_130_quietly(module: str) -> None:
    """The interrupt is raised where the module is imported: typer and the config while the command line
    loads, torch when ``main()`` sets its threads. Status 130 shows the interrupt did arrive."""
    code = INTERRUPT_WHILE_IMPORTING.replace("{module}", module)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 130 and result.stderr == "" and result.stdout == "", result.stderr


def test_a_reader_that_stops_reading_does_not_fail_the_command() -> None:
    """``fedrec data list | head -0``: the output is dropped, the command ends normally."""
    reader, writer = os.pipe()
    os.close(reader)
    with os.fdopen(writer, "w") as closed:
        result = subprocess.run([FEDREC, "data", "list"], stdout=closed, stderr=subprocess.PIPE, text=True, timeout=120)
    assert result.returncode == 0 and result.stderr == "", result.stderr


def test_a_server_refused_at_start_up_leaves_no_folder(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = subprocess.run([sys.executable, "-m", "fedrec", "server", "--set", "model.dim=512", "--set",
                             "distributed.max_message_mb=1", "--listen", "127.0.0.1:50093", "--out", str(out)],
                            capture_output=True, text=True, timeout=300)  # fmt: skip
    assert result.returncode == 2 and "the model is" in result.stderr
    assert not out.exists(), "the refused server's folder is gone, so the same --out works once fixed"
