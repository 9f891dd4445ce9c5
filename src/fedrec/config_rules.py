"""Which settings the chosen task, model and split read: a setting changed from its default that the run
would never read is refused, rather than silently ignored (``--set model.classifier=gcn`` on a rating run).

Whole mode-dependent sections (``federation``, ``centralized``, ``distributed``, ``devices``) are not refused
for the mode: one config file serves every mode of a task, so its other modes' settings are expected to be
there. Within a section, a key that only one kind reads (``devices.up_bytes_per_s`` with ``devices.kind:
uniform``, ``federation.buffer_size`` with ``policy: sync``) is refused like any other unread setting.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

if TYPE_CHECKING:
    from fedrec.config import RunConfig

CLASSIFYING = ("classification", "node_classification")
RECOMMENDING = ("rating", "ranking")
CLASSIFIERS = {"classification": ("logreg", "mlp", "cnn"), "node_classification": ("gcn", "sage", "gat")}


def _readers(config: RunConfig) -> dict[str, tuple[bool, str]]:
    """Each task-dependent key -> (whether this run reads it, which runs do)."""
    task, split, kind = config.task, config.split, config.model.kind
    classifying, graphs = task in CLASSIFYING, task == "node_classification"
    readers = {
        "model.classifier": (classifying, "the classification and node_classification tasks"),
        "model.hidden": (classifying or kind in ("mlp", "neumf"), "classifiers and the NCF models mlp and neumf"),
        "model.dim": (task in RECOMMENDING, "the rating and ranking tasks (a classifier's width is model.hidden)"),
        "model.init_std": (task in RECOMMENDING, "the rating and ranking tasks"),
        "data.test_fraction": (task == "rating", "the rating task (ranking holds out each user's latest item)"),
        "data.normalize_features": (graphs, "graph data (task node_classification)"),
        "split.kind": (classifying, "the classification and node_classification tasks"),
        "split.clients": (classifying and split.kind != "natural", "every split but natural (a client per value)"),
        "split.alpha": (classifying and split.kind == "dirichlet", "split.kind dirichlet"),
        "split.classes_per_client": (classifying and split.kind == "shards", "split.kind shards"),
        "split.attribute": (classifying and split.kind == "natural", "split.kind natural"),
        "split.min_size": (classifying and split.kind == "natural", "split.kind natural"),
        "split.node_masks": (graphs, "graph data (task node_classification)"),
        "split.val_share": (graphs and split.node_masks == "random", "split.node_masks random"),
        "split.test_share": (graphs and split.node_masks == "random", "split.node_masks random"),
    }
    for name in type(config.ranking).model_fields:
        readers[f"ranking.{name}"] = (task == "ranking", "the ranking task")
    return readers | _kind_readers(config)


def _kind_readers(config: RunConfig) -> dict[str, tuple[bool, str]]:
    """Keys that only one kind of a section reads (the section's tag: devices.kind, federation.policy, ...)."""
    d, f, p = config.devices, config.federation, config.privacy
    lognormal, sync, opt = d.kind == "lognormal", f.policy == "sync", f.server_optimizer
    readers = {
        "devices.examples_per_s": (d.kind != "trace", "devices.kind uniform and lognormal (a trace gives speeds)"),
        "devices.down_bytes_per_s": (d.kind != "trace", "devices.kind uniform and lognormal"),
        "federation.deadline_s": (sync, "federation.policy sync"),
        "federation.quorum": (sync, "federation.policy sync"),
        "federation.over_selection": (sync, "federation.policy sync"),
        "federation.server_beta1": (opt != "sgd", "federation.server_optimizer momentum, adam, yogi, adagrad"),
        "federation.server_beta2": (opt in ("adam", "yogi"), "federation.server_optimizer adam and yogi"),
        "federation.server_tau": (
            opt in ("adam", "yogi", "adagrad"),
            "federation.server_optimizer adam, yogi, adagrad",
        ),
        "federation.proximal_mu": (f.algorithm == "fedprox", "federation.algorithm fedprox"),
        "privacy.clip_norm": (p.dp != "none", "privacy.dp user and local"),
        "privacy.accountant": (p.dp != "none", "privacy.dp user and local"),
        "privacy.delta": (p.dp != "none", "privacy.dp user and local"),
        "privacy.threshold": (p.secure_aggregation, "privacy.secure_aggregation true"),
    }
    for name in ("speed_spread", "up_bytes_per_s", "bandwidth_spread", "availability", "mean_online_s"):
        readers[f"devices.{name}"] = (lognormal, "devices.kind lognormal")
    for name in ("concurrency", "buffer_size", "max_staleness", "staleness_exponent"):
        readers[f"federation.{name}"] = (not sync, "federation.policy fedbuff")
    return readers


def _value_and_default(config: RunConfig, dotted: str) -> tuple[Any, Any]:
    section_name, name = dotted.split(".")
    section: BaseModel = getattr(config, section_name)
    default = type(section).model_fields[name].get_default(call_default_factory=True)
    return getattr(section, name), default


def unread_setting(config: RunConfig) -> str | None:
    """Why the first changed setting this run never reads is refused, or None when every one is read."""
    for dotted, (read, readers) in _readers(config).items():
        value, default = _value_and_default(config, dotted)
        if not read and value != default:
            return (
                f"{dotted}={value!r} has no effect on {_run_kind(config, dotted)}: it applies to {readers}; remove it"
            )
    return None


def _run_kind(config: RunConfig, dotted: str) -> str:
    section = dotted.split(".")[0]
    if section == "devices":
        return f"devices.kind {config.devices.kind}"
    if section == "federation":
        f = config.federation
        return f"federation.policy {f.policy}, server_optimizer {f.server_optimizer}, algorithm {f.algorithm}"
    if section == "privacy":
        p = config.privacy
        return f"privacy.dp {p.dp} with secure_aggregation {str(p.secure_aggregation).lower()}"
    if config.task in CLASSIFYING:
        return f"a {config.task} run with split.kind {config.split.kind}"
    return f"a {config.task} run with model.kind {config.model.kind}"


def classifier_mismatch(config: RunConfig) -> str | None:
    """Why model.classifier cannot classify this task's data, or None."""
    choices = CLASSIFIERS.get(config.task)
    classifier = config.model.classifier
    if choices is not None and classifier not in choices:
        return f"model.classifier {classifier} does not fit task {config.task}: choose one of {', '.join(choices)}"
    if classifier == "cnn" and config.data.name != "fashion-mnist":
        return f"model.classifier cnn reads images (fashion-mnist); for {config.data.name} choose logreg or mlp"
    return None
