"""Which task-dependent settings a run reads: a setting changed from its default that the run would never read
is refused, rather than silently ignored (``--set model.classifier=gcn`` on a rating run).

The sections whose keys depend on a ``kind`` (``federation.policy``, ``federation.server_optimizer``,
``federation.algorithm``, ``devices``, ``privacy.dp``) are tagged unions and refuse another kind's keys by
their shape; what is left here depends on the task, the model kind and the split kind. Whole mode-dependent
sections (``federation``, ``centralized``, ``distributed``, ``devices``) are not refused for the mode: one
config file serves every mode of a task.
"""

from __future__ import annotations

from typing import Any, Protocol

from pydantic import BaseModel

from fedrec.config.sections import DataConfig, ModelConfig, RankingConfig, SplitConfig

CLASSIFYING = ("classification", "node_classification")
RECOMMENDING = ("rating", "ranking")
CLASSIFIERS = {"classification": ("logreg", "mlp", "cnn"), "node_classification": ("gcn", "sage", "gat")}


class TaskSettings(Protocol):
    """The parts of a run config these rules read."""

    @property
    def task(self) -> str:
        """The task's registered name."""
        ...

    @property
    def data(self) -> DataConfig:
        """The data section."""
        ...

    @property
    def model(self) -> ModelConfig:
        """The model section."""
        ...

    @property
    def split(self) -> SplitConfig:
        """The split section."""
        ...

    @property
    def ranking(self) -> RankingConfig:
        """The ranking task's section."""
        ...


def _readers(config: TaskSettings) -> dict[str, tuple[bool, str]]:
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
    return readers


def _value_and_default(config: TaskSettings, dotted: str) -> tuple[Any, Any]:
    section_name, name = dotted.split(".")
    section: BaseModel = getattr(config, section_name)
    default = type(section).model_fields[name].get_default(call_default_factory=True)
    return getattr(section, name), default


def unread_setting(config: TaskSettings) -> str | None:
    """Why the first changed setting this run never reads is refused, or None when every one is read."""
    for dotted, (read, readers) in _readers(config).items():
        value, default = _value_and_default(config, dotted)
        if not read and value != default:
            return f"{dotted}={value!r} has no effect on {_run_kind(config)}: it applies to {readers}; remove it"
    return None


def _run_kind(config: TaskSettings) -> str:
    if config.task in CLASSIFYING:
        return f"a {config.task} run with split.kind {config.split.kind}"
    if config.task in RECOMMENDING:
        return f"a {config.task} run with model.kind {config.model.kind}"
    return f"a {config.task} run"


def classifier_mismatch(config: TaskSettings) -> str | None:
    """Why model.classifier cannot classify this task's data, or None."""
    choices = CLASSIFIERS.get(config.task)
    classifier = config.model.classifier
    if choices is not None and classifier not in choices:
        return f"model.classifier {classifier} does not fit task {config.task}: choose one of {', '.join(choices)}"
    if classifier == "cnn" and config.data.name != "fashion-mnist":
        return f"model.classifier cnn reads images (fashion-mnist); for {config.data.name} choose logreg or mlp"
    return None
