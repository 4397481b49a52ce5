"""Options and helpers shared by the CLI commands."""

from __future__ import annotations

import functools
from typing import Any, Callable

import click

from toolkit.config import ConnectionSettings, resolve_settings


def connection_settings(ctx: click.Context) -> ConnectionSettings:
    return resolve_settings(ctx.find_root().obj or {})


def with_client(func: Callable[..., Any]) -> Callable[..., Any]:
    """Give a command an :class:`~toolkit.airflow.AirflowClient` built from the global options as ``client``."""

    @functools.wraps(func)
    @click.pass_context
    def wrapper(ctx: click.Context, *args: Any, **kwargs: Any) -> Any:
        from toolkit.airflow import AirflowClient

        with AirflowClient(connection_settings(ctx)) as client:
            return ctx.invoke(func, *args, client=client, **kwargs)

    return wrapper


def json_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")(func)
