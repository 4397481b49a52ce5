"""Every error afkit reports, and the exit code it maps to — defined once, here.

Edges (CLI, TUI) catch :class:`AfkitError` and show ``str(error)``; they never build their own messages for these
situations, so the wording is the same everywhere. ``docs/exit-codes.md`` is generated from :data:`EXIT_CODES`
(``python -m toolkit.cli.reference --write``) and a test fails when it drifts.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Mapping


class ExitCode(IntEnum):
    """Process exit codes of the ``afkit`` command."""

    OK = 0
    FAILURE = 1  # an unexpected internal error (a bug): reported with its type, never swallowed
    BAD_INPUT = 2  # wrong arguments, invalid configuration or plan file (also click's usage errors)
    CONNECTION = 3  # Airflow not reachable, or not an Airflow 3 API server
    AUTH = 4  # credentials rejected (401) or permission missing (403)
    NOT_FOUND = 5  # a DAG, pool, backfill … does not exist (404)
    CONFLICT = 6  # Airflow refused because of the current state (409)
    SERVER = 7  # Airflow failed (5xx) or answered something afkit cannot read
    SLA_LATE = 8  # `afkit sla check`: at least one SLA is late


# What each code means to a person running afkit, and which commands use it: the table docs/exit-codes.md shows.
EXIT_CODES: dict[ExitCode, str] = {
    ExitCode.OK: "success",
    ExitCode.FAILURE: "an unexpected internal error (a bug; please report it with the command that caused it; "
                      "`AFKIT_DEBUG=1` shows the traceback)",
    ExitCode.BAD_INPUT: "wrong arguments or options (click's usage errors too), invalid configuration, profile or plan "
                        "file, or a request Airflow rejected as invalid (400/422); nothing was changed. "
                        "`afkit sla check`: an SLA declaration is invalid (and none is late)",
    ExitCode.CONNECTION: "Airflow is not reachable at the URL, or the server there is not Airflow 3; or afkit's state "
                         "database cannot be reached. `afkit watch --once`: a part of its pass failed (each part's "
                         "error is on stderr)",
    ExitCode.AUTH: "credentials or token rejected (401), or a permission missing (403; the message names it)",
    ExitCode.NOT_FOUND: "the DAG, pool, backfill, plan or alert does not exist (404)",
    ExitCode.CONFLICT: "Airflow refused because of its current state (409), e.g. a backfill already running; or a "
                       "plan disagrees with Airflow's dry run",
    ExitCode.SERVER: "Airflow failed (5xx) or answered something afkit cannot read; `afkit demo` could not start "
                     "Airflow, or a component kept exiting",
    ExitCode.SLA_LATE: "`afkit sla check`: at least one freshness SLA is late",
}
INTERRUPTED = 130  # Ctrl-C (SIGINT) before a command finished: the shell's convention, 128 + the signal's number
WATCH_PASS_FAILED = ExitCode.CONNECTION  # `afkit watch --once` when a part of its pass failed (see EXIT_CODES)


class Remedy:
    """What a person can do about an error, named neutrally; each edge says it in its own words (the CLI names its
    flag, the terminal app its key): ``toolkit/cli/hints.py``, ``toolkit/tui/hints.py``."""

    DOWNSTREAM = "downstream"  # plan the upstream DAGs with their consumers
    OLDEST_FIRST = "oldest-first"  # order the backfill oldest first
    REPROCESS = "reprocess"  # reprocess failed or completed runs
    NO_BUDGET = "no-budget"  # lower a reserve, or force one run at a time
    CANCEL_ACTIVE = "cancel-active"  # cancel the active backfill (args: backfill_id)
    UNPAUSE = "unpause"  # unpause the plan's DAGs
    SMALLER_BUDGET = "smaller-budget"  # hold fewer slots of a pool (args: pool, slots, reserve)
    START_LATER = "start-later"  # start the backfill later (args: at)


class AfkitError(Exception):
    """Base of every error afkit reports to a person. ``str()`` is the complete message, in neutral words.

    ``remedy`` (a :class:`Remedy` name, with ``remedy_args``) lets each edge add how to fix it in its own terms.
    """

    exit_code: ExitCode = ExitCode.FAILURE

    def __init__(self, *args: object, remedy: str | None = None, remedy_args: dict | None = None) -> None:
        super().__init__(*args)
        self.remedy, self.remedy_args = remedy, remedy_args or {}

    def with_hint(self, words: Mapping[str, str]) -> str:
        """The message with an edge's ``words`` for its remedy after it (see :func:`hinted`)."""
        return hinted(str(self), self.remedy, words, self.remedy_args)


def hinted(message: str, remedy: str | None, words: Mapping[str, str], args: dict | None = None) -> str:
    """``message`` with an edge's words for ``remedy`` (a template over ``args``) after it, when it has some."""
    if remedy not in words:
        return message
    return f"{message} ({words[remedy].format(**(args or {}))})"


class BadInput(AfkitError):
    """Something the user gave (argument, file, configuration) is wrong; nothing was changed."""

    exit_code = ExitCode.BAD_INPUT


class ConfigError(BadInput):
    """The afkit configuration or a profile is invalid."""


class AirflowUnreachable(AfkitError):
    """No usable Airflow API server at the configured URL."""

    exit_code = ExitCode.CONNECTION


class NotAirflow3(AirflowUnreachable):
    """The URL answered, but not as an Airflow 3 API server."""


class StateUnavailable(AfkitError):
    """afkit's own state database (journal, alerts, outbox) cannot be reached; exit code as an unreachable Airflow."""

    exit_code = ExitCode.CONNECTION


class AuthenticationFailed(AfkitError):
    """Airflow rejected the credentials or token (HTTP 401)."""

    exit_code = ExitCode.AUTH


class PermissionDenied(AfkitError):
    """The user is authenticated but lacks a permission (HTTP 403)."""

    exit_code = ExitCode.AUTH


class NotFound(AfkitError):
    """The named DAG, pool, backfill … does not exist (HTTP 404)."""

    exit_code = ExitCode.NOT_FOUND


class Conflict(AfkitError):
    """Airflow refused the request because of its current state (HTTP 409)."""

    exit_code = ExitCode.CONFLICT


class AirflowServerError(AfkitError):
    """Airflow failed (HTTP 5xx) or returned a response afkit cannot read."""

    exit_code = ExitCode.SERVER


class LaunchError(AirflowServerError):
    """The harness could not start Airflow, or a component kept exiting; the message names the component and quotes
    the end of its log (``afkit demo`` exits with the server code)."""
