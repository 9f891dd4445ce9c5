"""Shared fixtures: the real datasets from ../shared/data as the mirror, and a private cache per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

torch.set_num_threads(1)

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("FEDREC_TEST_MIRROR", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session", autouse=True)
def data_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Every test reads data through the real loader, from the shared mirror into a fresh cache."""
    if not (SHARED_DATA / "movielens" / "ml-100k" / "u.data").is_file():
        pytest.exit(f"the test data mirror {SHARED_DATA} is missing; set FEDREC_TEST_MIRROR to a copy of shared/data")
    env = {"FEDREC_DATA_MIRROR": str(SHARED_DATA), "FEDREC_DATA_DIR": str(tmp_path_factory.mktemp("cache"))}
    os.environ.update(env)
    return env


@pytest.fixture(scope="session")
def ml100k_split():  # type: ignore[no-untyped-def]
    from fedrec.data.movielens import load_ml100k
    from fedrec.data.ratings import per_user_holdout

    return per_user_holdout(load_ml100k(), 0.2, 0)


@pytest.fixture(scope="session")
def ml100k_loo():  # type: ignore[no-untyped-def]
    from fedrec.data import load
    from fedrec.data.implicit import leave_one_out

    return leave_one_out(load("ml-100k"), seed=0)


@pytest.fixture
def double_precision():  # type: ignore[no-untyped-def]
    """Adam moves a parameter by about lr * sign(g) whatever |g| is, so float32 rounding in a gradient that is
    nearly zero can flip a step between two correct implementations; in float64 that does not happen, and
    agreement tests can ask for near-exact equality."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)
