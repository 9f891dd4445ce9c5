"""What each side of a run loads, from the task's spec (``TaskSpec``).

The simulation loads the whole task data (``parts.load_task_data``). In the cluster mode the server reads only
what shapes the model and counts the clients, and a client process keeps only its own clients' data: for
rating and ranking the server reads the dataset's catalogue and a client process streams only its users'
rows; a classification split is a function of every example, so both sides parse the whole dataset and keep
only their share (see each spec's docstring).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fedrec.config import RunConfig
from fedrec.experiment.build import task_spec


def server_data(config: RunConfig) -> Any:
    """The task data of a server: every client's count and the model's shapes, no client's examples."""
    return task_spec(config).server_data(config)


def client_data(config: RunConfig, client_ids: np.ndarray) -> Any:
    """The task data of a client process hosting ``client_ids``: theirs only, split as in the simulation."""
    return task_spec(config).client_data(config, np.sort(np.asarray(client_ids, dtype=np.int64)))


def most_examples(config: RunConfig) -> int | None:
    """The most training examples one honest client can hold; None where only the whole data would tell (the
    server then bounds a client's count only by its first JOIN)."""
    return task_spec(config).most_examples(config)


def count_clients(config: RunConfig) -> int:
    """How many clients the run has, reading no more than that takes."""
    return task_spec(config).count_clients(config)


def data_report(config: RunConfig, data: Any) -> dict[str, int] | None:
    """What loading and splitting did to the data, for ``summary.json`` (None: nothing to report)."""
    return task_spec(config).data_report(data)
