"""Fetching through the mirror, checksum verification, and the errors a user sees."""

import hashlib
from pathlib import Path

import pytest

from fedrec.data.download import ensure_dataset, sha256_of
from fedrec.data.registry import DATASETS, DataFile, DatasetSpec, get_spec
from fedrec.errors import DataError


def _spec(content: bytes, url: str = "http://127.0.0.1:9/none.zip") -> DatasetSpec:
    digest = hashlib.sha256(content).hexdigest()
    return DatasetSpec("toy", "toy", url, "toy", (DataFile("toy/a.txt", "toy/a.txt", digest),), "none")


@pytest.fixture
def dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    mirror, cache = tmp_path / "mirror", tmp_path / "cache"
    (mirror / "toy").mkdir(parents=True)
    monkeypatch.setenv("FEDREC_DATA_MIRROR", str(mirror))
    monkeypatch.setenv("FEDREC_DATA_DIR", str(cache))
    return mirror, cache


def test_mirror_copy_is_verified_and_cached(dirs: tuple[Path, Path]) -> None:
    mirror, cache = dirs
    (mirror / "toy" / "a.txt").write_bytes(b"hello")
    folder = ensure_dataset(_spec(b"hello"))
    assert folder == cache / "toy" and (folder / "a.txt").read_bytes() == b"hello"
    (mirror / "toy" / "a.txt").unlink()
    assert ensure_dataset(_spec(b"hello")) == folder, "a verified cached file is not fetched again"


def test_checksum_mismatch_names_file_and_both_hashes(dirs: tuple[Path, Path]) -> None:
    mirror, cache = dirs
    (mirror / "toy" / "a.txt").write_bytes(b"tampered")
    spec = _spec(b"hello")
    with pytest.raises(DataError) as caught:
        ensure_dataset(spec)
    message = str(caught.value)
    assert "a.txt" in message and spec.files[0].sha256 in message
    assert hashlib.sha256(b"tampered").hexdigest() in message
    assert not (cache / "toy" / "a.txt").exists(), "a corrupt file never enters the cache"


def test_corrupt_cache_entry_is_fetched_again(dirs: tuple[Path, Path]) -> None:
    mirror, cache = dirs
    (mirror / "toy" / "a.txt").write_bytes(b"hello")
    folder = ensure_dataset(_spec(b"hello"))
    (folder / "a.txt").write_bytes(b"bit rot")
    ensure_dataset(_spec(b"hello"))
    assert (folder / "a.txt").read_bytes() == b"hello"


def test_missing_mirror_file_says_where_to_put_it(dirs: tuple[Path, Path]) -> None:
    with pytest.raises(DataError, match=r"missing from the mirror.*toy/a.txt|toy/a.txt.*missing from the mirror"):
        ensure_dataset(_spec(b"hello"))


def test_no_network_and_no_mirror_says_how_to_use_a_mirror(
    dirs: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FEDREC_DATA_MIRROR")
    with pytest.raises(DataError, match="cannot download .*FEDREC_DATA_MIRROR"):
        ensure_dataset(_spec(b"hello"))


def test_registry_hashes_match_the_shared_mirror(data_env: dict[str, str]) -> None:
    mirror = Path(data_env["FEDREC_DATA_MIRROR"])
    absent = []
    for spec in DATASETS.values():
        for f in spec.files:
            if (mirror / f.path).is_file():
                assert sha256_of(mirror / f.path) == f.sha256, f.path
            else:
                absent.append(f.path)
    pubmed = [f.path for f in DATASETS["pubmed"].files]
    assert absent == ["movielens/ml-1m/ratings.dat", *pubmed], "the mirror lacks the official ML-1M ratings, PubMed"
    # The mirror keeps PubMed's seven files under another name, as its allx is missing; they match the table.
    for f in DATASETS["pubmed"].files:
        kept = mirror / f.path.replace("PubMed/", "PubMed_missing_allx/")
        assert kept.is_file() == bool(f.sha256) and (not f.sha256 or sha256_of(kept) == f.sha256), f.path
    with pytest.raises(
        DataError, match="unknown dataset .nope.; known datasets: citeseer, cora, fashion-mnist, lastfm-2k, ml-100k"
    ):
        get_spec("nope")
