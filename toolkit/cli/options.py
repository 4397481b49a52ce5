"""Options and helpers shared by the CLI commands."""

from __future__ import annotations

import contextlib
import functools
import math
import os
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator

import click
from click.core import ParameterSource

from toolkit.config import ConnectionSettings, resolve_settings
from toolkit.errors import BadInput
from toolkit.render import to_json

if TYPE_CHECKING:
    from toolkit.airflow import AirflowClient


def connection_settings(ctx: click.Context) -> ConnectionSettings:
    """The resolved settings; what did not stop the command (a broken profile file it did not need) goes to stderr."""
    settings = resolve_settings(ctx.find_root().obj or {})
    for warning in settings.warnings:
        click.echo(f"Warning: {warning}", err=True)
    return settings


def open_client(settings: ConnectionSettings) -> AirflowClient:
    """The one place a command's Airflow client is made (the CLI's tests put an in-memory Airflow here)."""
    from toolkit.airflow import AirflowClient

    return AirflowClient(settings)


def with_client(func: Callable[..., Any]) -> Callable[..., Any]:
    """Give a command an :class:`~toolkit.airflow.AirflowClient` built from the global options as ``client``.

    The settings are resolved (and refused when wrong) here, before the command runs; the client connects lazily,
    at its first request, so a command validates all its own inputs before anything is sent to Airflow.
    """

    @functools.wraps(func)
    @click.pass_context
    def wrapper(ctx: click.Context, *args: Any, **kwargs: Any) -> Any:
        with open_client(connection_settings(ctx)) as client:
            return ctx.invoke(func, *args, client=client, **kwargs)

    return wrapper


class JsonOption(click.Option):
    """``--json``, carrying the sentence that describes the JSON the command prints (its help, and docs/cli.md)."""

    def __init__(self, *args: Any, shape: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.shape = shape


def json_option(shape: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--json`` (parameter ``as_json``): print the result as JSON on stdout, in the one format of
    :func:`toolkit.render.to_json`; ``shape`` says in a sentence what the document holds."""
    return click.option("--json", "as_json", cls=JsonOption, is_flag=True, shape=shape,
                        help=f"Print JSON instead of text: {shape}")


def echo_json(data: Any) -> None:
    click.echo(to_json(data))


def stderr_is_terminal() -> bool:
    """Progress is for a person watching: on stderr, and only when stderr is a terminal (never in a pipe or a log)."""
    return sys.stderr.isatty()


def working(what: str, as_json: bool) -> None:
    """One line on a terminal's stderr before a long read that reports no progress of its own ("planning …")."""
    if not as_json and stderr_is_terminal():
        click.echo(f"{what} …", err=True)


LONG_READ = 50  # reads of fewer items finish before a progress bar would help


@contextlib.contextmanager
def read_progress(as_json: bool) -> Iterator[Callable[[str, int, int], None] | None]:
    """A progress bar on stderr for each long REST read (one request per asset, when the plugin is not there);
    nothing with --json or when stderr is not a terminal, so pipes and scripts see only the result."""
    if as_json or not stderr_is_terminal():
        yield None
        return
    bars: dict[str, Any] = {}

    def report(what: str, done: int, total: int) -> None:
        if total < LONG_READ:
            return
        if what not in bars:
            bars[what] = click.progressbar(length=total, label=f"reading {what}", file=sys.stderr)
            bars[what].__enter__()
        bar = bars[what]
        bar.update(done - bar.pos)
        if done >= total:
            bars.pop(what).__exit__(None, None, None)

    try:
        yield report
    finally:
        for bar in bars.values():
            bar.__exit__(None, None, None)


def flag_of(ctx: click.Context, name: str) -> str:
    """The flag a person types for the parameter ``name`` (``from_`` → ``--from``)."""
    for param in ctx.command.params:
        if param.name == name:
            return max(param.opts, key=len)
    return name


def given_explicitly(ctx: click.Context, names: Iterable[str]) -> list[str]:
    """The flags among ``names`` that were given on the command line (or by environment), not left at default."""
    return [flag_of(ctx, name) for name in names
            if ctx.get_parameter_source(name) not in (None, ParameterSource.DEFAULT, ParameterSource.DEFAULT_MAP)]


def check_output_path(path: Path, flag: str) -> Path:
    """Refuse, before any work, an output file that cannot be written: a directory, a special file, a parent that is
    not a directory or cannot be written. Probes by creating (and removing) a temporary file in the nearest existing
    directory, so nothing is left behind and a read-only or virtual file system (``/proc``) is caught too."""
    if path.exists() and not path.is_file():
        raise BadInput(f"{flag} {path}: not a regular file (a directory or a device)")
    existing = next((p for p in (path.parent, *path.parent.parents) if p.exists()), Path("."))
    if not existing.is_dir():
        raise BadInput(f"{flag} {path}: {existing} is not a directory")
    try:
        fd, probe = tempfile.mkstemp(prefix=".afkit-probe.", dir=existing)
    except OSError as exc:
        raise BadInput(f"{flag} {path} cannot be written: {existing}: {exc.strerror or exc}") from None
    os.close(fd)
    os.unlink(probe)
    return path


def output_path_callback(ctx: click.Context, param: click.Parameter, value: Path | None) -> Path | None:
    return None if value is None else check_output_path(value, max(param.opts, key=len))


def finite_float(ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
    """click's FloatRange lets nan through (every comparison with it is false): refuse nan and inf."""
    if value is not None and not math.isfinite(value):
        raise click.BadParameter(f"{value} is not a finite number", ctx=ctx, param=param)
    return value
