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


def _module_imports(path: Path) -> set[str]:
    """Imports made when the module loads, or for type checking (not those inside functions)."""
    names: set[str] = set()
    pending: list[ast.stmt] = list(ast.parse(path.read_text()).body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.If | ast.Try):
            pending += [*node.body, *node.orelse, *getattr(node, "handlers", [])]
        elif isinstance(node, ast.ExceptHandler):
            pending += node.body
    return names


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_no_import_cycles_not_even_for_type_checking() -> None:
    """DESIGN.md: no import cycles (the server and the round policies once imported each other)."""
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py") if "proto" not in p.parts}
    graph = {name: {m for m in _module_imports(path) if m in modules and m != name} for name, path in modules.items()}
    state: dict[str, int] = {}

    def visit(name: str, trail: list[str]) -> None:
        state[name] = 1
        for nxt in sorted(graph[name]):
            if state.get(nxt) == 1:
                cycle = trail[trail.index(nxt) :] + [nxt] if nxt in trail else [name, nxt]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt, [*trail, nxt])
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])


def test_the_server_core_knows_no_round_policy_but_the_default_and_the_policies_know_no_server() -> None:
    server = _imports(PACKAGE / "runtime" / "server.py")
    assert not any(n.startswith("fedrec.runtime.rounds.") and n not in {"fedrec.runtime.rounds.base",
                   "fedrec.runtime.rounds.sync"} for n in server)  # fmt: skip
    assert not any("secagg" in n for n in server)
    for path in (PACKAGE / "runtime" / "rounds").glob("*.py"):
        assert "fedrec.runtime.server" not in _imports(path), path.name
