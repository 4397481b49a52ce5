"""The ``afkit`` command: parse, call the library, render. No logic lives here.

Every :class:`toolkit.errors.AfkitError` becomes ``Error: <message>`` on stderr and its exit code; anything else is a
bug and is reported as one (exit 1) rather than hidden.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

import click

from toolkit import __version__
from toolkit.cli.hints import HINTS
from toolkit.errors import INTERRUPTED, AfkitError, ExitCode

# Subcommands are imported when used: ``afkit tui`` must not wait for the REST client, pandas and SQLAlchemy to load
# before it paints (they load in its background workers), and ``afkit --help`` lists them from here without importing
# any (a unit test keeps these lines equal to each command's own first docstring line).
COMMANDS = {
    "status": ("toolkit.cli.status:status", "Airflow version, component health, DAG counts, pools and active backfills."),
    "backfill": ("toolkit.cli.backfill:backfill", "Plan, launch and follow partition-scoped backfills."),
    "sla": ("toolkit.cli.sla:sla", "Freshness SLAs declared on assets (toolkit.sla helpers in DAG code)."),
    "cadence": ("toolkit.cli.cadence:cadence", "How often each asset is updated, and the upstream changes that quietly "
                "break downstream assumptions."),
    "watch": ("toolkit.cli.watch:watch", "Govern running afkit backfills and evaluate freshness SLAs, alerting owners "
              "in Slack."),
    "tui": ("toolkit.cli.tui:tui", "DAGs, freshness SLAs, cadence changes and pools in one terminal screen (press ? "
            "for keys)."),
    "demo": ("toolkit.cli.demo:demo", "Boot Airflow 3 with the afkit plugin and the example DAGs; runs until Ctrl-C."),
    "profile": ("toolkit.cli.profile:profile", "Manage connection profiles."),
    "completion": ("toolkit.cli.completion:completion", "Print the shell completion script of a shell: bash (4.4+), "
                   "zsh or fish."),
}


class AfkitGroup(click.Group):
    """Loads subcommands lazily, and turns afkit's errors into one clear line and the exit code defined in
    ``toolkit.errors``."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module, _, attribute = COMMANDS[name][0].partition(":")
        return getattr(importlib.import_module(module), attribute)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, short) for name, (_, short) in COMMANDS.items()])

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except AfkitError as exc:
            click.echo(f"Error: {exc.with_hint(HINTS)}", err=True)
            ctx.exit(int(exc.exit_code))
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise  # usage errors (exit 2), ctx.exit(…) and a declined confirmation: click reports them itself
        except Exception as exc:  # noqa: BLE001 - not an input error: a bug, reported as one, never exit 0
            if os.environ.get("AFKIT_DEBUG"):
                raise
            click.echo(f"Error: internal error in afkit (a bug; please report it with the command that caused it): "
                       f"{type(exc).__name__}: {exc}. Set AFKIT_DEBUG=1 to see the traceback.", err=True)
            ctx.exit(int(ExitCode.FAILURE))


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


def main(argv: list[str] | None = None) -> None:
    try:
        cli.main(args=argv, prog_name="afkit")
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(INTERRUPTED)
