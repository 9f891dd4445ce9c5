"""Parsers for the MovieLens and Last.fm files, each to ``Ratings`` with dense user and item indices."""

from __future__ import annotations

import csv
import gzip
import io
from pathlib import Path

import numpy as np

from fedrec.data.download import ensure_dataset
from fedrec.data.ratings import Ratings
from fedrec.data.registry import get_spec
from fedrec.errors import DataError

NO_TIME = -1


def load(name: str) -> Ratings:
    """Fetch (if needed), verify and parse the dataset ``name``."""
    folder = ensure_dataset(get_spec(name))
    return PARSERS[name](folder)


def load_ml100k() -> Ratings:
    return load("ml-100k")


def parse_ml100k(folder: Path) -> Ratings:
    table = _int_table(folder / "u.data", 4)
    titles = _titles((folder / "u.item").read_text(encoding="latin-1"), "|")
    return _ratings("ml-100k", table, titles, (1.0, 5.0))


def parse_ml1m(folder: Path) -> Ratings:
    text = (folder / "ratings.dat").read_bytes().replace(b"::", b"\t")
    table = np.array(text.split(), dtype=np.int64).reshape(-1, 4)
    titles = _titles((folder / "movies.dat").read_text(encoding="latin-1").replace("::", "\t"), "\t")
    return _ratings("ml-1m", table, titles, (1.0, 5.0))


def parse_ml1m_derived(folder: Path) -> Ratings:
    """The third-party ML-1M copy: no timestamps, item ids renumbered, so no titles can be joined."""
    rows = gzip.decompress((folder / "ratings_user_item_rating.csv.gz").read_bytes()).split(b"\n", 1)[1]
    table = np.array(rows.replace(b",", b" ").split(), dtype=np.int64).reshape(-1, 3)
    table = np.column_stack([table, np.full(len(table), NO_TIME)])
    return _ratings("ml-1m-derived", table, {}, (1.0, 5.0))


def parse_ml_latest_small(folder: Path) -> Ratings:
    reader = csv.reader(io.StringIO((folder / "ratings.csv").read_text(encoding="utf-8")))
    next(reader)
    rows = list(reader)
    users = np.array([r[0] for r in rows], dtype=np.int64)
    items = np.array([r[1] for r in rows], dtype=np.int64)
    values = np.array([r[2] for r in rows], dtype=np.float32)
    stamps = np.array([r[3] for r in rows], dtype=np.int64)
    movies = csv.reader(io.StringIO((folder / "movies.csv").read_text(encoding="utf-8")))
    next(movies)
    titles = {int(r[0]): r[1] for r in movies if r}
    return _ratings("ml-latest-small", (users, items, values, stamps), titles, (0.5, 5.0))


def parse_lastfm(folder: Path) -> Ratings:
    """User-artist play counts: the count is the value; every pair is one implicit interaction."""
    body = (folder / "user_artists.dat").read_bytes().split(b"\n", 1)[1]
    table = np.array(body.split(), dtype=np.int64).reshape(-1, 3)
    table = np.column_stack([table, np.full(len(table), NO_TIME)])
    titles = _titles((folder / "artists.dat").read_text(encoding="utf-8").split("\n", 1)[1], "\t")
    return _ratings("lastfm-2k", table, titles, (float(table[:, 2].min()), float(table[:, 2].max())))


def _int_table(path: Path, columns: int) -> np.ndarray:
    raw = path.read_bytes().split()
    if len(raw) % columns:
        raise DataError(f"{path} does not have {columns} fields per line; replace it with the official file")
    return np.array(raw, dtype=np.int64).reshape(-1, columns)


def _titles(text: str, separator: str) -> dict[int, str]:
    titles: dict[int, str] = {}
    for line in text.splitlines():
        fields = line.split(separator)
        if len(fields) >= 2 and fields[0].strip().isdigit():
            titles[int(fields[0])] = fields[1]
    return titles


def _ratings(
    name: str,
    table: np.ndarray | tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    titles: dict[int, str],
    rating_range: tuple[float, float],
) -> Ratings:
    users_raw, items_raw, values, stamps = (table[:, k] for k in range(4)) if isinstance(table, np.ndarray) else table
    user_ids, users = np.unique(users_raw, return_inverse=True)
    item_ids, items = np.unique(items_raw, return_inverse=True)
    return Ratings(
        name=name,
        users=users.astype(np.int64),
        items=items.astype(np.int64),
        values=np.asarray(values, dtype=np.float32),
        timestamps=np.asarray(stamps, dtype=np.int64),
        user_ids=user_ids,
        item_ids=item_ids,
        item_titles=tuple(titles.get(int(i), f"item {i}") for i in item_ids),
        rating_range=rating_range,
    )


PARSERS = {
    "ml-100k": parse_ml100k,
    "ml-1m": parse_ml1m,
    "ml-1m-derived": parse_ml1m_derived,
    "ml-latest-small": parse_ml_latest_small,
    "lastfm-2k": parse_lastfm,
}
