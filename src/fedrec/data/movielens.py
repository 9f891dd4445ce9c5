"""Parsers for the MovieLens and Last.fm files, each to ``Ratings`` with dense user and item indices.

Every parser streams its interactions file block by block, so a client process can keep only its own users'
rows while it reads (``load_users``), and the whole-dataset loader (``load``) is the same reader keeping
everything. A (user, item) pair given more than once is merged at load time into its latest interaction
(``ratings.merge_duplicates``); the count of merged rows is in the dataset's catalogue.
"""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from itertools import islice
from pathlib import Path
from typing import BinaryIO

import numpy as np

from fedrec.data.catalogue import CATALOGUE_FILE, Catalogue, read_catalogue, write_catalogue
from fedrec.data.download import cache_root, ensure_dataset
from fedrec.data.ratings import Ratings, merge_duplicates
from fedrec.data.registry import DatasetSpec, get_spec
from fedrec.errors import DataError

NO_TIME = -1
BLOCK_LINES = 1 << 16
FIELDS = ("users", "items", "values", "timestamps")


@dataclass(frozen=True)
class Columns:
    """Interactions as the file gives them: original user and item ids, values, timestamps."""

    users: np.ndarray  # int64
    items: np.ndarray  # int64
    values: np.ndarray  # float32
    timestamps: np.ndarray  # int64, NO_TIME where the dataset has none

    def take(self, index: np.ndarray) -> Columns:
        """The rows at ``index``."""
        return Columns(self.users[index], self.items[index], self.values[index], self.timestamps[index])


@dataclass(frozen=True)
class Parser:
    """How one dataset is read: its interactions block by block, its item titles, its rating scale."""

    interactions: Callable[[Path], Iterator[Columns]]
    titles: Callable[[Path], dict[int, str]]
    rating_range: tuple[float, float] | None  # None: the range of the values found


def load(name: str) -> Ratings:
    """Fetch (if needed), verify and parse the whole dataset ``name``; store its catalogue."""
    spec, parser = get_spec(name), PARSERS[name]
    folder = ensure_dataset(spec)
    columns, rows, source_rows = _read(parser, folder, None)
    keep = merge_duplicates(columns.users, columns.items, columns.timestamps, rows)
    columns = columns.take(keep)
    catalogue = _derive_catalogue(name, columns, parser.titles(folder), parser.rating_range)
    catalogue = replace(catalogue, source_rows=source_rows, duplicates_merged=len(rows) - len(keep))
    if read_catalogue(_catalogue_path(spec), _sources(spec)) is None:
        write_catalogue(_catalogue_path(spec), catalogue, _sources(spec))
    return _indexed(catalogue, columns, rows[keep])


def _derive_catalogue(
    name: str, columns: Columns, titles: dict[int, str], rating_range: tuple[float, float] | None
) -> Catalogue:
    """The users, items and scale of the whole dataset's (merged) interactions; the row counts are left 0."""
    user_ids, per_user = np.unique(columns.users, return_counts=True)
    item_ids = np.unique(columns.items)
    return Catalogue(
        name,
        user_ids.astype(np.int64),
        item_ids.astype(np.int64),
        tuple(titles.get(int(i), f"item {i}") for i in item_ids),
        rating_range or (float(columns.values.min()), float(columns.values.max())),
        bool((columns.timestamps != NO_TIME).all()),
        source_rows=0,
        duplicates_merged=0,
        single_interaction_users=int((per_user == 1).sum()),
    )


def load_catalogue(name: str) -> Catalogue:
    """The dataset's catalogue, from the cache; derived from the files (and stored) if it is not there."""
    spec = get_spec(name)
    return read_catalogue(_catalogue_path(spec), _sources(spec)) or load(name).catalogue


def load_users(name: str, client_ids: np.ndarray) -> Ratings:
    """Only the interactions of clients ``client_ids`` (1-based indices into the catalogue's users), kept
    while the file is read: the rows of other users are parsed one block at a time and dropped."""
    catalogue = load_catalogue(name)
    spec = get_spec(name)
    wanted = catalogue.user_ids[np.asarray(client_ids, dtype=np.int64) - 1]
    columns, rows, source_rows = _read(PARSERS[name], ensure_dataset(spec), wanted)
    if source_rows != catalogue.source_rows:
        raise DataError(f"the {name} files changed since its catalogue was derived; delete {_catalogue_path(spec)}")
    keep = merge_duplicates(columns.users, columns.items, columns.timestamps, rows)
    return _indexed(catalogue, columns.take(keep), rows[keep])


def load_ml100k() -> Ratings:
    """MovieLens-100K (943 users, 1,682 items, 100,000 ratings 1-5), downloaded and checked first."""
    return load("ml-100k")


def _read(parser: Parser, folder: Path, wanted: np.ndarray | None) -> tuple[Columns, np.ndarray, int]:
    """The interactions of the ``wanted`` original user ids (all if None), their source rows, the row count."""
    kept: list[Columns] = []
    rows: list[np.ndarray] = []
    offset = 0
    for block in parser.interactions(folder):
        index = np.arange(len(block.users)) if wanted is None else np.flatnonzero(np.isin(block.users, wanted))
        kept.append(block.take(index))
        rows.append(index + offset)
        offset += len(block.users)
    if not kept:
        raise DataError(f"{folder} holds no interactions; replace its files with the official ones")
    columns = Columns(*(np.concatenate([getattr(c, f) for c in kept]) for f in FIELDS))
    return columns, np.concatenate(rows).astype(np.int64), offset


def _indexed(catalogue: Catalogue, columns: Columns, rows: np.ndarray) -> Ratings:
    """Interactions with their users and items as dense indices into the catalogue."""
    users = np.searchsorted(catalogue.user_ids, columns.users).astype(np.int64)
    items = np.searchsorted(catalogue.item_ids, columns.items).astype(np.int64)
    return Ratings(catalogue, users, items, columns.values, columns.timestamps, rows)


def _catalogue_path(spec: DatasetSpec) -> Path:
    return cache_root() / spec.folder / CATALOGUE_FILE


def _sources(spec: DatasetSpec) -> dict[str, str]:
    return {f.path: f.sha256 for f in spec.files}


# -- the files ------------------------------------------------------------------------------------------------


def _line_blocks(handle: BinaryIO, skip_header: bool = False) -> Iterator[list[bytes]]:
    if skip_header:
        handle.readline()
    while block := list(islice(handle, BLOCK_LINES)):
        yield block


def _int_columns(lines: Iterable[bytes], columns: int, path: Path, separator: bytes = b"") -> np.ndarray:
    text = b" ".join(lines)
    raw = (text.replace(separator, b" ") if separator else text).split()
    if len(raw) % columns:
        raise DataError(f"{path} does not have {columns} fields per line; replace it with the official file")
    return np.array(raw, dtype=np.int64).reshape(-1, columns)


def _from_ints(table: np.ndarray) -> Columns:
    """Columns from an integer table ``[user, item, value(, timestamp)]``."""
    stamps = table[:, 3] if table.shape[1] == 4 else np.full(len(table), NO_TIME, dtype=np.int64)
    return Columns(table[:, 0], table[:, 1], table[:, 2].astype(np.float32), stamps)


def _int_rows(
    name: str, columns: int, separator: bytes = b"", skip_header: bool = False
) -> Callable[[Path], Iterator[Columns]]:
    """A reader of a file of ``columns`` integers a line (gzip if its name ends in .gz)."""

    def rows(folder: Path) -> Iterator[Columns]:
        path = folder / name
        with _open(path) as handle:
            for lines in _line_blocks(handle, skip_header):
                yield _from_ints(_int_columns(lines, columns, path, separator))

    return rows


def _open(path: Path) -> BinaryIO:
    return gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb")  # type: ignore[return-value]


def _csv_rows(folder: Path) -> Iterator[Columns]:
    """ml-latest-small's ``userId,movieId,rating,timestamp`` (half-star ratings)."""
    path = folder / "ratings.csv"
    with path.open("rb") as handle:
        for lines in _line_blocks(handle, skip_header=True):
            table = np.array(b" ".join(lines).replace(b",", b" ").split(), dtype=np.float64)
            if len(table) % 4:
                raise DataError(f"{path} does not have 4 fields per line; replace it with the official file")
            table = table.reshape(-1, 4)
            users, items, stamps = (table[:, k].astype(np.int64) for k in (0, 1, 3))
            yield Columns(users, items, table[:, 2].astype(np.float32), stamps)


def _titles(path: str, separator: str, encoding: str, skip_header: bool = False) -> Callable[[Path], dict[int, str]]:
    """A reader of ``id<separator>title...`` lines."""

    def titles(folder: Path) -> dict[int, str]:
        text = (folder / path).read_text(encoding=encoding)
        found: dict[int, str] = {}
        for line in text.splitlines()[1 if skip_header else 0 :]:
            fields = line.split(separator)
            if len(fields) >= 2 and fields[0].strip().isdigit():
                found[int(fields[0])] = fields[1]
        return found

    return titles


def _csv_titles(folder: Path) -> dict[int, str]:
    movies = csv.reader(io.StringIO((folder / "movies.csv").read_text(encoding="utf-8")))
    next(movies)
    return {int(r[0]): r[1] for r in movies if r}


PARSERS: dict[str, Parser] = {
    "ml-100k": Parser(_int_rows("u.data", 4), _titles("u.item", "|", "latin-1"), (1.0, 5.0)),
    "ml-1m": Parser(_int_rows("ratings.dat", 4, b"::"), _titles("movies.dat", "::", "latin-1"), (1.0, 5.0)),
    # the third-party ML-1M copy: no timestamps, item ids renumbered, so no titles can be joined
    "ml-1m-derived": Parser(
        _int_rows("ratings_user_item_rating.csv.gz", 3, b",", skip_header=True), lambda _: {}, (1.0, 5.0)
    ),
    "ml-latest-small": Parser(_csv_rows, _csv_titles, (0.5, 5.0)),
    # user-artist play counts: the count is the value; every pair is one implicit interaction
    "lastfm-2k": Parser(
        _int_rows("user_artists.dat", 3, skip_header=True), _titles("artists.dat", "\t", "utf-8", True), None
    ),
}
