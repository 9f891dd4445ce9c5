"""Every public module, class, function and method of the package says what it does (DESIGN.md: docstrings
give shapes, units, the errors raised and the paper followed). A method that implements a documented protocol
method it inherits explicitly may rely on that docstring."""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "fedrec"
SKIPPED_METHODS = {"state_dict", "load_state_dict", "model_config"}  # one meaning everywhere (checkpoint state)


def _modules() -> list[str]:
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if "proto" in path.parts or path.name == "__main__.py":
            continue
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def _undocumented(module_name: str) -> list[str]:
    module = importlib.import_module(module_name)
    missing = [] if inspect.getdoc(module) or module_name.endswith("__init__") else [f"{module_name} (module)"]
    for name, obj in vars(module).items():
        if name.startswith("_") or getattr(obj, "__module__", None) != module_name:
            continue
        if inspect.isfunction(obj) and not obj.__doc__:
            missing.append(f"{module_name}.{name}")
        if not inspect.isclass(obj):
            continue
        if not obj.__dict__.get("__doc__"):
            missing.append(f"{module_name}.{name}")
        for attr, member in vars(obj).items():
            function = member.fget if isinstance(member, property) else getattr(member, "__func__", member)
            if attr.startswith("_") or attr in SKIPPED_METHODS or not inspect.isfunction(function):
                continue
            documented = function.__doc__ if isinstance(member, property) else inspect.getdoc(getattr(obj, attr))
            if not documented:
                missing.append(f"{module_name}.{name}.{attr}")
    return missing


def test_every_public_name_has_a_docstring() -> None:
    missing = [name for module in _modules() for name in _undocumented(module)]
    assert not missing, f"{len(missing)} public names without a docstring: {missing[:20]}"
