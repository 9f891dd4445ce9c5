"""The aggregator seam: a server aggregation rule registered by name (``federation.aggregator``).

An ``AggregatorSpec`` builds the aggregator from its own options (``federation.aggregator_options``, validated
by the spec's pydantic model) and the configured server optimizer (FedOpt), and declares what it composes with:
an aggregator that must see each client's update (a robust statistic such as a trimmed mean) cannot run under
secure aggregation, where the server sees only the sum, nor under user-level DP, whose DP-FedAvg replaces the
aggregation rule. The config asks the spec; there is no central list of refusal rules.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import BaseModel, ValidationError

from fedrec.algorithms.fedavg import FedAvg
from fedrec.algorithms.server_opt import ServerStep
from fedrec.errors import ConfigError


class Aggregator(Protocol):
    """A server aggregation rule: the next global model from the current one and the round's updates (each a
    ``ClientUpdates``; their order must not matter). State it keeps across rounds (optimizer moments) goes in
    ``state_dict``/``load_state_dict`` if it has them, so checkpoints keep it."""

    def aggregate(self, model: Any, updates: list[Any]) -> Any:
        """The next version of ``model`` from a round's ``updates`` (any order)."""
        ...


@dataclass(frozen=True)
class AggregatorSpec:
    """``build(options, server_opt)`` makes the aggregator; ``options`` is the model of its settings (None:
    it takes none); ``needs_individual_updates``: it reads each client's update, not only their sum."""

    build: Callable[[Any, ServerStep], Aggregator]
    options: type[BaseModel] | None = None
    needs_individual_updates: bool = False

    def read_options(self, options: dict[str, Any]) -> Any:
        """The validated options. Raises ``ConfigError`` naming the key and the problem."""
        if self.options is None:
            if options:
                raise ConfigError(
                    f"federation.aggregator_options {sorted(options)} are not read by this aggregator: remove them"
                )
            return None
        try:
            return self.options.model_validate(options)
        except ValidationError as exc:
            error = exc.errors()[0]
            where = ".".join(str(p) for p in error["loc"])
            got = f" (got {error['input']!r})" if error["type"] != "missing" else ""
            raise ConfigError(f"federation.aggregator_options.{where}: {error['msg']}{got}") from None

    def problem(self, name: str, secure_aggregation: bool, user_dp: bool) -> str | None:
        """Why the aggregator registered as ``name`` cannot run with the run's privacy settings, or None."""
        if user_dp and name != "fedavg":
            return (
                f"federation.aggregator {name}: user-level DP aggregates with DP-FedAvg (clip, sum, noise), which "
                "takes the place of the aggregator; use federation.aggregator fedavg with privacy.dp user"
            )
        if self.needs_individual_updates and secure_aggregation:
            return (
                f"federation.aggregator {name} reads each client's update; secure aggregation shows the server only "
                "the sum: use federation.aggregator fedavg with it"
            )
        return None


FEDAVG = AggregatorSpec(lambda _options, server_opt: FedAvg(server_opt=server_opt))
