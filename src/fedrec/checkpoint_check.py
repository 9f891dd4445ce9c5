"""Checks a checkpoint read back from disk against the run's config before anything uses it.

Every loader of a checkpoint (``fedrec run --resume``, ``fedrec server --resume``, ``fedrec recommend``)
reads through a ``CheckpointCheck``: the file decodes into what its writer saved, its models hold exactly
the tensors of the run's initial model (names, shapes, dtypes) with finite values, and its rounds are
whole numbers within the run's planned rounds. A file that fails is refused with a ``RunFolderError``: one
line naming the file, what is wrong with it and what to do, and the file is left as it is.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from fedrec.errors import RunFolderError
from fedrec.payloads import GlobalModel

RESUME_FIX = "start the run again with another --out (without --resume), or restore the run folder from a backup"
# what a loader raises on a structure it does not expect (``decoding`` takes any error: it reads untrusted bytes)
LOADING_ERRORS: tuple[type[Exception], ...] = (KeyError, IndexError, TypeError, ValueError, AttributeError)


class CheckpointCheck:
    """The checks of one checkpoint file of a run that plans ``planned_rounds`` rounds (0: a checkpoint whose
    rounds are not read), refused with ``fix`` as the advice."""

    def __init__(self, path: Path, planned_rounds: int = 0, fix: str = RESUME_FIX) -> None:
        self.path, self.planned_rounds, self.fix = path, planned_rounds, fix

    def refuse(self, cause: str) -> RunFolderError:
        """The one-line refusal: the file, ``cause``, the fix."""
        return RunFolderError(f"{self.path} {cause}; {self.fix}")

    def load(self) -> dict[str, Any]:
        """The file's contents (tensors and plain values, ``weights_only``), a dict, or a refusal."""
        if not self.path.is_file():
            raise self.refuse("is missing")
        if self.path.stat().st_size == 0:
            raise self.refuse("is empty")
        try:
            loaded = torch.load(self.path, weights_only=True)
        except Exception as exc:  # RuntimeError, UnpicklingError, EOFError, ... for a damaged file
            raise self.refuse(f"is damaged: it does not decode as a checkpoint ({type(exc).__name__})") from None
        if not isinstance(loaded, dict):
            raise self.refuse(f"is damaged: it holds a {type(loaded).__name__}, not a checkpoint's fields")
        return loaded

    @contextmanager
    def decoding(self, what: str, errors: tuple[type[Exception], ...] = (Exception,)) -> Iterator[None]:
        """Around decoding (or, with ``LOADING_ERRORS``, loading) ``what``: the ``errors`` a damaged structure
        raises become a refusal."""
        try:
            yield
        except RunFolderError:
            raise
        except errors as exc:  # the codec's CodecError, and KeyError, TypeError, ... of a garbled structure
            detail = str(exc).strip().splitlines()[0][:120] if str(exc).strip() else ""
            cause = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
            raise self.refuse(f"is damaged: {what} is not what this run can resume from ({cause})") from None

    def field(self, state: Any, key: str, kind: type | tuple[type, ...], what: str | None = None) -> Any:
        """``state[key]``, which must be a ``kind``."""
        what = what or f"its field {key!r}"
        if not isinstance(state, dict) or key not in state:
            raise self.refuse(f"is damaged: {what} is missing")
        value, kinds = state[key], kind if isinstance(kind, tuple) else (kind,)
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            raise self.refuse(f"is damaged: {what} is a {type(value).__name__}, not a {_names(kind)}")
        return value

    def round(self, value: Any, what: str = "its round", upto: int | None = None) -> int:
        """A completed round: a whole number from 0 to the planned rounds (or to ``upto``)."""
        last = self.planned_rounds if upto is None else upto
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= last:
            planned = "the rounds this run plans" if upto is None else "the checkpoint's round"
            shown = repr(value)[:40]
            raise self.refuse(f"is damaged: {what} is {shown}, not a whole number from 0 to {last} ({planned})")
        return value

    def model(self, value: Any, initial: GlobalModel, what: str = "its model") -> GlobalModel:
        """``value`` if it is a model with exactly ``initial``'s tensors, every value finite."""
        if not isinstance(value, GlobalModel):
            raise self.refuse(f"is damaged: {what} is a {type(value).__name__}, not a model")
        if value.row_sparse != initial.row_sparse:
            raise self.refuse(f"does not fit this run: {what} updates by rows {sorted(value.row_sparse)}, "
                              f"this run's model {sorted(initial.row_sparse)}")  # fmt: skip
        self.tensors(value.params, initial.params, what)
        return value

    def tensors(
        self, saved: Mapping[str, Any], expected: Mapping[str, Tensor], what: str, extra: bool = False,
        finite: bool = True,
    ) -> None:  # fmt: skip
        """``saved`` holds ``expected``'s tensor names (with ``extra``, maybe more, which are not checked),
        each with the same shape and dtype, and (with ``finite``) every floating value of it is finite."""
        missing, unknown = sorted(set(expected) - set(saved)), sorted(set(saved) - set(expected))
        if missing:
            raise self.refuse(f"does not fit this run: {what} lacks the tensors {_few(missing)}")
        if unknown and not extra:
            raise self.refuse(f"does not fit this run: {what} has tensors this run's model lacks: {_few(unknown)}")
        for name, value in saved.items():
            if name not in expected:
                continue
            if not isinstance(value, Tensor):
                raise self.refuse(f"is damaged: {what}'s {name} is a {type(value).__name__}, not a tensor")
            want = expected[name]
            if value.shape != want.shape:
                raise self.refuse(f"does not fit this run: {what}'s {name} has shape {tuple(value.shape)}, "
                                  f"this run's {tuple(want.shape)}")  # fmt: skip
            if value.dtype != want.dtype:
                raise self.refuse(f"does not fit this run: {what}'s {name} is {value.dtype}, this run's {want.dtype}")
            if finite and value.is_floating_point() and not bool(torch.isfinite(value).all()):
                bad = int((~torch.isfinite(value)).sum())
                raise self.refuse(f"is damaged: {what}'s {name} holds {bad} NaN or infinite values")


def _few(names: list[str]) -> str:
    return ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")


def _names(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    words = {dict: "dict", list: "list", int: "whole number", float: "number", Tensor: "tensor", GlobalModel: "model"}
    return " or ".join(words.get(k, k.__name__) for k in kinds)
