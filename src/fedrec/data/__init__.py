"""Datasets: the table of sources and checksums, download with verification, parsers and splitters."""

from collections.abc import Callable
from functools import partial

from fedrec.data.movielens import PARSERS, load, load_ml100k
from fedrec.data.ratings import Ratings

RATING_LOADERS: dict[str, Callable[[], Ratings]] = {name: partial(load, name) for name in PARSERS}

__all__ = ["RATING_LOADERS", "Ratings", "load", "load_ml100k"]
