"""Every command the README shows is run by a named test, or is a benchmark that prints the figures it cites.

``COVERED`` maps each README command (a pattern) to where it is exercised. A command added to the README
without a test fails here, and so does a pattern that no longer matches any command or names a test or a
benchmark option that does not exist.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
READMES_COMMANDS = "tests/cli/test_readme_commands.py"

COVERED: dict[str, str] = {
    r"bash scripts/run\.sh": f"{READMES_COMMANDS}::test_scripts_run_sh_trains_the_default_job",
    r"bash scripts/test\.sh": ".ci/run",
    r"fedrec run": "tests/cli/test_cli.py::trained_run",
    r"fedrec run examples/ml100k_fedmf\.yaml": (
        "tests/test_config.py::test_defaults_are_the_default_job_and_the_example_file_matches"
    ),
    r"fedrec run --set rounds=20 --set seed=3": "tests/test_config.py::test_shortcuts_work_whatever_the_nesting",
    r"fedrec run --set mode=centralized": (
        "tests/experiment/test_end_to_end.py::test_centralized_baseline_runs_on_the_same_split"
    ),
    r"fedrec run --set federation\.clients_per_round=100 --out runs/sampled": "tests/cli/test_cli.py::trained_run",
    r"fedrec recommend --run runs/sampled --user 42 -k 10": "tests/cli/test_cli.py::test_recommend_prints_titles",
    r"fedrec recommend": "tests/cli/test_cli.py::test_recommend_prints_titles",
    r"fedrec data list": f"{READMES_COMMANDS}::test_data_list_names_a_source_for_every_dataset",
    r"fedrec data fetch ml-100k": "tests/cli/test_cli.py::test_data_list_and_fetch",
    r"fedrec server --listen \S+ --out runs/live \[--config C\] \[--set rounds=50\]": (
        "tests/experiment/test_distributed.py::test_cluster_reaches_the_simulations_result"
    ),
    r"fedrec server --config examples/cora_gcn_louvain\.yaml": (
        "tests/experiment/test_cluster_command.py::test_fedrec_cluster_runs_every_task"
    ),
    r"fedrec client( --server SERVER:50051 --clients \d+-\d+)?": (
        "tests/experiment/test_distributed.py::test_cluster_reaches_the_simulations_result"
    ),
    r"fedrec cluster( examples/\w+\.yaml)?( --processes \d+)?( --set rounds=\d+)?": (
        "tests/experiment/test_cluster_command.py::test_fedrec_cluster_runs_every_task"
    ),
    r"fedrec server --resume": (
        "tests/adversarial/test_cluster.py::test_every_client_gone_the_server_waits_then_stops_resumably"
    ),
    r"fedrec server --resume runs/live --listen \S+": (
        "tests/experiment/test_distributed.py::test_a_restarted_fedadam_server_resumes_its_optimizer_moments"
    ),
    r"fedrec run --resume (runs/<folder>|DIR)": (
        "tests/experiment/test_resume.py::test_a_killed_simulation_process_resumes_from_the_command_line"
    ),
    r"fedrec certs --out certs --host SERVER|fedrec server --tls certs \[--mtls\]|fedrec client --tls certs": (
        "tests/experiment/test_distributed.py::test_tls_with_client_certificates"
    ),
    r"fedrec server --tokens FILE": "tests/experiment/test_distributed.py::test_wrong_credentials_are_refused",
    r"fedrec run examples/\w+\.yaml": f"{READMES_COMMANDS}::test_every_example_runs",
    r"fedrec run examples/ml1m_ranking\.yaml": f"{READMES_COMMANDS}::test_the_official_ml1m_example_names_its_file",
    r"fedrec run examples/ml1m_ranking\.yaml --set data\.name=ml-1m-derived": (
        f"{READMES_COMMANDS}::test_the_ml1m_example_runs_on_the_derived_copy"
    ),
    r"fedrec run examples/ml100k_ranking\.yaml --set mode=centralized": (
        f"{READMES_COMMANDS}::test_the_centralized_ranking_baseline_runs"
    ),
    r"fedrec run examples/cora_gcn_louvain\.yaml --set mode=(local|centralized)": (
        "tests/experiment/test_baselines.py::test_cora_global_beats_local_and_both_leave_a_run_folder"
    ),
    r"fedrec run <folder>/config\.yaml": f"{READMES_COMMANDS}::test_a_run_folders_config_repeats_the_run",
    r"fedrec recommend --run RUN --new-user-ratings my_items\.txt": (
        "tests/cli/test_cli.py::test_recommend_for_a_new_user_from_a_file"
    ),
    r"fedrec audit( --run <folder>)?": "tests/cli/test_cli.py::test_audit_attacks_a_runs_uploads_and_saves_the_result",
    r"scripts/gen_proto\.sh": "tests/transport/test_proto.py::test_the_generated_module_matches_wire_proto",
    r"PYTHONPATH=tests/plugins fedrec run --set plugins=\[linear_regression\] --set task=linear_regression .*": (
        "tests/plugins/test_plugins.py::test_a_toy_task_from_outside_the_package_learns_in_a_simulation_and_a_cluster"
    ),
    r"PYTHONPATH=tests/plugins fedrec run examples/ml100k_fedmf\.yaml --set plugins=\[trimmed_mean\] .*": (
        "tests/plugins/test_plugins.py::test_the_trimmed_mean_trains_the_rating_task_end_to_end"
    ),
    r"fedrec components \[--plugin MODULE\]": (
        "tests/plugins/test_plugin_failures.py::"
        "test_the_cluster_refuses_a_simulation_backend_and_components_lists_the_registries"
    ),
    r"(python )?benchmarks/secagg_costs\.py": "benchmarks/secagg_costs.py",
    r"(python )?benchmarks/ml100k_rmse\.py": "benchmarks/ml100k_rmse.py",
    r"(python )?benchmarks/round_time\.py( --config \S+ --set \S+ --rounds \d+ --no-sequential)?": (
        "benchmarks/round_time.py"
    ),
    r"(python )?benchmarks/ranking\.py --config examples/\S+\.yaml( --set \S+)*( --modes \S+)?": (
        "benchmarks/ranking.py"
    ),
    r"(python )?benchmarks/checkpoint_cost\.py( --rounds \d+)?": "benchmarks/checkpoint_cost.py",
    r"(python )?benchmarks/frozen_client\.py": "benchmarks/frozen_client.py",
    r"(python )?benchmarks/cluster_overhead\.py( --processes \d+ --rounds \d+)?": "benchmarks/cluster_overhead.py",
    r"(python )?benchmarks/general\.py (graphs|adult\|fmnist|adult)": "benchmarks/general.py",
    r"(python )?benchmarks/heterogeneity\.py (systems|personalization|algorithms( \[?--model logreg\]?)?)": (
        "benchmarks/heterogeneity.py"
    ),
    r"(python )?benchmarks/privacy\.py( (audit|secagg|dp-curve|example)(\|(secagg|dp-curve|example))*)?": (
        "benchmarks/privacy.py"
    ),
}


def readme_commands() -> list[str]:
    """Each command line of the README's bash blocks, and each inline command in its prose, normalized."""
    text = README.read_text()
    lines = [line for block in re.findall(r"```bash\n(.*?)```", text, re.S) for line in block.splitlines()]
    commands = [re.split(r"\s+#\s", line)[0] for line in lines]
    prose = re.sub(r"```.*?```", "", text, flags=re.S)
    starts = r"(\.venv/bin/)?(fedrec|python|bash) |(scripts|benchmarks)/\S+\.(sh|py)"
    commands += [span for span in re.findall(r"`([^`]+)`", prose) if re.match(starts, span)]
    normalized = [re.sub(r"\s+", " ", c.replace(".venv/bin/", "")).strip() for c in commands]
    return list(dict.fromkeys(c for c in normalized if c))


def test_every_readme_command_is_exercised() -> None:
    commands = readme_commands()
    uncovered = [c for c in commands if not any(re.fullmatch(p, c) for p in COVERED)]
    assert not uncovered, f"README commands no test or benchmark runs: {uncovered}"
    stale = [p for p in COVERED if not any(re.fullmatch(p, c) for c in commands)]
    assert not stale, f"patterns that match no README command any more: {stale}"


@pytest.mark.parametrize("where", sorted(set(COVERED.values())))
def test_what_exercises_a_command_exists(where: str) -> None:
    path, _, name = where.partition("::")
    assert (REPO / path).is_file(), where
    if name:
        assert re.search(rf"^def {re.escape(name)}\(", (REPO / path).read_text(), re.M), where


def test_every_benchmark_option_the_readme_uses_exists() -> None:
    for command in readme_commands():
        found = re.search(r"benchmarks/(\w+)\.py ?(.*)", command)
        if found is None:
            continue
        source = (REPO / "benchmarks" / f"{found[1]}.py").read_text()
        args = found[2].replace("[", "").replace("]", "").split()
        suites = args[0].split("|") if args and not args[0].startswith("-") else []
        for word in [*suites, *(a for a in args if a.startswith("--"))]:
            assert f'"{word}"' in source, f"{command}: benchmarks/{found[1]}.py knows no {word}"
