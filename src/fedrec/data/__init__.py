"""Datasets: the table of sources and checksums, download with verification, parsers and splitters."""

from collections.abc import Callable

from fedrec.data.movielens import load_ml100k
from fedrec.data.ratings import Ratings

RATING_LOADERS: dict[str, Callable[[], Ratings]] = {"ml-100k": load_ml100k}
