"""The table of datasets: where each comes from, the sha256 of every file, and its licence.

Files live under a cache root with the same layout as the project's mirror folder
(``<root>/movielens/ml-100k/u.data``), so a mirror is just a cache someone filled by hand.
"""

from __future__ import annotations

from dataclasses import dataclass

from fedrec.errors import DataError


@dataclass(frozen=True)
class DataFile:
    path: str  # relative to the cache root and to the mirror
    member: str  # path inside the official archive
    sha256: str


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    title: str
    url: str  # the official archive
    folder: str  # relative to the cache root
    files: tuple[DataFile, ...]
    licence: str

    def file(self, basename: str) -> DataFile:
        for f in self.files:
            if f.path.rsplit("/", 1)[-1] == basename:
                return f
        raise KeyError(basename)


def _movielens_100k() -> DatasetSpec:
    folder = "movielens/ml-100k"
    hashes = {
        "README": "4883b8cf340ed0059971b33f56ad3adc88a40792108ebca3d24aafc4c82e8b52",
        "u.data": "06416e597f82b7342361e41163890c81036900f418ad91315590814211dca490",
        "u.genre": "9757e0d3e6b298159a80dd48eaf938114690e911e39af97a76949ef1663610bb",
        "u.info": "5b0a40b2e47a729ee6203063f6dcf8790c2e63f5a18663e6ee318a72c5f3c27b",
        "u.item": "553841ebc7de3a0fd0d6b62a204ea30c1e651aacfb2814c7a6584ac52f2c5701",
        "u.occupation": "cd5fbec9afe345d993a62fc7817df1a4a9079c4feb267b3118763b8fd942137d",
        "u.user": "f120e114da2e8cf314fd28f99417c94ae9ddf1cb6db8ce0e4b5995d40e90e62c",
    }
    return DatasetSpec(
        name="ml-100k",
        title="MovieLens 100K: 100,000 ratings (1-5) by 943 users on 1,682 movies (GroupLens, 1998)",
        url="https://files.grouplens.org/datasets/movielens/ml-100k.zip",
        folder=folder,
        files=tuple(DataFile(f"{folder}/{n}", f"ml-100k/{n}", h) for n, h in hashes.items()),
        licence="research use only; no redistribution without GroupLens' permission; cite Harper & Konstan 2015",
    )


DATASETS: dict[str, DatasetSpec] = {spec.name: spec for spec in (_movielens_100k(),)}


def get_spec(name: str) -> DatasetSpec:
    try:
        return DATASETS[name]
    except KeyError:
        raise DataError(f"unknown dataset {name!r}; known datasets: {', '.join(sorted(DATASETS))}") from None
