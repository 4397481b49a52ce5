"""The ``afkit`` command: parse, call the library, render. No logic lives here.

Every :class:`toolkit.errors.AfkitError` becomes ``Error: <message>`` on stderr and its exit code; anything else is a
bug and is reported as one (exit 1) rather than hidden.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from toolkit import __version__
from toolkit.cli import backfill, cadence, demo, profile, sla, status, tui, watch
from toolkit.errors import AfkitError


class AfkitGroup(click.Group):
    """Turns afkit's errors into one clear line and the exit code defined in ``toolkit.errors``."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except AfkitError as exc:
            click.echo(f"Error: {exc}", err=True)
            ctx.exit(int(exc.exit_code))


@click.group(cls=AfkitGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(__version__, prog_name="afkit")
@click.option("--url", metavar="URL", help="Airflow base URL, e.g. http://localhost:8080 [env AFKIT_URL].")
@click.option("--username", metavar="USER", help="Airflow user; exchanged for a JWT at /auth/token [env AFKIT_USERNAME].")
@click.option("--password", metavar="PASSWORD", help="Password of --username [env AFKIT_PASSWORD].")
@click.option("--token", metavar="JWT", help="Use this bearer token instead of a password [env AFKIT_TOKEN].")
@click.option("--profile", metavar="NAME", help="Profile from the afkit profile file [env AFKIT_PROFILE].")
@click.option("--timeout", metavar="SECONDS", help="HTTP timeout per request (default 30) [env AFKIT_TIMEOUT].")
@click.pass_context
def cli(ctx: click.Context, **flags: str | None) -> None:
    """afkit — operations toolkit for Apache Airflow 3.

    Connection settings come from flags, then AFKIT_* environment variables, then the chosen profile.

    \b
    Examples:
      afkit demo                          # boot the embedded demo Airflow
      afkit --profile demo status         # overview of the demo deployment
      afkit --url http://airflow:8080 --username ops status --json
    """
    ctx.obj = flags


for command in (status.status, backfill.backfill, sla.sla, cadence.cadence, watch.watch, tui.tui, demo.demo,
                profile.profile):
    cli.add_command(command)


def main(argv: list[str] | None = None) -> None:
    try:
        cli.main(args=argv, prog_name="afkit")
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(130)
