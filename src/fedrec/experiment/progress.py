"""A live view of a run: round, test metric and elapsed time (rich), or nothing when quiet or not on a terminal."""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


class ProgressView:
    """A terminal progress bar (rich) over the run's rounds, with the last evaluation's figures."""

    def __init__(self, total_rounds: int, label: str, enabled: bool = True) -> None:
        console = Console(stderr=True)
        self.enabled = enabled and console.is_terminal  # a bar in a log file or pipe is noise before an error
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[metric]}"),
            TimeElapsedColumn(),
            console=console,
            disable=not self.enabled,
        )
        self._task = self._progress.add_task(label, total=total_rounds, metric="")

    def __enter__(self) -> ProgressView:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self._progress.stop()

    def update(self, round_index: int, metrics: dict[str, float]) -> None:
        """Shows a round's metrics; the view appears at the first round, so a run refused while it is set up
        prints only its error."""
        self._progress.start()
        text = "  ".join(f"{k} {v:.4f}" for k, v in metrics.items() if k.startswith("test_"))
        self._progress.update(self._task, completed=round_index, metric=text)
