"""Settings the data cannot honour are refused when the data is loaded, naming the setting and its limit."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from fedrec.config import load_config
from fedrec.data.implicit import fewest_unseen
from fedrec.data.movielens import load_ml100k
from fedrec.errors import ConfigError
from fedrec.experiment.build import load_task_data

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
ADULT = ["task=classification", "data.name=uci-adult"]
SPARSE = ["split.clients=3000", "split.alpha=0.01"]  # more clients than Dirichlet(0.01) ever fills on Adult


def test_fewest_unseen_is_the_catalogue_less_the_most_active_users_items() -> None:
    ratings = load_ml100k()
    assert fewest_unseen(ratings) == 1682 - 737  # user 405 rated 737 of ML-100K's 1,682 movies


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (load_config(overrides=["task=ranking", "ranking.eval_negatives=1000"]),
         "ranking.eval_negatives=1000 is more than the 945 items the most active user of ml-100k has not "
         "interacted with; set ranking.eval_negatives to at most 945"),
        (load_config(EXAMPLES / "adult_natural.yaml", ["split.kind=dirichlet", *SPARSE]),
         "no Dirichlet(0.01) draw in 1000 gives each of 3000 clients 1 examples: raise split.alpha or lower "
         "split.clients"),
        (load_config(overrides=[*ADULT, "split.kind=iid", "split.clients=40000"]),
         "split.kind iid leaves 7439 of split.clients=40000 clients without training examples of uci-adult; "
         "lower split.clients (only 32561 hold any)"),
        (load_config(EXAMPLES / "cora_gcn_louvain.yaml", ["split.kind=random", "split.clients=3000"]),
         "split.kind random leaves 292 of split.clients=3000 clients without nodes of cora; lower split.clients "
         "(only 2708 hold any)"),
    ],
)  # fmt: skip
def test_settings_the_data_cannot_honour_are_refused(config, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_task_data(config)
