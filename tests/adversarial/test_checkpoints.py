"""A corrupt checkpoint: every checkpoint ``--resume`` reads is checked against the run's config before use.

One real run of ML-100K (2 rounds planned), killed just after round 1's checkpoints were written, gives
both kinds of folder: the simulation's (``fedrec run --resume``: ``simulation.pt``) and, without
``simulation.pt``, the cluster server's (``fedrec server --resume``: ``server.pt`` and ``server_state.pt``,
written by the same ``ServerCheckpointer`` of the same ``Server``). Each case damages one file of a copy the
way a disk, a crash or a person can, and the command, run in this process as ``fedrec`` runs it, exits 2
with one line naming the file, the cause and the fix, and leaves the folder as it was.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import fedrec.experiment.checkpoint as checkpoint
import fedrec.experiment.distributed as distributed
from fedrec.config import load_config
from fedrec.experiment.runner import execute
from tests.cli.test_bad_input import assert_one_line_error, fedrec
from tests.experiment.processes import free_port

SIMULATION, SERVER, STATE = "checkpoint/simulation.pt", "checkpoint/server.pt", "checkpoint/server_state.pt"
FIX = "or restore the run folder from a backup"


class Killed(Exception):
    """Stands for the process dying just after a checkpoint was written."""


class Listening(Exception):
    """Stands for the resumed server starting to listen: every checkpoint was accepted."""


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run of 2 rounds killed once round 1's checkpoints are written (as test_resume makes its runs)."""
    out = tmp_path_factory.mktemp("checkpoints") / "run"
    save = checkpoint.SimulationCheckpointer.save

    def save_then_die(self: checkpoint.SimulationCheckpointer) -> None:
        save(self)
        raise Killed

    config = load_config(overrides=["rounds=2", "federation.clients_per_round=50"])
    with pytest.MonkeyPatch.context() as patch, pytest.raises(Killed):
        patch.setattr(checkpoint.SimulationCheckpointer, "save", save_then_die)
        execute(config, out, quiet=True)
    assert all((out / name).is_file() for name in (SIMULATION, SERVER, STATE))
    return out


# -- the damage: on the bytes of a file, or on what it decodes to ------------------------------------------------


def emptied(data: bytes) -> bytes:
    return b""


def random_bytes(data: bytes) -> bytes:
    return np.random.default_rng(0).bytes(len(data))


def truncated(data: bytes) -> bytes:
    return data[: len(data) // 2]


def removed(data: bytes) -> None:
    return None


ON_BYTES = (emptied, random_bytes, truncated, removed)


def model_of(file: str, saved: dict[str, Any]) -> dict[str, Any]:
    """The model's tensors, by name, in each file's own layout."""
    if file == SERVER:
        return {k: v for k, v in saved.items() if k != "round"}
    progress = saved["progress"] if file == STATE else saved["state"]["server"]["progress"]
    return {k[len("params/") :]: v for k, v in progress["model"]["tensors"].items()}


def set_model(file: str, saved: dict[str, Any], params: dict[str, Any]) -> None:
    if file == SERVER:
        done = saved["round"]
        saved.clear()
        saved.update(round=done, **params)
        return
    progress = saved["progress"] if file == STATE else saved["state"]["server"]["progress"]
    progress["model"]["tensors"] = {f"params/{k}": v for k, v in params.items()}


def narrow_table(file: str, saved: dict[str, Any]) -> None:
    params = model_of(file, saved)
    set_model(file, saved, {**params, "item_emb": params["item_emb"][:100]})


def renamed_tensor(file: str, saved: dict[str, Any]) -> None:
    params = model_of(file, saved)
    params["item_biases"] = params.pop("item_bias")
    set_model(file, saved, params)


def poisoned(value: float) -> Callable[[str, dict[str, Any]], None]:
    def poison(file: str, saved: dict[str, Any]) -> None:
        params = model_of(file, saved)
        table = params["item_emb"].clone()
        table[7, 3] = value
        set_model(file, saved, {**params, "item_emb": table})

    return poison


def round_set(value: int) -> Callable[[str, dict[str, Any]], None]:
    def set_round(file: str, saved: dict[str, Any]) -> None:
        saved["round"] = value

    return set_round


def state_not_a_dict(file: str, saved: dict[str, Any]) -> None:
    saved["progress" if file == STATE else "state"] = ["not", "a", "state"]


def unknown_stats(file: str, saved: dict[str, Any]) -> None:
    progress = saved["progress"] if file == STATE else saved["state"]["server"]["progress"]
    progress["stats"] = {"invited_twice": 1}


def garbled_message(file: str, saved: dict[str, Any]) -> None:
    message = saved["state"]["queue"]["messages"][0]
    message["__message__"] = torch.frombuffer(bytearray(b"\x07garbled" * 8), dtype=torch.uint8)


# (file, damage on its bytes or on its decoded contents, what the line says)
Case = tuple[str, Callable[..., Any], str]
COMMON: dict[str, tuple[Callable[..., Any], str]] = {  # done to the model file: simulation.pt, server.pt
    "empty file": (emptied, "is empty"),
    "random bytes": (random_bytes, "does not decode as a checkpoint"),
    "truncated file": (truncated, "does not decode as a checkpoint"),
    "wrong-shaped table": (narrow_table, "item_emb has shape (100, 32), this run's (1682, 32)"),
    "wrong tensor name": (renamed_tensor, "lacks the tensors item_bias"),
    "NaN in the model": (poisoned(float("nan")), "item_emb holds 1 NaN or infinite values"),
    "inf in the model": (poisoned(float("inf")), "item_emb holds 1 NaN or infinite values"),
    "round 10^9": (round_set(10**9), "its round is 1000000000, not a whole number from 0 to 2"),
    "negative round": (round_set(-1), "its round is -1, not a whole number from 0 to 2"),
}
SIMULATION_CASES: dict[str, Case] = {
    **{name: (SIMULATION, how, says) for name, (how, says) in COMMON.items()},
    "simulation.pt missing": (SIMULATION, removed, "is missing: if"),
    "state not a dict": (SIMULATION, state_not_a_dict, "its field 'state' is a list, not a dict"),
    "state the server cannot load": (SIMULATION, unknown_stats, "its state is not what this run can resume from"),
    "garbled message in flight": (SIMULATION, garbled_message, "its state is not what this run can resume from"),
}
SERVER_CASES: dict[str, Case] = {
    **{f"server.pt: {name}": (SERVER, how, says) for name, (how, says) in COMMON.items()},
    "server_state.pt missing": (STATE, removed, "server_state.pt is missing"),
    "server_state.pt: random bytes": (STATE, random_bytes, "does not decode as a checkpoint"),
    "server_state.pt: truncated file": (STATE, truncated, "does not decode as a checkpoint"),
    "server_state.pt: progress not a dict": (STATE, state_not_a_dict, "its field 'progress' is a list, not a dict"),
    "server_state.pt: progress the server cannot load": (
        STATE, unknown_stats, "its progress is not what this run can resume from"),
    "server_state.pt: wrong-shaped table": (STATE, narrow_table, "item_emb has shape (100, 32)"),
    "server_state.pt: NaN in the model": (STATE, poisoned(float("nan")), "item_emb holds 1 NaN or infinite values"),
    "server_state.pt: round 10^9": (STATE, round_set(10**9), "its round is 1000000000"),
    "server.pt ahead of server_state.pt": (SERVER, round_set(2), "are not of one run's last rounds"),
}  # fmt: skip


def damage(folder: Path, file: str, how: Callable[..., Any]) -> None:
    path = folder / file
    if how in ON_BYTES:
        changed = how(path.read_bytes())
        if changed is None:
            path.unlink()
        else:
            path.write_bytes(changed)
        return
    saved = torch.load(path, weights_only=True)
    how(file, saved)
    torch.save(saved, path)


def copy_of(interrupted: Path, tmp_path: Path, cluster: bool) -> Path:
    folder = tmp_path / "run"
    shutil.copytree(interrupted, folder)
    if cluster:  # what a cluster server leaves: its model and its progress
        (folder / SIMULATION).unlink()
    return folder


def contents(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def assert_refused(result: tuple[int, str, str], path: Path, says: str) -> None:
    """Exit status 2 and one line on stderr, naming the file, what is wrong and the fix."""
    assert_one_line_error(result, f"error: {path} ", says, FIX)


@pytest.mark.parametrize("case", sorted(SIMULATION_CASES))
def test_fedrec_run_resume_refuses_a_damaged_checkpoint(
    case: str, interrupted: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    file, how, says = SIMULATION_CASES[case]
    folder = copy_of(interrupted, tmp_path, cluster=False)
    damage(folder, file, how)
    before = contents(folder)
    assert_refused(fedrec(capsys, monkeypatch, "run", "--resume", str(folder), "--quiet"), folder / file, says)
    assert contents(folder) == before, "the folder is left as it was"


@pytest.mark.parametrize("case", sorted(SERVER_CASES))
def test_fedrec_server_resume_refuses_a_damaged_checkpoint(
    case: str, interrupted: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    file, how, says = SERVER_CASES[case]
    folder = copy_of(interrupted, tmp_path, cluster=True)
    damage(folder, file, how)
    before = contents(folder)
    monkeypatch.setattr(distributed, "GrpcServerTransport", _never_listens)
    resumed = fedrec(capsys, monkeypatch, "server", "--resume", str(folder), "--listen", f"127.0.0.1:{free_port()}")
    assert_refused(resumed, folder / file, says)
    assert contents(folder) == before, "the folder is left as it was"


def test_the_same_server_checkpoint_undamaged_is_resumed(
    interrupted: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The control: the copy the cases damage passes every check (the simulation's is resumed in test_resume)."""
    folder = copy_of(interrupted, tmp_path, cluster=True)
    monkeypatch.setattr(distributed, "GrpcServerTransport", _never_listens)
    with pytest.raises(Listening):
        fedrec(capsys, monkeypatch, "server", "--resume", str(folder), "--listen", f"127.0.0.1:{free_port()}")


def _never_listens(*args: object, **kwargs: object) -> None:
    raise Listening
