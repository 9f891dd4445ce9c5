"""The ``fedrec`` command line. Every user error ends in one line on stderr and exit status 2.

Usage errors (an unknown option, a value of the wrong type) are one line too; Ctrl-C ends any command
quietly with status 130, start-up included; a closed stdout (``fedrec run ... | head -1``) silences the
output instead of failing the command.
"""

from __future__ import annotations

from fedrec.cli.interrupts import exit_quietly_on_interrupt

with exit_quietly_on_interrupt():  # the imports below take a second: Ctrl-C then must not print a traceback
    import contextlib
    import math
    import os
    import sys
    from collections.abc import Callable
    from pathlib import Path
    from typing import TYPE_CHECKING, Annotated, Any, TypeVar

    import typer
    from rich.console import Console
    from rich.table import Table

    try:  # recent typer vendors click; older typer used click itself
        from typer._click.exceptions import UsageError
    except ImportError:
        from click.exceptions import UsageError  # type: ignore[no-redef]

    from fedrec.config import load_config
    from fedrec.data.download import ensure_dataset
    from fedrec.data.registry import DATASETS, get_spec
    from fedrec.errors import FedrecError, RunFailed
    from fedrec.registry import plugin_failure

if TYPE_CHECKING:
    from fedrec.serving.recommend import Recommendation


class PipeSafeConsole(Console):
    """Standard output that a reader who stops reading (``| head -1``) silences instead of failing the
    command: the rest of the output goes to /dev/null and the command finishes its work."""

    def on_broken_pipe(self) -> None:  # rich's own would exit with status 1
        self.quiet = True
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


T = TypeVar("T")
app = typer.Typer(add_completion=False, no_args_is_help=True, help="Federated recommendation: train, recommend, data.")
data_app = typer.Typer(no_args_is_help=True, help="List and fetch datasets.")
app.add_typer(data_app, name="data")
out = PipeSafeConsole()


@app.command()
def run(
    config: Annotated[Path | None, typer.Argument(help="YAML config (default: federated MF on ML-100K)")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="override, e.g. --set rounds=20")] = None,
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="run folder (default runs/<time>-<data>-<mode>)")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="no live progress")] = False,
    resume_dir: Annotated[
        Path | None, typer.Option("--resume", help="continue the interrupted simulation in this run folder")
    ] = None,
) -> None:
    """Train a model, federated (simulated clients) or centralized, and write a run folder."""
    from fedrec.experiment.runner import execute, resume

    if resume_dir is not None:
        if config is not None or set_ or out_dir is not None:
            raise FedrecError("--resume continues a run as it was configured; drop CONFIG, --set and --out")
        outcome = resume(resume_dir, quiet)
    else:
        outcome = execute(load_config(config, set_ or []), out_dir, quiet)
    _report(outcome.summary)
    out.print(f"run folder: {outcome.folder}")
    _exit_if_failed(outcome.summary)


def _report(summary: dict[str, Any]) -> None:
    """How the run ended (finished, stopped early, failed), its final model's figures, and privacy spent."""
    metrics = "  ".join(f"{k}={v:.4f}" for k, v in summary["metrics"].items()) or "no metrics"
    ended = {"stopped": "stopped early", "failed": "failed"}.get(summary.get("status", ""), "finished")
    rounds = f"  rounds {summary['rounds']}/{summary['planned_rounds']}" if "planned_rounds" in summary else ""
    out.print(f"{summary['mode']} run {ended}: {metrics}{rounds}  wall {summary['wall_time_s']:.1f}s")
    if summary.get("metrics_round") not in (None, summary["rounds"]):
        stopped = summary.get("status") == "stopped"
        why = "no client was left to evaluate it" if stopped else "its evaluation was refused"
        out.print(f"these figures are round {summary['metrics_round']}'s, not the final model's: {why}")
    privacy = summary.get("privacy", {})
    if "epsilon" in privacy:
        out.print(f"privacy spent: epsilon {privacy['epsilon']:.3f} at delta {privacy['delta']:.3g}")
    if "stopped" in summary:
        out.print(f"stopped early: {summary['stopped']}")
    for what in ("updates", "metrics"):
        refused = summary.get(f"rejected_{what}", {})
        if refused.get("total"):
            left_out = " (the figures above leave these clients out)" if what == "metrics" else ""
            out.print(f"{what} refused: {refused['total']} {refused['by_reason']}{left_out}")


def _exit_if_failed(summary: dict[str, Any]) -> None:
    """A run that aggregated nothing has not trained a model: say so and exit 1."""
    if summary.get("status") == "failed":
        raise RunFailed(summary["failure"])


@app.command()
def recommend(
    run_dir: Annotated[Path, typer.Option("--run", help="a run folder written by `fedrec run`")],
    user: Annotated[int | None, typer.Option("--user", help="the user's id in the dataset")] = None,
    new_user_ratings: Annotated[
        Path | None, typer.Option("--new-user-ratings", help="a new user's items: 'item_id [rating]' lines")
    ] = None,
    k: Annotated[int, typer.Option("-k", help="how many items")] = 10,
) -> None:
    """Print a user's top-k items among those they have not rated (or a new user's, from their file)."""
    from fedrec.serving.recommend import Recommender, read_interactions

    if k <= 0:
        raise FedrecError(f"-k must be at least 1, got {k}")
    if (user is None) == (new_user_ratings is None):
        raise FedrecError("give either --user ID or --new-user-ratings FILE")
    recommender = Recommender.load(run_dir)
    if new_user_ratings is not None:
        items = recommender.recommend_new_user(read_interactions(new_user_ratings), k)
        title = f"Top {len(items)} for a new user"
    else:
        assert user is not None
        items = recommender.recommend(user, k)
        title = f"Top {len(items)} for user {user}"
    out.print(recommendation_table(title, items, recommender.explicit))


def recommendation_table(title: str, items: list[Recommendation], explicit: bool) -> Table:
    """The ranked list as shown: a rating run shows the predicted rating (clipped to the scale) beside the
    model's raw score, which is what the list is ranked by."""
    table = Table(title=title)
    table.add_column("#", justify="right")
    table.add_column("item", justify="right")
    table.add_column("title")
    if explicit:
        table.add_column("predicted rating", justify="right")
    table.add_column("score", justify="right")
    for rank, item in enumerate(items, 1):
        rating = [f"{item.predicted_rating:.2f}"] if item.predicted_rating is not None else []
        table.add_row(str(rank), str(item.item_id), item.title, *rating, f"{item.score:.3f}")
    return table


@app.command()
def audit(
    run_dir: Annotated[Path | None, typer.Option("--run", help="audit this run's model (its folder)")] = None,
    config: Annotated[Path | None, typer.Option("--config", help="or a config's initial model")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="override, e.g. --set data.name=ml-1m")] = None,
    clients: Annotated[int, typer.Option(help="clients whose uploads are attacked")] = 100,
    pseudo_items: Annotated[float, typer.Option(help="pseudo-items per rated item, for that row")] = 1.0,
    local_noise: Annotated[float, typer.Option(help="local DP noise multiplier, for that row")] = 1.0,
    clip_norm: Annotated[float, typer.Option(help="local DP clip norm")] = 0.5,
) -> None:
    """Attack what clients upload: can the server tell which items a user rated?"""
    from fedrec.experiment.audit import AuditSettings, audit_run

    if run_dir is not None and config is not None:
        raise FedrecError("give --run FOLDER or --config FILE, not both")
    if clients < 3:
        raise FedrecError(f"--clients must be at least 3 (secure aggregation needs three), got {clients}")
    if not (math.isfinite(pseudo_items) and pseudo_items >= 0):
        raise FedrecError(f"--pseudo-items must be a finite number >= 0, got {pseudo_items}")
    for option, value in (("--local-noise", local_noise), ("--clip-norm", clip_norm)):
        if not (math.isfinite(value) and value > 0):
            raise FedrecError(f"{option} must be a finite number > 0, got {value}")
    settings = AuditSettings(clients, pseudo_items, local_noise, clip_norm)
    results, folder = audit_run(run_dir, config, set_ or [], settings)
    table = Table(title=f"Rated-item inference attack, {clients} clients, one round of uploads")
    for column in ("protection", "precision", "recall", "precision@m", "random@m", "upload bytes"):
        table.add_column(column, justify="left" if column == "protection" else "right")
    for name, r in results.items():
        table.add_row(name, f"{r.precision:.3f}", f"{r.recall:.3f}", f"{r.precision_at_m:.3f}",
                      f"{r.random_precision:.3f}", f"{r.upload_bytes:,.0f}")  # fmt: skip
    out.print(table)
    if folder is not None:
        out.print(f"written to {folder / 'audit.json'}")


def _logging() -> None:
    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")


@app.command()
def server(
    config: Annotated[Path | None, typer.Option("--config", help="YAML config (default: the default job)")] = None,
    listen: Annotated[str, typer.Option("--listen", help="HOST:PORT to listen on")] = "127.0.0.1:50051",
    set_: Annotated[list[str] | None, typer.Option("--set", help="override, e.g. --set rounds=20")] = None,
    out_dir: Annotated[Path | None, typer.Option("--out", help="run folder")] = None,
    resume: Annotated[Path | None, typer.Option("--resume", help="continue the interrupted run in this folder")] = None,
    tokens: Annotated[Path | None, typer.Option("--tokens", help="file of '<token> <client ids>' lines")] = None,
    tls: Annotated[Path | None, typer.Option("--tls", help="folder made by `fedrec certs`: serve over TLS")] = None,
    mtls: Annotated[bool, typer.Option("--mtls", help="with --tls, require client certificates")] = False,
) -> None:
    """Run the federated server: wait for clients, run the rounds, write the run folder."""
    from fedrec.experiment.distributed import read_tokens, serve
    from fedrec.run_folder import RunFolder, default_run_dir
    from fedrec.transport.certs import TlsFiles
    from fedrec.transport.ports import ensure_free, port_of

    _logging()
    if resume is not None and (config is not None or set_ or out_dir is not None):
        raise FedrecError("--resume continues a run with its own config and folder; drop --config, --set and --out")
    if mtls and tls is None:
        raise FedrecError("--mtls requires client certificates over TLS: add --tls FOLDER (made by `fedrec certs`)")
    _check(port_of, listen)
    credentials = read_tokens(tokens) if tokens else None
    server_tls = _check_files(lambda: TlsFiles(tls).server_credentials(mtls)) if tls else None
    if resume is not None:
        folder = RunFolder(resume)
        run_config = folder.reopen()
        _check(ensure_free, listen)  # the inputs first, then the machine
    else:
        run_config = load_config(config, set_ or [])
        folder = RunFolder(out_dir or default_run_dir(run_config))
        _check(ensure_free, listen)
        folder.create(run_config)
    out.print(f"run folder: {folder.path}")
    with folder.removed_if_refused(interrupted=True) if resume is None else contextlib.nullcontext():
        summary = serve(run_config, listen, folder, resume is not None, credentials, server_tls)
    _report(summary)
    _exit_if_failed(summary)


@app.command()
def client(
    server_address: Annotated[str, typer.Option("--server", help="the server's HOST:PORT")],
    clients: Annotated[str, typer.Option("--clients", help="client ids this process hosts, e.g. 1-100")],
    token: Annotated[str | None, typer.Option("--token", envvar="FEDREC_TOKEN", help="credential")] = None,
    tls: Annotated[Path | None, typer.Option("--tls", help="folder with ca.pem (and client.pem/.key for mTLS)")] = None,
    retry_for: Annotated[float, typer.Option("--retry-for", help="seconds to keep reconnecting")] = 300.0,
    data: Annotated[Path | None, typer.Option("--data", help="folder holding the dataset files (a mirror)")] = None,
) -> None:
    """Host one or more clients: their data and private state stay in this process."""
    from fedrec.experiment.distributed import run_client
    from fedrec.transport.certs import TlsFiles
    from fedrec.transport.grpc_client import Backoff, Refused, Unrecoverable
    from fedrec.transport.grpc_common import WireOptions, parse_client_ids
    from fedrec.transport.ports import port_of

    _logging()
    _check(port_of, server_address)
    ids = _check(parse_client_ids, clients)
    if ids[0] < 1:
        raise FedrecError(f"client ids start at 1, got {clients!r}; for example --clients 1-100")
    if retry_for < 0:
        raise FedrecError(f"--retry-for is a number of seconds, at least 0; got {retry_for:g}")
    if data is not None:
        if not data.is_dir():
            raise FedrecError(f"--data {data} is not a folder")
        os.environ["FEDREC_DATA_MIRROR"] = str(data)
    channel_tls = _check_files(lambda: TlsFiles(tls).channel_credentials()) if tls else None
    try:
        run_client(server_address, ids, token, WireOptions(), channel_tls, Backoff(give_up_after_s=retry_for))
    except Refused as exc:
        raise FedrecError(f"the server refused this client process: {exc}") from None
    except (ConnectionError, Unrecoverable) as exc:
        raise FedrecError(str(exc)) from None


@app.command()
def cluster(
    config: Annotated[Path | None, typer.Argument(help="YAML config (default: the default job)")] = None,
    processes: Annotated[int, typer.Option("--processes", help="client processes")] = 4,
    set_: Annotated[list[str] | None, typer.Option("--set", help="override, e.g. --set rounds=20")] = None,
    out_dir: Annotated[Path | None, typer.Option("--out", help="run folder")] = None,
    port: Annotated[int, typer.Option("--port", help="loopback port for the server")] = 50051,
) -> None:
    """Start a server and client processes on this machine, the config's clients divided among them."""
    from fedrec.experiment.cluster import run_cluster
    from fedrec.run_folder import RunFolder
    from fedrec.transport.ports import ensure_free

    if processes < 1:
        raise FedrecError(f"--processes must be at least 1, got {processes}")
    run_config = load_config(config, set_ or [])
    if out_dir is not None:
        RunFolder(out_dir).check_new()
    _check(ensure_free, f"127.0.0.1:{port}")
    folder = run_cluster(config, set_ or [], run_config, processes, out_dir, port)
    out.print(f"run folder: {folder}")


@app.command()
def certs(
    out_dir: Annotated[Path, typer.Option("--out", help="folder for ca.pem, server.pem/.key, client.pem/.key")],
    host: Annotated[list[str] | None, typer.Option("--host", help="server host name or IP (repeatable)")] = None,
    force: Annotated[bool, typer.Option("--force", help="replace the CA and certificates already in --out")] = False,
) -> None:
    """Make a private CA and server and client certificates for `fedrec server --tls`."""
    from fedrec.transport.certs import make_certificates

    try:
        written = make_certificates(out_dir, host or ["127.0.0.1", "localhost"], replace=force)
    except FileExistsError as exc:
        raise FedrecError(
            f"{exc}: a new CA locks out every client that trusts the old one; pass --force to replace them"
        ) from None
    except ValueError as exc:
        raise FedrecError(f"--host {exc}") from None
    except OSError as exc:
        if exc.errno is None:  # --out is a file (said by make_certificates itself)
            raise FedrecError(str(exc)) from None
        raise FedrecError(f"cannot write certificates to {out_dir}: {exc.strerror}; pass another --out") from None
    for path in written:
        out.print(f"wrote {path}")


def _check_files(make: Callable[[], T]) -> T:
    try:
        return make()
    except (FileNotFoundError, ValueError) as exc:
        raise FedrecError(str(exc)) from None


def _check(parse: Callable[[str], T], text: str) -> T:
    try:
        return parse(text)
    except ValueError as exc:
        raise FedrecError(str(exc)) from None


@app.command()
def components(
    plugin: Annotated[list[str] | None, typer.Option("--plugin", help="also load this module, as plugins does")] = None,
) -> None:
    """The tasks, aggregators, server optimizers, round policies, devices and backends a config can name."""
    from fedrec.registry import (
        AGGREGATORS,
        BACKENDS,
        CLIENT_TERMS,
        DEVICES,
        POLICIES,
        SERVER_OPTIMIZERS,
        TASKS,
        load_plugins,
    )

    load_plugins(plugin or [])
    for key, registry in (("task", TASKS), ("federation.aggregator", AGGREGATORS), ("federation.backend", BACKENDS)):
        out.print(f"{key}: {', '.join(registry.names())}", soft_wrap=True)
    out.print(f"federation.policy: {', '.join(['sync', 'fedbuff', *POLICIES.names()])}", soft_wrap=True)
    out.print(f"devices: {', '.join(['uniform', 'lognormal', 'trace', *DEVICES.names()])}", soft_wrap=True)
    optimizers = ["sgd", "momentum", "adam", "yogi", "adagrad", *SERVER_OPTIMIZERS.names()]
    out.print(f"federation.server_optimizer: {', '.join(optimizers)}", soft_wrap=True)
    out.print(f"federation.algorithm: {', '.join(['fedavg', 'fedprox', 'scaffold', *CLIENT_TERMS.names()])}",
              soft_wrap=True)  # fmt: skip


@data_app.command("list")
def data_list() -> None:
    """The datasets fedrec knows, their sources and licences."""
    for spec in DATASETS.values():
        out.print(f"[bold]{spec.name}[/bold]  {spec.title}", soft_wrap=True)
        out.print(f"  source:  {spec.source}", soft_wrap=True)
        out.print(f"  licence: {spec.licence}", soft_wrap=True)


@data_app.command("fetch")
def data_fetch(name: Annotated[str, typer.Argument(help="dataset name, see `fedrec data list`")]) -> None:
    """Download (or copy from $FEDREC_DATA_MIRROR) and verify a dataset."""
    folder = ensure_dataset(get_spec(name))
    out.print(f"{name}: all files verified in {folder}")


def main() -> None:
    """Runs a command; a user's error is one line on stderr and exit status 2, Ctrl-C exits 130 quietly."""
    with exit_quietly_on_interrupt():
        try:
            os.environ.setdefault("GRPC_VERBOSITY", "ERROR")  # gRPC's own INFO lines would crowd our one line
            _set_threads()
            code = app(standalone_mode=False, prog_name="fedrec")  # errors come back here, said in one line
        except UsageError as exc:  # a bare `fedrec` or `fedrec data` has printed its help already
            code = 2 if type(exc).__name__ == "NoArgsIsHelpError" else _fail(_usage_line(exc), 2)
        except FedrecError as exc:
            code = _fail(f"error: {exc}", exc.exit_code)
        except Exception as exc:  # a plug-in's own bug is said in one line; fedrec's keep their traceback
            failure = plugin_failure(exc)
            if failure is None:
                raise
            code = _fail(f"error: {failure}", failure.exit_code)
    sys.exit(code if isinstance(code, int) else 0)


def _usage_line(exc: UsageError) -> str:
    command = exc.ctx.command_path if exc.ctx is not None else "fedrec"
    return f"error: {exc.format_message()} (see `{command} --help`)"


def _fail(line: str, code: int) -> int:
    print(line, file=sys.stderr)
    return code


def _set_threads() -> None:
    import torch

    threads = os.environ.get("FEDREC_THREADS", "1")
    if not threads.isdigit() or int(threads) < 1:
        raise FedrecError(f"FEDREC_THREADS must be a whole number of threads, at least 1; got {threads!r}")
    torch.set_num_threads(int(threads))


if __name__ == "__main__":
    main()
