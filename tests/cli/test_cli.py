"""The real console script: the default job's path and the one-line errors with exit status 2."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.serving.checkpoints import inflate_item_biases, raw_top_k, trained_users

FEDREC = str(Path(sys.executable).parent / "fedrec")


def fedrec(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [FEDREC, *args], capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=300
    )


def assert_usage_error(result: subprocess.CompletedProcess[str], *phrases: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for phrase in phrases:
        assert phrase in lines[0], lines[0]


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cli") / "run"
    result = fedrec("run", "--set", "rounds=2", "--set", "federation.clients_per_round=300", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert f"run folder: {out}" in result.stdout and "test_rmse=" in result.stdout
    return out


def test_run_writes_the_folder(trained_run: Path) -> None:
    summary = json.loads((trained_run / "summary.json").read_text())
    assert summary["rounds"] == 2 and summary["num_clients"] == 943
    assert len((trained_run / "history.jsonl").read_text().splitlines()) == 2


def test_recommend_prints_titles(trained_run: Path) -> None:
    user = trained_users(trained_run)[0]
    result = fedrec("recommend", "--run", str(trained_run), "--user", str(user), "-k", "3")
    assert result.returncode == 0, result.stderr
    assert f"Top 3 for user {user}" in result.stdout and result.stdout.count("(19") >= 3  # titles carry their year


def printed_items(result: subprocess.CompletedProcess[str]) -> list[int]:
    """The item ids of the printed table's rows, in order."""
    assert result.returncode == 0, result.stderr
    return [int(m.group(1)) for m in re.finditer(r"^│\s+\d+\s+│\s+(\d+)\s+│", result.stdout, re.MULTILINE)]


def test_recommend_prints_the_top_k_of_raw_scores(trained_run: Path, tmp_path: Path, ml100k_split) -> None:  # type: ignore[no-untyped-def]
    """Scores above the rating scale are shown as 5.00 but ranked by the model's own score."""
    run = inflate_item_biases(trained_run, tmp_path / "inflated", 3.0)
    user = trained_users(run)[0]
    ten = printed_items(fedrec("recommend", "--run", str(run), "--user", str(user), "-k", "10"))
    assert ten == raw_top_k(run, ml100k_split, user, 10)
    five = printed_items(fedrec("recommend", "--run", str(run), "--user", str(user), "-k", "5"))
    assert five == ten[:5]


def test_data_list_and_fetch() -> None:
    listing = fedrec("data", "list")
    assert listing.returncode == 0 and "ml-100k" in listing.stdout and "grouplens" in listing.stdout
    fetched = fedrec("data", "fetch", "ml-100k")
    assert fetched.returncode == 0 and "all files verified" in fetched.stdout


@pytest.mark.parametrize(
    ("args", "phrases"),
    [
        (["run", "--set", "train.lrr=1"], ["unknown config key 'train.lrr'", "train.lr"]),
        (["run", "--set", "rounds=0"], ["federation.rounds"]),
        (["run", "--set", "train.lr=-0.1"], ["train.lr"]),
        (["run", "missing.yaml"], ["missing.yaml does not exist"]),
        (["data", "fetch", "nope"], ["unknown dataset 'nope'"]),
        (["recommend", "--run", "/nonexistent/run", "--user", "1"], ["not a fedrec run folder"]),
    ],
)
def test_usage_errors_are_one_line_with_status_2(args: list[str], phrases: list[str]) -> None:
    assert_usage_error(fedrec(*args), *phrases)


def test_recommend_errors(trained_run: Path) -> None:
    assert_usage_error(fedrec("recommend", "--run", str(trained_run), "--user", "99999"), "user 99999", "1..943")
    assert_usage_error(fedrec("recommend", "--run", str(trained_run), "--user", "1", "-k", "0"), "at least 1")


def test_existing_run_folder_is_not_overwritten(trained_run: Path) -> None:
    before = (trained_run / "summary.json").read_text()
    assert_usage_error(fedrec("run", "--set", "rounds=1", "--out", str(trained_run)), "already holds a run")
    assert (trained_run / "summary.json").read_text() == before


def test_corrupt_or_missing_data_writes_nothing(tmp_path: Path) -> None:
    mirror = tmp_path / "mirror" / "movielens" / "ml-100k"
    mirror.mkdir(parents=True)
    env = {"FEDREC_DATA_MIRROR": str(tmp_path / "mirror"), "FEDREC_DATA_DIR": str(tmp_path / "cache")}
    out = tmp_path / "never"
    assert_usage_error(fedrec("run", "--out", str(out), env=env), "missing from the mirror", "ml-100k/README")
    source = Path(os.environ["FEDREC_DATA_MIRROR"]) / "movielens" / "ml-100k"
    for name in os.listdir(source):
        shutil.copy(source / name, mirror / name)
    with (mirror / "u.data").open("a") as handle:
        handle.write("1\t1\t5\t0\n")
    assert_usage_error(fedrec("run", "--out", str(out), env=env), "checksum mismatch", "u.data", "expected sha256")
    assert not out.exists()


def test_unknown_option_is_a_usage_error_without_traceback() -> None:
    result = fedrec("run", "--bogus")
    assert result.returncode == 2 and "No such option" in result.stderr and "Traceback" not in result.stderr
    bad_address = fedrec("client", "--server", "nowhere", "--clients", "1-3")
    assert_usage_error(bad_address, "is not HOST:PORT")
    assert_usage_error(fedrec("client", "--server", "127.0.0.1:1", "--clients", "5-2"), "runs backwards")


def test_recommend_for_a_new_user_from_a_file(trained_run: Path, tmp_path: Path) -> None:
    ratings = tmp_path / "me.txt"
    ratings.write_text("# item rating\n50 5\n172,5\n181 4\n")
    result = fedrec("recommend", "--run", str(trained_run), "--new-user-ratings", str(ratings), "-k", "4")
    assert result.returncode == 0, result.stderr
    assert "Top 4 for a new user" in result.stdout and "Star Wars (1977)" not in result.stdout
    ratings.write_text("50 five\n")
    assert_usage_error(fedrec("recommend", "--run", str(trained_run), "--new-user-ratings", str(ratings)), "me.txt:1")
    assert_usage_error(fedrec("recommend", "--run", str(trained_run)), "either --user")


def test_audit_attacks_a_runs_uploads_and_saves_the_result(trained_run: Path) -> None:
    result = fedrec("audit", "--run", str(trained_run), "--clients", "20", "--pseudo-items", "2")
    assert result.returncode == 0, result.stderr
    assert "plain" in result.stdout and "pseudo-items x2" in result.stdout and "secure" in result.stdout
    saved = json.loads((trained_run / "audit.json").read_text())["results"]
    assert saved["plain"]["precision"] == 1.0 and saved["plain"]["recall"] == 1.0
    assert saved["secure aggregation"]["precision_at_m"] < 0.2


@pytest.mark.parametrize(
    ("args", "phrases"),
    [
        (["audit", "--clients", "2"], ["--clients must be at least 3"]),
        (["audit", "--run", "/nonexistent"], ["not a fedrec run folder"]),
        (["audit", "--set", "task=classification", "--set", "data.name=uci-adult", "--set", "split.kind=natural"],
         ["task rating"]),
        (["run", "--set", "privacy.dp=user"], ["exactly one of privacy.dp.noise_multiplier"]),
    ],
)  # fmt: skip
def test_privacy_usage_errors_are_one_line(args: list[str], phrases: list[str]) -> None:
    assert_usage_error(fedrec(*args), *phrases)


def test_a_spent_privacy_budget_is_said_when_the_run_ends(tmp_path: Path) -> None:
    result = fedrec("run", "--set", "privacy.dp=user", "--set", "privacy.dp.noise_multiplier=1.0", "--set",
                    "privacy.dp.epsilon_budget=3", "--set", "federation.client_fraction=0.2", "--set", "rounds=40",
                    "--out", str(tmp_path / "run"))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "stopped early: privacy budget spent" in result.stdout
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["privacy"]["epsilon"] <= 3 and 0 < summary["privacy"]["steps"] < 40
    assert summary["status"] == "stopped" and summary["rounds"] == summary["privacy"]["steps"]
