"""Labelled examples for classification: Fashion-MNIST images and UCI Adult rows.

Adult's encoding: the 6 continuous attributes are standardized with the training set's mean and standard
deviation; each of the 8 categorical attributes is one-hot encoded over the values seen in training, and a
missing value (``?``) is a category of its own ("missing"), so no row is dropped. The label is income >50K.
The raw ``native-country`` and ``workclass`` are kept beside the features for natural splits.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fedrec.data.download import ensure_dataset
from fedrec.data.registry import get_spec
from fedrec.errors import DataError

ADULT_COLUMNS = (
    "age", "workclass", "fnlwgt", "education", "education-num", "marital-status", "occupation", "relationship",
    "race", "sex", "capital-gain", "capital-loss", "hours-per-week", "native-country",
)  # fmt: skip
ADULT_CONTINUOUS = ("age", "fnlwgt", "education-num", "capital-gain", "capital-loss", "hours-per-week")


@dataclass(frozen=True)
class Labelled:
    features: np.ndarray  # float32 [n, ...]
    labels: np.ndarray  # int64 [n]
    classes: tuple[str, ...]
    attributes: dict[str, np.ndarray] = field(default_factory=dict)  # raw attributes for natural splits

    def __len__(self) -> int:
        return len(self.labels)


@dataclass(frozen=True)
class TrainTest:
    name: str
    train: Labelled
    test: Labelled


FASHION_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)


def load_fashion_mnist() -> TrainTest:
    """Fashion-MNIST (Xiao et al. 2017): 60,000 train and 10,000 test images, ``[n, 1, 28, 28]`` float in [0, 1], 10
    classes; downloaded and checked first."""
    folder = ensure_dataset(get_spec("fashion-mnist"))
    parts = []
    for prefix in ("train", "t10k"):
        images = _idx(folder / f"{prefix}-images-idx3-ubyte.gz", 0x803).astype(np.float32) / 255.0
        labels = _idx(folder / f"{prefix}-labels-idx1-ubyte.gz", 0x801).astype(np.int64)
        parts.append(Labelled(images[:, None], labels, FASHION_CLASSES))
    return TrainTest("fashion-mnist", parts[0], parts[1])


def _idx(path: Path, magic: int) -> np.ndarray:
    raw = gzip.decompress(path.read_bytes())
    found = int.from_bytes(raw[:4], "big")
    if found != magic:
        raise DataError(f"{path} is not an IDX file of the expected kind (magic {found:#x}); replace it")
    dims = [int.from_bytes(raw[4 + 4 * k : 8 + 4 * k], "big") for k in range(magic & 0xFF)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * len(dims)).reshape(dims)


def load_adult() -> TrainTest:
    """UCI Adult (census income): one-hot and scaled features, binary labels, with the workclass and native-country of
    each row for natural splits; downloaded and checked first."""
    folder = ensure_dataset(get_spec("uci-adult"))
    train_rows = _adult_rows(folder / "adult.data")
    test_rows = _adult_rows(folder / "adult.test")
    columns = {name: np.array([r[k] for r in train_rows]) for k, name in enumerate(ADULT_COLUMNS)}
    encoders = {name: _encoder(columns[name], name in ADULT_CONTINUOUS) for name in ADULT_COLUMNS}
    return TrainTest("uci-adult", _adult(train_rows, encoders), _adult(test_rows, encoders))


def _adult_rows(path: Path) -> list[list[str]]:
    rows = []
    for line in path.read_text(encoding="latin-1").splitlines():
        fields = [f.strip() for f in line.split(",")]
        if len(fields) == 15:
            rows.append(fields)
    return rows


Encoder = tuple[float, float] | list[str]  # (mean, std) of a continuous column, or a column's categories


def _encoder(values: np.ndarray, continuous: bool) -> Encoder:
    if continuous:
        numbers = values.astype(np.float64)
        return (float(numbers.mean()), float(numbers.std()) or 1.0)
    return sorted(set(np.where(values == "?", "missing", values).tolist()) | {"missing"})


def _adult(rows: list[list[str]], encoders: dict[str, Encoder]) -> Labelled:
    blocks = []
    raw = {name: np.array([r[k] for r in rows]) for k, name in enumerate(ADULT_COLUMNS)}
    for name in ADULT_COLUMNS:
        encoder = encoders[name]
        if isinstance(encoder, tuple):
            mean, std = encoder
            blocks.append(((raw[name].astype(np.float64) - mean) / std)[:, None])
        else:
            categories = encoder
            values = np.where(raw[name] == "?", "missing", raw[name])
            index = np.searchsorted(categories, values)
            unknown = (index >= len(categories)) | (
                np.asarray(categories, dtype=object)[np.minimum(index, len(categories) - 1)] != values
            )
            index[unknown] = categories.index("missing")  # a value never seen in training counts as missing
            blocks.append(np.eye(len(categories))[index])
    labels = np.array([r[14].rstrip(".") == ">50K" for r in rows], dtype=np.int64)
    attributes = {"native-country": raw["native-country"], "workclass": raw["workclass"]}
    return Labelled(np.hstack(blocks).astype(np.float32), labels, ("<=50K", ">50K"), attributes)
