"""Fetch dataset files into the cache, verify every sha256, and only then hand them out.

Sources, in order: the cache itself (a verified file is never fetched again), the mirror folder named by
``FEDREC_DATA_MIRROR`` (laid out like the cache), and the dataset's official archive. A file is written to
the cache under a temporary name and renamed only once its checksum matches, so a failed fetch leaves
nothing behind that could later pass for good data.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from fedrec.data.registry import DataFile, DatasetSpec
from fedrec.errors import DataError

MIRROR_ENV = "FEDREC_DATA_MIRROR"
CACHE_ENV = "FEDREC_DATA_DIR"


def cache_root() -> Path:
    """Where verified downloads live: ``$FEDREC_DATA_DIR`` or ``~/.cache/fedrec``."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "fedrec" / "data")


def mirror_root() -> Path | None:
    """The folder ``$FEDREC_DATA_MIRROR`` names (files served instead of the internet), or None."""
    value = os.environ.get(MIRROR_ENV)
    return Path(value) if value else None


def sha256_of(path: Path) -> str:
    """The hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def ensure_dataset(spec: DatasetSpec) -> Path:
    """Return the verified folder of ``spec``, fetching whatever is missing."""
    root = cache_root()
    missing = [f for f in spec.files if not _is_verified(root / f.path, f)]
    if missing:
        mirror = mirror_root()
        if mirror is not None:
            absent = [f.path for f in missing if not (mirror / f.path).is_file()]
            if absent:
                listed = ", ".join(absent[:3]) + (f" and {len(absent) - 3} more" if len(absent) > 3 else "")
                verb = "is" if len(absent) == 1 else "are"
                raise DataError(
                    f"{listed} {verb} missing from the mirror {MIRROR_ENV}={mirror}; "
                    f"put the files there (same layout as the cache) or unset {MIRROR_ENV} to download them"
                )
            for f in missing:
                _copy_from_mirror(mirror, root, f)
        else:
            for f in [f for f in missing if f.url]:
                _store(root, f, _fetch(f.url), origin=f.url)
            if any(not f.url for f in missing):
                _download_archive(spec, root, [f for f in missing if not f.url])
    return root / spec.folder


def _is_verified(path: Path, f: DataFile) -> bool:
    if not path.is_file():
        return False
    if not f.sha256:
        return True  # no digest on record: the dataset's parser checks the file
    stamp = path.with_name(path.name + ".sha256")
    mtime = str(path.stat().st_mtime_ns)
    if stamp.is_file() and stamp.read_text() == f"{f.sha256} {mtime}":
        return True
    if sha256_of(path) != f.sha256:
        path.unlink()  # corrupt cache entry: fetch it again from the source
        return False
    stamp.write_text(f"{f.sha256} {mtime}")
    return True


def _copy_from_mirror(mirror: Path, root: Path, f: DataFile) -> None:
    source = mirror / f.path
    try:
        content = source.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read {source} from the mirror {MIRROR_ENV}={mirror}: {exc.strerror}") from None
    _store(root, f, content, origin=str(source))


def _fetch(url: str, folder: str = "") -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            data: bytes = response.read()
            return data
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DataError(
            f"cannot download {url} ({reason}); without network, copy the files to a folder laid out as "
            f"<folder>/{folder or '<dataset>'}/<file> and set {MIRROR_ENV}=<folder>"
        ) from None


def _download_archive(spec: DatasetSpec, root: Path, wanted: list[DataFile]) -> None:
    if not spec.url:
        raise DataError(
            f"{spec.name} has no official download; copy {wanted[0].path} into a folder and set {MIRROR_ENV} to it"
        )
    archive = _fetch(spec.url, spec.folder)
    try:
        with zipfile.ZipFile(io.BytesIO(archive)) as zipped:
            for f in wanted:
                _store(root, f, zipped.read(f.member), origin=f"{spec.url}!{f.member}")
    except (zipfile.BadZipFile, KeyError) as exc:
        raise DataError(f"the archive downloaded from {spec.url} is not what was expected ({exc})") from None


def _store(root: Path, f: DataFile, content: bytes, origin: str) -> None:
    actual = hashlib.sha256(content).hexdigest()
    if f.sha256 and actual != f.sha256:
        raise DataError(
            f"checksum mismatch for {origin}: expected sha256 {f.sha256}, got {actual}; "
            "the file is corrupt or a different version: replace it with the official file"
        )
    target = root / f.path
    partial = target.with_name(target.name + ".partial")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        partial.write_bytes(content)
        os.replace(partial, target)
    except OSError as exc:
        raise DataError(
            f"cannot write {f.path} into the data cache {root}: {exc.strerror}; set {CACHE_ENV} to a writable folder"
        ) from None


def remove_cached(spec: DatasetSpec) -> None:
    """Delete a dataset's cached files (the next load fetches and verifies them again)."""
    shutil.rmtree(cache_root() / spec.folder, ignore_errors=True)
