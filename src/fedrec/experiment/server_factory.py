"""The one server factory: the simulation and the cluster's server build their ``Server`` here, from the same
config, so the two run the same aggregator, policy, checks and metric combiner."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from fedrec.config import RunConfig
from fedrec.experiment import build_privacy
from fedrec.experiment.build import aggregator, round_policy, update_check
from fedrec.experiment.checkpoint import ServerCheckpointer
from fedrec.experiment.recorder import RunRecorder
from fedrec.payloads import GlobalModel
from fedrec.privacy.accountant import PrivacyLedger
from fedrec.run_folder import RunFolder
from fedrec.runtime.protocols import MetricCombiner
from fedrec.runtime.server import Server
from fedrec.runtime.steps import ServerPlan


def server_plan(config: RunConfig, first_round: int = 1) -> ServerPlan:
    """The server's plan from the config: rounds, evaluation cadence, deadline and quorum (sync rounds), the cluster's
    timeouts, and the most examples a client may claim."""
    fed = config.federation
    return ServerPlan(fed.rounds, fed.eval_every, first_round, fed.deadline_s, fed.quorum)


def build_server(
    config: RunConfig,
    model: GlobalModel,
    plan: ServerPlan,
    num_clients: int,
    metrics: MetricCombiner,
    spent: PrivacyLedger | None,
    recorder: RunRecorder | None,
    folder: RunFolder | None,
    wait_for: int | None = None,
    online: Callable[[np.ndarray, float], np.ndarray] | None = None,
) -> Server:
    """The server of a run with ``num_clients`` clients; ``wait_for``: clients that must join before round 1
    (default all); ``online``: the simulated devices' availability (None: always online)."""
    return Server(
        model=model,
        plan=plan,
        num_clients=wait_for or num_clients,
        sampler=build_privacy.sampler(config),
        aggregator=aggregator(config, num_clients, spent),
        metrics=metrics,
        checkpointer=ServerCheckpointer(folder),
        observer=recorder,
        check=update_check(config),
        policy=build_privacy.secure_policy(config, spent, num_clients) or round_policy(config, num_clients),
        online=online,
        budget=spent.refuses if spent is not None else None,
    )
