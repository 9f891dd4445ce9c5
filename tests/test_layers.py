"""The house rules of DESIGN.md: imports point downward, the runtime knows no torch, nothing knows gRPC
except the transport, and the transport knows no model."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "fedrec"

FORBIDDEN = {
    "runtime": {
        "torch",
        "grpc",
        "fedrec.algorithms",
        "fedrec.tasks",
        "fedrec.models",
        "fedrec.experiment",
        "fedrec.transport",
        "fedrec.cli",
        "fedrec.serving",
        "fedrec.payloads",
    },
    "algorithms": {
        "grpc",
        "fedrec.runtime",
        "fedrec.transport",
        "fedrec.tasks",
        "fedrec.experiment",
        "fedrec.cli",
    },
    "transport": {
        "fedrec.runtime.server",
        "fedrec.runtime.client_host",
        "fedrec.models",
        "fedrec.tasks",
        "fedrec.algorithms",
        "fedrec.experiment",
        "fedrec.cli",
    },
    "privacy": {
        "grpc",
        "fedrec.tasks",
        "fedrec.runtime",
        "fedrec.transport",
        "fedrec.algorithms",
        "fedrec.experiment",
        "fedrec.cli",
    },
    "tasks": {
        "grpc",
        "fedrec.runtime",
        "fedrec.transport",
        "fedrec.algorithms",
        "fedrec.experiment",
        "fedrec.cli",
    },
    "engine": {
        "grpc",
        "fedrec.tasks",
        "fedrec.runtime",
        "fedrec.transport",
        "fedrec.algorithms",
        "fedrec.privacy",
        "fedrec.experiment",
        "fedrec.serving",
        "fedrec.cli",
    },
    "models": {
        "grpc",
        "fedrec.engine",
        "fedrec.runtime",
        "fedrec.transport",
        "fedrec.algorithms",
        "fedrec.tasks",
        "fedrec.data",
        "fedrec.experiment",
        "fedrec.cli",
    },
    "data": {  # graph datasets are torch objects; data still knows nothing of federation or models
        "grpc",
        "fedrec.runtime",
        "fedrec.transport",
        "fedrec.algorithms",
        "fedrec.tasks",
        "fedrec.engine",
        "fedrec.models",
        "fedrec.experiment",
        "fedrec.cli",
    },
    "serving": {"grpc", "fedrec.runtime", "fedrec.transport", "fedrec.cli", "fedrec.experiment"},
}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_imports_only_what_lies_below_it(layer: str) -> None:
    files = list((PACKAGE / layer).rglob("*.py"))
    assert files
    for path in files:
        for name in _imports(path):
            for banned in FORBIDDEN[layer]:
                assert not (name == banned or name.startswith(banned + ".")), f"{path.name} imports {name}"


TASK_PACKAGES = sorted(p.name for p in (PACKAGE / "tasks").iterdir() if (p / "__init__.py").exists())


@pytest.mark.parametrize("task", TASK_PACKAGES)
def test_tasks_never_import_each_other(task: str) -> None:
    """What two tasks share lives in ``fedrec.engine``; a task package reads no other task package."""
    others = {f"fedrec.tasks.{other}" for other in TASK_PACKAGES if other != task}
    for path in (PACKAGE / "tasks" / task).rglob("*.py"):
        for name in _imports(path):
            assert not any(name == o or name.startswith(o + ".") for o in others), f"{task}/{path.name} imports {name}"


def test_every_task_has_its_own_package() -> None:
    assert set(TASK_PACKAGES) >= {"rating", "ranking", "classification", "node_classification"}
    assert sorted(p.name for p in (PACKAGE / "tasks").glob("*.py")) == ["__init__.py", "base.py"]


def test_the_secure_aggregation_protocol_the_runtime_drives_knows_no_torch() -> None:
    """The runtime imports these modules, and the runtime runs without torch."""
    for name in ("costs", "crypto", "messages", "protocol", "session"):
        names = _imports(PACKAGE / "privacy" / "secagg" / f"{name}.py")
        assert not any(n == "torch" or n.startswith("torch.") for n in names), name
        assert not any(n.startswith("fedrec.") and not n.startswith("fedrec.privacy.secagg") for n in names), name
