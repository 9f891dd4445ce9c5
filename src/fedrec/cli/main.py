"""The ``fedrec`` command line. Every user error ends in one line on stderr and exit status 2."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from fedrec.config import load_config
from fedrec.data.download import ensure_dataset
from fedrec.data.registry import DATASETS, get_spec
from fedrec.errors import FedrecError

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Federated recommendation: train, recommend, data.")
data_app = typer.Typer(no_args_is_help=True, help="List and fetch datasets.")
app.add_typer(data_app, name="data")
out = Console()


@app.command()
def run(
    config: Annotated[Path | None, typer.Argument(help="YAML config (default: federated MF on ML-100K)")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="override, e.g. --set rounds=20")] = None,
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="run folder (default runs/<time>-<data>-<mode>)")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="no live progress")] = False,
) -> None:
    """Train a model, federated (simulated clients) or centralized, and write a run folder."""
    from fedrec.experiment.runner import execute

    outcome = execute(load_config(config, set_ or []), out_dir, quiet)
    metrics = "  ".join(f"{k}={v:.4f}" for k, v in outcome.summary["metrics"].items())
    out.print(f"{outcome.summary['mode']} run finished: {metrics}  wall {outcome.summary['wall_time_s']:.1f}s")
    out.print(f"run folder: {outcome.folder}")


@app.command()
def recommend(
    run_dir: Annotated[Path, typer.Option("--run", help="a run folder written by `fedrec run`")],
    user: Annotated[int, typer.Option("--user", help="the user's id in the dataset")],
    k: Annotated[int, typer.Option("-k", help="how many items")] = 10,
) -> None:
    """Print a user's top-k items among those they have not rated."""
    from fedrec.serving.recommend import Recommender

    if k <= 0:
        raise FedrecError(f"-k must be at least 1, got {k}")
    items = Recommender.load(run_dir).recommend(user, k)
    table = Table(title=f"Top {len(items)} for user {user}")
    table.add_column("#", justify="right")
    table.add_column("item", justify="right")
    table.add_column("title")
    table.add_column("predicted", justify="right")
    for rank, item in enumerate(items, 1):
        table.add_row(str(rank), str(item.item_id), item.title, f"{item.predicted_rating:.2f}")
    out.print(table)


@data_app.command("list")
def data_list() -> None:
    """The datasets fedrec knows, their sources and licences."""
    for spec in DATASETS.values():
        out.print(f"[bold]{spec.name}[/bold]  {spec.title}", soft_wrap=True)
        out.print(f"  source:  {spec.url}", soft_wrap=True)
        out.print(f"  licence: {spec.licence}", soft_wrap=True)


@data_app.command("fetch")
def data_fetch(name: Annotated[str, typer.Argument(help="dataset name, see `fedrec data list`")]) -> None:
    """Download (or copy from $FEDREC_DATA_MIRROR) and verify a dataset."""
    folder = ensure_dataset(get_spec(name))
    out.print(f"{name}: all files verified in {folder}")


def main() -> None:
    import torch

    torch.set_num_threads(int(os.environ.get("FEDREC_THREADS", "1")))
    try:
        app(standalone_mode=False)
    except FedrecError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        print("interrupted; the run folder has no summary.json and is not a result", file=sys.stderr)
        sys.exit(130)
    except Exception as exc:  # click's usage errors
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        if isinstance(exc, click.exceptions.Exit | click.exceptions.Abort):
            sys.exit(getattr(exc, "exit_code", 1))
        raise


if __name__ == "__main__":
    main()
