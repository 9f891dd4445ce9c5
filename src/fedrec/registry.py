"""Registries: the named components a config chooses from, which code outside the package can add to.

Each seam of fedrec (a task, a server aggregator or optimizer, a client term, an execution backend, a round
policy, a device model) has one registry here.
A config names a component by its registered name (``task: rating``, ``federation.aggregator: fedavg``,
``federation.backend: inprocess``, ``federation.policy: {kind: NAME}``); the composition root looks the name up
instead of keeping ``if`` chains.

The built-in components are registered lazily, as ``"module:attribute"`` strings imported on first use (the
same idea as Python's entry points), so naming a component never pays for importing the others (graph
learning pulls in PyTorch Geometric). An extension registers an object directly::

    from fedrec.algorithms.registry import AggregatorSpec
    from fedrec.registry import AGGREGATORS
    AGGREGATORS.register("trimmed_mean", AggregatorSpec(build, TrimOptions, needs_individual_updates=True))

and a config loads the extension's module by listing it under ``plugins``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from fedrec.errors import ConfigError

if TYPE_CHECKING:
    from fedrec.algorithms.registry import AggregatorSpec
    from fedrec.algorithms.server_opt import ServerStepSpec
    from fedrec.engine.objective import ClientTermSpec
    from fedrec.runtime.devices import DeviceSpec
    from fedrec.runtime.rounds.base import PolicySpec
    from fedrec.transport.backends import BackendFactory

T = TypeVar("T")


class Registry(Generic[T]):
    """Components of one kind (``what``, e.g. "task") by name.

    Raises ``ConfigError`` naming the registered ones when a name is unknown, and ``ValueError`` when a name is
    registered twice (pass ``replace=True`` to override a component on purpose)."""

    def __init__(self, what: str, builtin: dict[str, str] | None = None) -> None:
        self.what = what
        self._lazy: dict[str, str] = dict(builtin or {})
        self._loaded: dict[str, T] = {}

    def register(self, name: str, component: T, replace: bool = False) -> T:
        """Add ``component`` under ``name``; returns it, so a registration can be one line."""
        if not name or not isinstance(name, str):
            raise ValueError(f"a {self.what} needs a non-empty name, got {name!r}")
        if name in self and not replace:
            raise ValueError(f"the {self.what} name {name!r} is already registered; pass replace=True to override it")
        self._lazy.pop(name, None)
        self._loaded[name] = component
        return component

    def unregister(self, name: str) -> None:
        """Remove ``name`` (tests that register a component take it back)."""
        self._lazy.pop(name, None)
        self._loaded.pop(name, None)

    def names(self) -> list[str]:
        """Every registered name, sorted (built-ins not imported yet included)."""
        return sorted({*self._lazy, *self._loaded})

    def __contains__(self, name: object) -> bool:
        return name in self._lazy or name in self._loaded

    def get(self, name: str) -> T:
        """The component registered as ``name`` (a built-in is imported on first use); raises ``ConfigError`` naming
        the registered ones for an unknown name."""
        if name in self._loaded:
            return self._loaded[name]
        if name not in self._lazy:
            raise ConfigError(self.unknown(name))
        module, _, attribute = self._lazy[name].partition(":")
        component: T = getattr(importlib.import_module(module), attribute)  # a failed import keeps the entry
        del self._lazy[name]
        self._loaded[name] = component
        return component

    def unknown(self, name: Any) -> str:
        """The one-line refusal of an unknown name."""
        return (
            f"unknown {self.what} {name!r}; registered: {', '.join(self.names())} "
            "(an extension's module is loaded by listing it under plugins)"
        )


class TaskDeclaration(Protocol):
    """What the config layer and serving ask of a registered task: whether a config fits it, what it supports,
    and its data. ``fedrec.experiment.task_spec.TaskSpec`` is the whole interface a task implements; the
    composition root asks for it with ``task_spec(name)``."""

    @property
    def private_uploads(self) -> bool:
        """Whether local DP and pseudo-items protect its uploads."""
        ...

    @property
    def personal_layers(self) -> bool:
        """Whether it supports ``local_layers`` and Ditto."""
        ...

    @property
    def served(self) -> bool:
        """Whether ``fedrec recommend`` serves its runs (they hold MF's user and item tables)."""
        ...

    @property
    def finetunes(self) -> bool:
        """Whether each client can fine-tune a personal copy before evaluating."""
        ...

    def config_problem(self, config: Any) -> str | None:
        """Why it refuses ``config`` (one line), or None."""
        ...

    def load(self, config: Any) -> Any:
        """Its data for ``config``."""
        ...


TASKS: Registry[TaskDeclaration] = Registry(
    "task",
    {
        "rating": "fedrec.experiment.task_specs.rating:SPEC",
        "ranking": "fedrec.experiment.task_specs.ranking:SPEC",
        "classification": "fedrec.experiment.task_specs.classification:SPEC",
        "node_classification": "fedrec.experiment.task_specs.node_classification:SPEC",
    },
)
AGGREGATORS: Registry[AggregatorSpec] = Registry("aggregator", {"fedavg": "fedrec.algorithms.registry:FEDAVG"})
BACKENDS: Registry[BackendFactory] = Registry("backend", {"inprocess": "fedrec.transport.backends:InProcessBackend"})
POLICIES: Registry[PolicySpec] = Registry("round policy")  # plug-ins; sync and fedbuff are the config's own kinds
DEVICES: Registry[DeviceSpec] = Registry("device model")  # plug-ins; uniform, lognormal, trace are the config's
SERVER_OPTIMIZERS: Registry[ServerStepSpec] = Registry("server optimizer")  # plug-ins beside the five built in
CLIENT_TERMS: Registry[ClientTermSpec] = Registry("client term")  # plug-ins beside fedavg, fedprox, scaffold


LOADED_PLUGINS: set[str] = set()  # the modules ``load_plugins`` imported in this process


def load_plugins(modules: Any) -> None:
    """Import each module named in a config's ``plugins`` (they register their components as they load).

    Raises ``ConfigError`` naming the module that cannot be found (the fix: ``PYTHONPATH``) or that failed
    while it loaded (the fix: the module itself)."""
    if modules is None:
        return
    if isinstance(modules, str) and modules:
        raise ConfigError(f"plugins must be a list of module names: plugins=[{modules}], not plugins={modules}")
    if not isinstance(modules, list | tuple) or not all(isinstance(m, str) and m for m in modules):
        raise ConfigError(f"plugins must be a list of module names, got {modules!r}")
    for module in modules:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name is not None and (module == exc.name or module.startswith(exc.name + ".")):
                raise ConfigError(f"plugins: no module named {module!r}; put its folder on PYTHONPATH") from None
            raise ConfigError(
                f"plugins: {module!r} imports a module that is missing: {exc}; install it, or fix the module"
            ) from None
        except Exception as exc:  # an extension's import error is the user's to fix: say which and why
            raise ConfigError(f"plugins: {module!r} failed while it loaded: {_where(exc)}; fix the module") from None
        LOADED_PLUGINS.add(module)


def plugin_failure(error: BaseException) -> ConfigError | None:
    """A one-line error for an exception a plug-in's own code raised (its frames are in a module ``plugins``
    loaded), or None when it came from elsewhere (a bug of fedrec's, which keeps its traceback)."""
    if not isinstance(error, Exception) or isinstance(error, ConfigError) or not LOADED_PLUGINS:
        return None
    trace, culprit, frame = error.__traceback__, None, None
    while trace is not None:
        module = str(trace.tb_frame.f_globals.get("__name__", ""))
        if any(module == name or module.startswith(name + ".") for name in LOADED_PLUGINS):
            culprit, frame = module, trace  # the innermost frame of the plug-in's own code
        trace = trace.tb_next
    if culprit is None:
        return None
    return ConfigError(f"the plug-in {culprit!r} raised {_where(error, frame)}; fix the plug-in")


def _where(error: BaseException, frame: Any = None) -> str:
    """``Type: message (file:line)``: where a syntax error is, else the given traceback entry's line (by default
    the innermost)."""
    trace = frame if frame is not None else error.__traceback__
    while frame is None and trace is not None and trace.tb_next is not None:
        trace = trace.tb_next
    place = f" ({trace.tb_frame.f_code.co_filename}:{trace.tb_lineno})" if trace is not None else ""
    if isinstance(error, SyntaxError) and error.filename:
        place = f" ({error.filename}:{error.lineno})"
        message = error.msg
    else:
        message = str(error).splitlines()[0] if str(error) else ""
    return f"{type(error).__name__}: {message}{place}"
