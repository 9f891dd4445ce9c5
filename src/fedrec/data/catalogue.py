"""A dataset's catalogue: its users, its items and its rating scale, without a single interaction.

The catalogue is all a federated server needs of a dataset of interactions: the item ids size and index the
item table, the user ids say which client is which user (client ``c`` is ``user_ids[c - 1]``). fedrec derives
it the first time it parses a dataset and keeps it beside the files, in ``<cache>/<folder>/catalogue.json``,
with the sha256 of the files it came from; a stale or foreign catalogue is ignored. A machine that holds
only that file (and no ratings) can serve a run.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

CATALOGUE_FILE = "catalogue.json"
FORMAT = 1


@dataclass(frozen=True)
class Catalogue:
    """What a dataset of interactions holds, without the interactions."""

    name: str
    user_ids: np.ndarray  # int64 [num_users] original ids, sorted: client c is user user_ids[c - 1]
    item_ids: np.ndarray  # int64 [num_items] original ids, sorted: row i of the item table is item_ids[i]
    item_titles: tuple[str, ...]
    rating_range: tuple[float, float]
    has_timestamps: bool
    source_rows: int  # interactions in the source file, duplicates included
    duplicates_merged: int  # rows dropped because their (user, item) pair came again (see ``merge_duplicates``)
    single_interaction_users: int  # users with one interaction: leave-one-out leaves them nothing to train on

    @property
    def num_users(self) -> int:
        """Users in the dataset."""
        return len(self.user_ids)

    @property
    def num_items(self) -> int:
        """Items in the dataset."""
        return len(self.item_ids)

    def to_dict(self) -> dict[str, Any]:
        """The catalogue as JSON-ready values (saved with a run, read back by ``from_dict``)."""
        return {
            "name": self.name,
            "user_ids": self.user_ids.tolist(),
            "item_ids": self.item_ids.tolist(),
            "item_titles": list(self.item_titles),
            "rating_range": list(self.rating_range),
            "has_timestamps": self.has_timestamps,
            "source_rows": self.source_rows,
            "duplicates_merged": self.duplicates_merged,
            "single_interaction_users": self.single_interaction_users,
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Catalogue:
        """A catalogue from ``to_dict``'s values."""
        low, high = raw["rating_range"]
        return cls(
            raw["name"],
            np.asarray(raw["user_ids"], dtype=np.int64),
            np.asarray(raw["item_ids"], dtype=np.int64),
            tuple(raw["item_titles"]),
            (float(low), float(high)),
            bool(raw["has_timestamps"]),
            int(raw["source_rows"]),
            int(raw["duplicates_merged"]),
            int(raw["single_interaction_users"]),
        )


def read_catalogue(path: Path, sources: dict[str, str]) -> Catalogue | None:
    """The catalogue stored at ``path`` if it was derived from files with these sha256 digests, else None."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT or raw.get("sources") != sources:
        return None
    try:
        return Catalogue.from_dict(raw["catalogue"])
    except (KeyError, TypeError, ValueError):
        return None


def write_catalogue(path: Path, catalogue: Catalogue, sources: dict[str, str]) -> None:
    """Store ``catalogue`` atomically (several processes of one cluster may derive it at once)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
    body = {"format": FORMAT, "sources": sources, "catalogue": catalogue.to_dict()}
    partial.write_text(json.dumps(body, ensure_ascii=False), encoding="utf-8")
    os.replace(partial, path)
