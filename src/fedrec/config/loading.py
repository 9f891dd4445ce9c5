"""A config from a YAML file (or the defaults) plus ``--set a.b=c`` overrides, and its errors in one line.

A few flat keys are shortcuts other tools rely on whatever the nesting: ``rounds``, ``seed``, ``mode``,
``epochs``, ``lr``. A tagged section's kind may be set on its own (``--set federation.policy=fedbuff``) and its
keys after it (``--set federation.policy.buffer_size=100``).
"""

from __future__ import annotations

import types
import typing
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from fedrec.config.files import read_yaml_mapping
from fedrec.config.schema import RunConfig
from fedrec.errors import ConfigError
from fedrec.registry import load_plugins

PLUGIN_TAG = "plugin"  # the union member of a tagged section that takes a plug-in's registered kind
SHORTCUTS = {"rounds": "federation.rounds", "epochs": "train.epochs", "lr": "train.lr"}


def _shortcut(key: str, mode: Any) -> str:
    """The key a shortcut stands for; ``rounds`` of a centralized run are its epochs."""
    if key == "rounds" and mode == "centralized":
        return "centralized.epochs"
    return SHORTCUTS.get(key, key)


def _variants(annotation: Any) -> dict[str, type[BaseModel]]:
    """The sections of a tagged union by kind (empty for any other annotation)."""
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    if typing.get_origin(annotation) not in (typing.Union, types.UnionType):
        return {}
    found: dict[str, type[BaseModel]] = {}
    for member in typing.get_args(annotation):
        while typing.get_origin(member) is typing.Annotated:  # a member tagged for a callable discriminator
            member = typing.get_args(member)[0]
        if isinstance(member, type) and issubclass(member, BaseModel) and "kind" in member.model_fields:
            if member.model_fields["kind"].annotation in (str, "str"):  # any registered kind: a plug-in's
                found[PLUGIN_TAG] = member
            for kind in typing.get_args(member.model_fields["kind"].annotation):
                found[str(kind)] = member
    return found


def _section(annotation: Any) -> type[BaseModel] | None:
    """The section an annotation holds (``X``, ``X | None``), or None."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    members = [a for a in typing.get_args(annotation) if isinstance(a, type) and issubclass(a, BaseModel)]
    return members[0] if len(members) == 1 and not _variants(annotation) else None


def valid_keys(model: type[BaseModel] = RunConfig, prefix: str = "") -> list[str]:
    """Every settable key, dotted; a tagged section's keys are those of all its kinds."""
    keys: list[str] = []
    for name, field in model.model_fields.items():
        variants, section = _variants(field.annotation), _section(field.annotation)
        if variants:
            for variant in dict.fromkeys(variants.values()):
                keys += [k for k in valid_keys(variant, f"{prefix}{name}.") if k not in keys]
        elif section is not None:
            keys += valid_keys(section, f"{prefix}{name}.")
        else:
            keys.append(f"{prefix}{name}")
    return keys


def parse_override(text: str) -> tuple[str, Any]:
    """``key=value`` as ``(key, value)``, the value parsed as YAML (``null``, numbers, lists, ``{kind: x}``); raises
    ``ConfigError`` without ``=``."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set expects key=value, got {text!r} (for example --set rounds=20)")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key.strip(), value


def _assign(tree: dict[str, Any], dotted: str, value: Any) -> None:
    """Set ``dotted`` in ``tree``. A tagged section given by its kind takes the keys that follow; a kind set over
    a section of another kind replaces it (the new kind starts from its own defaults), over keys of no kind or
    of the same kind keeps them; an optional section that is off (``false``, null) is turned on by its keys."""
    *parents, leaf = dotted.split(".")
    node = tree
    for depth, part in enumerate(parents):
        child = node.setdefault(part, {})
        if isinstance(child, str) and _tagged_at(".".join(parents[: depth + 1])):
            child = node[part] = {"kind": child}
        elif child is True or child is False or child is None:  # privacy.secure_aggregation: on, by its keys
            child = node[part] = {}
        if not isinstance(child, dict):
            raise ConfigError(f"{dotted}: {part} is a value, not a section; valid keys: {', '.join(valid_keys())}")
        node = child
    existing = node.get(leaf)
    section = ".".join(parents)
    if leaf == "kind" and isinstance(value, str) and _tagged_at(section) and node.get("kind", value) != value:
        node.clear()  # ``section.kind=other``: as ``section=other``, the new kind starts from its own defaults
        node["kind"] = value
    elif isinstance(value, str) and isinstance(existing, dict) and _tagged_at(dotted):
        if existing.get("kind", value) != value:
            node[leaf] = {"kind": value}  # another kind: its own defaults, not the keys of the one it replaces
        else:
            existing["kind"] = value
    elif value is True and isinstance(existing, dict):  # switched on, with the keys already given
        pass
    else:
        node[leaf] = value


def load_config(path: Path | None = None, overrides: list[str] | None = None) -> RunConfig:
    """The config of a YAML file (or the defaults) with ``--set`` overrides applied in order.

    Shortcuts resolve against the run's final mode, wherever ``mode`` is set: ``--set rounds=2 --set
    mode=centralized`` trains 2 epochs. Raises ``ConfigError`` with one line naming the key and the fix.
    """
    tree: dict[str, Any] = {}
    if path is not None:
        tree = read_yaml_mapping(path)
    pairs = [parse_override(text) for text in overrides or []]
    mode = next((value for key, value in reversed(pairs) if key == "mode"), tree.get("mode"))
    for key, value in pairs:
        if mode == "centralized" and key == "federation.rounds":
            raise ConfigError("a centralized run trains centralized.epochs, not federation.rounds: --set rounds=N")
        _assign(tree, _shortcut(key, mode), value)
    return build_config(tree)


def build_config(tree: dict[str, Any]) -> RunConfig:
    """The config of a parsed tree; the modules under ``plugins`` are imported first (they register the
    components the rest may name). Raises ``ConfigError`` with one line naming the key and the fix."""
    load_plugins(tree.get("plugins") if isinstance(tree, dict) else None)
    try:
        return RunConfig.model_validate(tree)
    except ValidationError as exc:
        raise ConfigError(_explain(exc)) from None


# keys that moved into a tagged section: an older config is told where each one lives now
MOVED = {
    **{f"federation.server_{k}": f"federation.server_optimizer.{k}" for k in ("lr", "beta1", "beta2", "tau")},
    "federation.proximal_mu": "federation.algorithm.mu",
    **{
        f"federation.{k}": f"federation.policy.{k}"
        for k in (
            "deadline_s",
            "quorum",
            "over_selection",
            "concurrency",
            "buffer_size",
            "max_staleness",
            "staleness_exponent",
        )
    },  # fmt: skip
    **{
        f"privacy.{k}": f"privacy.dp.{k}"
        for k in ("clip_norm", "noise_multiplier", "target_epsilon", "delta", "epsilon_budget", "accountant")
    },
    **{f"privacy.{k}": f"privacy.secure_aggregation.{k}" for k in ("threshold", "dropout")},
}


def _explain(exc: ValidationError) -> str:
    """One line for the most telling of ``exc``'s errors: a key that moved, then an unknown key (a typo is the
    cause of what follows from it), then the first."""
    errors = exc.errors()
    moved = [e for e in errors if e["type"] == "extra_forbidden" and _locate(e["loc"])[0] in MOVED]
    unknown = [e for e in errors if e["type"] == "extra_forbidden"]
    error = (moved or unknown or errors)[0]
    where, kind, variant = _locate(error["loc"])
    if error["type"] == "extra_forbidden" and where in MOVED:
        return f"config key {where!r} has moved: set {MOVED[where]} (its section chooses a kind; see examples/)"
    section, _, key = where.rpartition(".")
    if error["type"] == "extra_forbidden" and kind == PLUGIN_TAG:
        return (f"{where} does not apply to a plug-in's {section} kind: its settings go under {section}.options "
                f"(--set '{section}={{kind: NAME, options: {{...}}}}' sets the whole section)")  # fmt: skip
    if error["type"] == "extra_forbidden" and kind is not None and variant is not None:
        own = ", ".join(k for k in variant.model_fields if k != "kind") or "none but kind"
        takers = [k for k, v in _tagged_at(section).items() if key in v.model_fields and k != PLUGIN_TAG]
        elsewhere = f"; {key} is a key of kind {' and '.join(takers)}" if takers else ""
        return f"{where} does not apply to {section} kind {kind} (its keys: {own}){elsewhere}"
    if error["type"] == "missing":
        return f"{where} must be set" + (f" for {section} kind {kind}" if kind is not None else "")
    if error["type"] == "extra_forbidden":
        return f"unknown config key {where!r}; valid keys: {', '.join(valid_keys())}"
    if error["type"] == "union_tag_invalid":
        tags = error.get("ctx", {}).get("expected_tags", "")
        return f"{where}: unknown kind {error.get('ctx', {}).get('tag')!r}; choose one of {tags}"
    if error["type"] == "value_error":  # a rule across keys: its message names them and the fix
        return f"{where + ': ' if where else ''}{error['ctx']['error']}"
    return f"invalid value for {where or 'config'}: {error['msg']} (got {error.get('input')!r})"


def _locate(loc: tuple[int | str, ...]) -> tuple[str, str | None, type[BaseModel] | None]:
    """The dotted key of an error's location without the union tags pydantic inserts, and the innermost tagged
    section's kind and model, if the key lies in one."""
    model: type[BaseModel] | None = RunConfig
    names: list[str] = []
    kind: str | None = None
    variant: type[BaseModel] | None = None
    parts = list(loc)
    while parts:
        part = str(parts.pop(0))
        names.append(part)
        field = model.model_fields.get(part) if model is not None else None
        if field is None:
            model = None
            continue
        variants = _variants(field.annotation)
        if variants and parts and str(parts[0]) == PLUGIN_TAG:  # a plug-in's section (its kind is registered)
            kind = str(parts.pop(0))
            model = variant = variants.get(PLUGIN_TAG)
        elif variants and parts and str(parts[0]) in variants:
            kind = str(parts.pop(0))
            model = variant = variants[kind]
        else:
            model = _section(field.annotation)
    return ".".join(names), kind, variant


def _tagged_at(dotted: str) -> dict[str, type[BaseModel]]:
    """The kinds of the tagged section at ``dotted`` (``federation.policy``)."""
    model: type[BaseModel] | None = RunConfig
    variants: dict[str, type[BaseModel]] = {}
    for part in dotted.split("."):
        field = model.model_fields.get(part) if model is not None else None
        if field is None:
            return {}
        variants, model = _variants(field.annotation), _section(field.annotation)
    return variants


def dump_config(config: RunConfig) -> str:
    """The resolved config as YAML (every key, only the chosen kinds'), as saved in a run folder; it loads again to an
    equal config."""
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)
