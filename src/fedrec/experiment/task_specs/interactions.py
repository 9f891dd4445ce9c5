"""What the rating and ranking specs share: datasets of (user, item) interactions, one client per user."""

from __future__ import annotations

from fedrec.data.implicit import LeaveOneOut
from fedrec.data.movielens import PARSERS, load_catalogue
from fedrec.data.ratings import RatingSplit

INTERACTION_DATASETS = tuple(PARSERS)


def num_users(data: RatingSplit | LeaveOneOut) -> int:
    """Users of a ratings split or a leave-one-out split."""
    return data.train.num_users


def most_interactions(dataset: str) -> int:
    """The most training examples one honest client can hold: every interaction of the dataset."""
    return load_catalogue(dataset).source_rows


def interactions_report(data: RatingSplit | LeaveOneOut) -> dict[str, int]:
    """Users the split left without training data (not evaluated) and duplicate (user, item) rows merged."""
    catalogue = data.train.catalogue
    # the per-user holdout keeps at least one training rating per user; leave-one-out holds out a single
    # interaction, which leaves a user who has only that one with nothing
    without = catalogue.single_interaction_users if isinstance(data, LeaveOneOut) else 0
    return {"users_without_training": without, "duplicates_merged": catalogue.duplicates_merged}
