"""Kind 5: a round is not lost when the server stops while its evaluation is open: the progress saved after
the round says its figures are not out, and the resumed server evaluates it before going on."""

from __future__ import annotations

from pathlib import Path

import pytest

from fedrec.experiment.checkpoint import load_server_progress
from fedrec.experiment.simulation import build_simulation
from fedrec.experiment.task_specs.rating import load_split
from fedrec.run_folder import RunFolder
from fedrec.runtime.protocols import RoundRecord
from fedrec.runtime.server import Server
from tests.adversarial.arena import _config


class Killed(Exception):
    pass


class Records:
    def __init__(self) -> None:
        self.rounds: list[int] = []

    def on_round(self, record: RoundRecord) -> None:
        self.rounds.append(record.round)


def test_a_round_whose_evaluation_was_cut_off_is_evaluated_on_resume(tmp_path: Path) -> None:
    config = _config(3)
    split = load_split(config)
    folder = RunFolder(tmp_path)
    folder.create(config)
    transport, _ = build_simulation(config, split, folder=folder)
    server = transport.server
    assert isinstance(server, Server)
    before = Records()
    server.evaluations.observer = before

    def kill_during_round_2s_evaluation() -> None:
        if server.evaluating and server.evaluations.round == 2:
            raise Killed

    with pytest.raises(Killed):
        transport.run(kill_during_round_2s_evaluation)
    assert before.rounds == [1]

    transport, _ = build_simulation(config, split)  # a new server process: progress only, clients join again
    resumed = transport.server
    assert isinstance(resumed, Server)
    after = Records()
    resumed.evaluations.observer = after
    assert load_server_progress(folder, resumed) == 2 and resumed.metrics_round == 1
    resumed.plan.first_round = 3
    transport.run()
    assert after.rounds == [2, 3] and resumed.round == 3


def test_a_half_written_history_line_is_dropped_on_resume(tmp_path: Path) -> None:
    folder = RunFolder(tmp_path)
    folder.create(_config(3))
    for record in ({"round": 1, "test_rmse": 1.1}, {"round": 2, "test_rmse": 1.0}):
        folder.append_history(record)
    with (tmp_path / "history.jsonl").open("a") as handle:
        handle.write('{"round": 3, "test_rm')  # the process was killed while writing
    assert folder.truncate_history(2) == [{"round": 1, "test_rmse": 1.1}, {"round": 2, "test_rmse": 1.0}]
    assert folder.truncate_history(1) == [{"round": 1, "test_rmse": 1.1}]
