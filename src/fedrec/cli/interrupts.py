"""Ctrl-C ends a command quietly with status 130, even while the command line is still loading.

Only the standard library is imported here: this module guards the imports of everything else.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

INTERRUPTED = 130  # 128 + SIGINT, what a shell reports for a command stopped by Ctrl-C


@contextmanager
def exit_quietly_on_interrupt() -> Iterator[None]:
    """Turns a KeyboardInterrupt inside the block into ``SystemExit(130)``: no traceback reaches the user."""
    try:
        yield
    except KeyboardInterrupt:
        raise SystemExit(INTERRUPTED) from None
