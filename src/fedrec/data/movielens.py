"""Parsers for the MovieLens files."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fedrec.data.download import ensure_dataset
from fedrec.data.ratings import Ratings
from fedrec.data.registry import get_spec
from fedrec.errors import DataError


def load_ml100k() -> Ratings:
    folder = ensure_dataset(get_spec("ml-100k"))
    return parse_ml100k(folder)


def parse_ml100k(folder: Path) -> Ratings:
    raw = (folder / "u.data").read_bytes().split()
    if len(raw) % 4:
        raise DataError(f"{folder / 'u.data'} does not have 4 fields per line; replace it with the official file")
    table = np.array(raw, dtype=np.int64).reshape(-1, 4)
    user_ids, users = np.unique(table[:, 0], return_inverse=True)
    item_ids, items = np.unique(table[:, 1], return_inverse=True)
    titles = _ml100k_titles(folder / "u.item")
    return Ratings(
        name="ml-100k",
        users=users.astype(np.int64),
        items=items.astype(np.int64),
        values=table[:, 2].astype(np.float32),
        timestamps=table[:, 3],
        user_ids=user_ids,
        item_ids=item_ids,
        item_titles=tuple(titles.get(int(i), f"movie {i}") for i in item_ids),
        rating_range=(1.0, 5.0),
    )


def _ml100k_titles(path: Path) -> dict[int, str]:
    titles: dict[int, str] = {}
    for line in path.read_text(encoding="latin-1").splitlines():
        fields = line.split("|")
        if len(fields) >= 2 and fields[0].isdigit():
            titles[int(fields[0])] = fields[1]
    return titles
