"""Bad inputs to every command that need no Airflow: each ends in one line naming the input and its exit code.

Airflow is a closed loopback port: a command that sent anything before validating its inputs would answer exit 3
(connection) instead of the expected code, so each row also proves the input is refused before any request. After
each row, afkit's state database, its configuration and profile files, and every other file of the test's directory
are as they were; no traceback, no "internal error", and no password or token appears in the output.
"""

from __future__ import annotations

import hashlib
import socket
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest
from click.testing import CliRunner

from toolkit.cli.main import cli
from toolkit.config import save_profile
from toolkit.state import StateStore

SECRET = "s3cr3t-pw"  # every password and token in these tests: it must never be printed
TOKEN = "tok-s3cr3t"


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Case:
    id: str
    args: list[str]
    code: int
    says: tuple[str, ...]  # each must appear in the output: the input named, and what is wrong with it
    env: dict[str, str | None] = field(default_factory=dict)  # {NAME: None} removes a variable
    setup: Callable[[Path], None] | None = None


def write(name: str, text: str | bytes) -> Callable[[Path], None]:
    def make(home: Path) -> None:
        path = home / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return make


def link(name: str, target: str) -> Callable[[Path], None]:
    def make(home: Path) -> None:
        path = home / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.symlink_to(target)
    return make


def mkdir(name: str) -> Callable[[Path], None]:
    return lambda home: (home / name).mkdir(parents=True, exist_ok=True)


PLAN = ["backfill", "plan", "afkit_quick"]
LAUNCH_FILE = ["backfill", "launch", "{home}/plan.json"]
PLAN_FILE = write("plan.json", "{}")  # the options are refused before the file is read
PROFILES = "xdg/afkit/profiles.toml"
CONFIG = "afkit.toml"
NO_PASSWORD = {"AFKIT_PASSWORD": None}
NO_URL = {"AFKIT_URL": None}
PG_CLOSED = "postgresql+psycopg2://afkit:" + SECRET + "@127.0.0.1:{port}/afkit"

CASES = [
    # -- instants: overflow, range, form --------------------------------------------------------------------------
    Case("from-800000d", [*PLAN, "--from", "-800000d"], 2, ("--from '-800000d'", "out of range")),
    Case("from-huge-weeks", [*PLAN, "--from", "-99999999999w"], 2, ("--from", "out of range")),
    Case("from-5000-digits", [*PLAN, "--from", "-" + "9" * 5000 + "d"], 2, ("--from", "out of range")),
    Case("to-year-9999-offset", [*PLAN, "--from", "-2d", "--to", "9999-12-31T23:00:00-05:00"], 2,
         ("--to", "out of range")),
    Case("from-year-1-offset", [*PLAN, "--from", "0001-01-01T00:00:00+05:00"], 2, ("--from", "out of range")),
    Case("from-1899", [*PLAN, "--from", "1899-12-31"], 2, ("--from '1899-12-31'", "out of range")),
    Case("from-empty", [*PLAN, "--from", ""], 2, ("--from is empty",)),
    Case("from-blank", [*PLAN, "--from", "   "], 2, ("--from is empty",)),
    Case("from-no-zone", [*PLAN, "--from", "2026-11-01T06:00:00"], 2, ("--from", "no time zone")),
    Case("from-feb-30", [*PLAN, "--from", "2026-02-30"], 2, ("--from '2026-02-30'", "not a valid date")),
    Case("from-words", [*PLAN, "--from", "next week"], 2, ("--from 'next week'", "is not a date")),
    Case("from-years-unit", [*PLAN, "--from", "-3y"], 2, ("--from '-3y'", "is not a date")),
    Case("from-after-to", [*PLAN, "--from", "2026-11-10", "--to", "2026-11-01"], 2, ("--from", "is after --to")),
    Case("range-in-future", [*PLAN, "--from", "2999-01-01", "--to", "2999-01-02"], 2, ("2999-01-01", "future")),
    Case("to-empty", [*PLAN, "--from", "-2d", "--to", ""], 2, ("--to is empty",)),
    Case("since-overflow", ["cadence", "scan", "--since", "-800000d"], 2, ("--since '-800000d'", "out of range")),
    Case("since-empty", ["cadence", "scan", "--since", ""], 2, ("--since is empty",)),
    Case("since-words", ["cadence", "scan", "--since", "last tuesday"], 2, ("--since", "is not a date")),
    # -- partition selections: each says what is wrong -------------------------------------------------------------
    Case("partitions-empty", [*PLAN, "--partitions", ""], 2, ("--partitions is empty",)),
    Case("partitions-only-commas", [*PLAN, "--partitions", ",,"], 2, ("--partitions ',,'", "names no key")),
    Case("partitions-empty-key", [*PLAN, "--partitions", "eu,,us", "--from", "-2d"], 2, ("--partitions", "empty key")),
    Case("partitions-reversed", [*PLAN, "--partitions", "2026-11-05..2026-11-01"], 2,
         ("--partitions", "comes after the last", "2026-11-01..2026-11-05")),
    Case("partitions-two-ranges", [*PLAN, "--partitions", "a..b..c"], 2, ("--partitions 'a..b..c'", "one '..'")),
    Case("partitions-list-and-range", [*PLAN, "--partitions", "2026-11-09,2026-11-01..2026-11-03"], 2,
         ("--partitions", "not both")),
    Case("partitions-bad-date-key", [*PLAN, "--partitions", "2026-13-01"], 2,
         ("--partitions", "'2026-13-01'", "not a valid one")),
    Case("partitions-mixed-kinds", [*PLAN, "--partitions", "2026-11-01,eu"], 2, ("--partitions", "mixes dates")),
    Case("partitions-out-of-range", [*PLAN, "--partitions", "0001-01-01"], 2, ("--partitions", "out of range")),
    Case("partitions-open-range", [*PLAN, "--partitions", "2026-11-01.."], 2, ("--partitions", "both ends")),
    Case("partitions-keys-need-from", [*PLAN, "--partitions", "eu,us"], 2, ("--partitions", "'eu' is not a date",
                                                                            "--from")),
    Case("partitions-dates-and-from", [*PLAN, "--partitions", "2026-11-01..2026-11-03", "--from", "2026-11-01"], 2,
         ("--partitions", "--from cannot be combined")),
    Case("partitions-dates-and-to", [*PLAN, "--partitions", "2026-11-01", "--to", "2026-11-03"], 2,
         ("--to cannot be combined",)),
    Case("no-range-at-all", [*PLAN], 2, ("no range", "--from", "--partitions")),
    # -- reserves, caps and other plan options ---------------------------------------------------------------------
    Case("reserve-no-amount", [*PLAN, "--from", "-2d", "--reserve", "warehouse"], 2, ("--reserve 'warehouse'",)),
    Case("reserve-negative", [*PLAN, "--from", "-2d", "--reserve", "warehouse=-1"], 2,
         ("--reserve warehouse", "negative")),
    Case("reserve-over-100", [*PLAN, "--from", "-2d", "--reserve", "warehouse=150%"], 2,
         ("--reserve warehouse", "more than 100%")),
    Case("reserve-fraction", [*PLAN, "--from", "-2d", "--reserve", "warehouse=1.5"], 2,
         ("--reserve warehouse", "whole number")),
    Case("cap-percent", [*PLAN, "--from", "-2d", "--backfill-cap", "warehouse=50%"], 2,
         ("--backfill-cap warehouse=50%", "number of slots")),
    Case("cap-no-pool", [*PLAN, "--from", "-2d", "--backfill-cap", "=2"], 2, ("--backfill-cap '=2'",)),
    Case("max-active-runs-zero", [*PLAN, "--from", "-2d", "--max-active-runs", "0"], 2, ("--max-active-runs",)),
    Case("max-active-runs-word", [*PLAN, "--from", "-2d", "--max-active-runs", "many"], 2, ("--max-active-runs",)),
    Case("reprocess-bogus", [*PLAN, "--from", "-2d", "--reprocess", "all"], 2, ("--reprocess",)),
    Case("order-bogus", [*PLAN, "--from", "-2d", "--order", "sideways"], 2, ("--order",)),
    # -- the plan file to write -----------------------------------------------------------------------------------
    Case("output-in-proc", [*PLAN, "--from", "-2d", "-o", "/proc/nope/plan.json"], 2,
         ("--output /proc/nope/plan.json", "cannot be written")),
    Case("output-proc-root", [*PLAN, "--from", "-2d", "-o", "/proc/plan.json"], 2, ("--output /proc/plan.json",)),
    Case("output-under-a-file", [*PLAN, "--from", "-2d", "-o", "/dev/null/plan.json"], 2,
         ("--output /dev/null/plan.json", "/dev/null is not a directory")),
    Case("output-device", [*PLAN, "--from", "-2d", "-o", "/dev/zero"], 2, ("--output /dev/zero", "not a regular file")),
    Case("output-directory", [*PLAN, "--from", "-2d", "-o", "{home}"], 2, ("--output", "directory")),
    # -- DAG ids ---------------------------------------------------------------------------------------------------
    Case("dag-id-with-space", ["backfill", "plan", "daily revenue", "--from", "-2d"], 2, ("DAG id 'daily revenue'",)),
    Case("dag-id-empty", ["backfill", "plan", "", "--from", "-2d"], 2, ("DAG id ''",)),
    Case("dag-id-twice", ["backfill", "plan", "afkit_quick", "afkit_quick", "--from", "-2d"], 2,
         ("DAG id 'afkit_quick'", "twice")),
    Case("dag-id-too-long", ["backfill", "plan", "d" * 300, "--from", "-2d"], 2, ("DAG id", "at most 250")),
    Case("launch-dag-id-shell", ["backfill", "launch", "x;rm", "--from", "-1d", "--yes"], 2, ("DAG id 'x;rm'",)),
    # -- a plan file fixes the plan: options given with it are refused by name ---------------------------------------
    Case("plan-file-with-to", [*LAUNCH_FILE, "--to", "2026-11-03"], 2, ("--to cannot be used",), setup=PLAN_FILE),
    Case("plan-file-with-max-active-runs", [*LAUNCH_FILE, "--max-active-runs", "3"], 2, ("--max-active-runs",),
         setup=PLAN_FILE),
    Case("plan-file-with-downstream", [*LAUNCH_FILE, "--downstream"], 2, ("--downstream",), setup=PLAN_FILE),
    Case("plan-file-with-reprocess", [*LAUNCH_FILE, "--reprocess", "failed"], 2, ("--reprocess",), setup=PLAN_FILE),
    Case("plan-file-with-default-reprocess", [*LAUNCH_FILE, "--reprocess", "none"], 2, ("--reprocess",),
         setup=PLAN_FILE),
    Case("plan-file-with-order", [*LAUNCH_FILE, "--order", "newest"], 2, ("--order",), setup=PLAN_FILE),
    Case("plan-file-with-reserve", [*LAUNCH_FILE, "--reserve", "warehouse=1"], 2, ("--reserve",), setup=PLAN_FILE),
    Case("plan-file-with-cap", [*LAUNCH_FILE, "--backfill-cap", "warehouse=1"], 2, ("--backfill-cap",),
         setup=PLAN_FILE),
    Case("plan-file-with-partitions", [*LAUNCH_FILE, "--partitions", "eu"], 2, ("--partitions",), setup=PLAN_FILE),
    Case("plan-file-with-from-and-to", [*LAUNCH_FILE, "--from", "-2d", "--to", "-1d"], 2, ("--from, --to",),
         setup=PLAN_FILE),
    Case("plan-file-dry-run-with-to", [*LAUNCH_FILE, "--dry-run", "--to", "-1d"], 2, ("--to",), setup=PLAN_FILE),
    Case("plan-file-and-dag-id", [*LAUNCH_FILE, "afkit_quick"], 2, ("one plan file",), setup=PLAN_FILE),
    Case("plan-file-dev-zero", ["backfill", "launch", "/dev/zero"], 2, ("/dev/zero",)),
    Case("plan-file-missing", ["backfill", "launch", "{home}/missing.json", "--yes"], 2,
         ("missing.json", "does not exist")),
    Case("plan-file-directory", ["backfill", "launch", "{home}/"], 2, ("directory",)),
    Case("status-dev-zero", ["backfill", "status", "/dev/zero"], 2, ("/dev/zero",)),
    Case("status-backfill-id-zero", ["backfill", "status", "0"], 2, ("backfill id 0", "out of range")),
    Case("status-backfill-id-huge", ["backfill", "status", "99999999999999999999"], 2,
         ("backfill id 99999999999999999999", "out of range")),
    Case("pause-empty-target", ["backfill", "pause", ""], 2, ("target is empty",)),
    Case("cancel-missing-plan-file", ["backfill", "cancel", "{home}/gone.json"], 2, ("gone.json", "does not exist")),
    # -- connection settings: explicit values are used as given, never replaced ---------------------------------------
    Case("url-empty", ["--url", "", "status"], 2, ("--url is empty",)),
    Case("url-ftp", ["--url", "ftp://airflow:21", "status"], 2, ("--url 'ftp://airflow:21'", "http(s)")),
    Case("url-port-too-big", ["--url", "http://localhost:99999", "status"], 2, ("--url 'http://localhost:99999'",)),
    Case("url-port-zero", ["--url", "http://localhost:0", "status"], 2, ("--url", "port 0")),
    Case("url-with-space", ["--url", "http://air flow:8080", "status"], 2, ("--url", "spaces")),
    Case("url-with-query", ["--url", "http://airflow:8080/?x=1", "status"], 2, ("--url", "query")),
    Case("env-url-not-a-url", ["status"], 2, ("AFKIT_URL 'airflow'",), env={"AFKIT_URL": "airflow"}),
    Case("timeout-nan", ["--timeout", "nan", "status"], 2, ("--timeout 'nan'",)),
    Case("timeout-inf", ["--timeout", "inf", "status"], 2, ("--timeout 'inf'",)),
    Case("timeout-negative", ["--timeout", "-1", "status"], 2, ("--timeout '-1'",)),
    Case("timeout-zero", ["--timeout", "0", "status"], 2, ("--timeout '0'",)),
    Case("timeout-huge", ["--timeout", "1e300", "status"], 2, ("--timeout '1e300'", "at most")),
    Case("timeout-empty", ["--timeout", "", "status"], 2, ("--timeout is empty",)),
    Case("env-timeout-word", ["status"], 2, ("AFKIT_TIMEOUT 'soon'",), env={"AFKIT_TIMEOUT": "soon"}),
    Case("password-empty", ["--password", "", "status"], 2, ("--password is empty",)),
    Case("token-empty", ["--token", "", "status"], 2, ("--token is empty",)),
    Case("username-empty", ["--username", "", "status"], 2, ("--username is empty",)),
    Case("profile-empty", ["--profile", "", "status"], 2, ("--profile is empty",)),
    Case("profile-unknown", ["--profile", "nope", "status"], 2, ("profile 'nope'", "known profiles")),
    Case("user-without-password", ["--username", "ops", "status"], 2, ("user 'ops' has no password",),
         env=NO_PASSWORD),
    # a broken profile file stops a command that needs it (no URL given otherwise, or a profile named) …
    Case("profile-file-directory", ["status"], 2, ("profile file", "is a directory"), setup=mkdir(PROFILES),
         env=NO_URL),
    Case("profile-file-dev-zero", ["status"], 2, ("profile file", "larger than"), setup=link(PROFILES, "/dev/zero"),
         env=NO_URL),
    Case("profile-file-not-toml", ["status"], 2, ("profile file", "not valid TOML"), setup=write(PROFILES, "x = ["),
         env=NO_URL),
    Case("profile-file-binary", ["status"], 2, ("profile file", "not UTF-8"), setup=write(PROFILES, b"\xff\xfe"),
         env=NO_URL),
    Case("profile-file-not-toml-profile-named", ["--profile", "ops", "status"], 2, ("profile file", "not valid TOML"),
         setup=write(PROFILES, "x = [")),
    Case("profile-add-over-a-broken-file", ["profile", "add", "p", "--url", "http://a:1"], 2,
         ("profile file", "not valid TOML", "nothing was written"), setup=write(PROFILES, "x = [")),
    # … and is only a warning when the URL comes from a flag or AFKIT_URL: the command goes on (to the closed port)
    Case("profile-file-not-toml-url-given", ["status"], 3, ("Warning: profile file", "not valid TOML",
                                                            "the Airflow URL comes from AFKIT_URL"),
         setup=write(PROFILES, "x = [")),
    Case("profile-file-unknown-key", ["profile", "list"], 2, ("[profiles.a]", "unknown key"),
         setup=write(PROFILES, '[profiles.a]\nurl = "http://a:1"\ncolour = "red"\n')),
    # -- afkit.toml ---------------------------------------------------------------------------------------------------
    Case("config-directory", [*PLAN, "--from", "-2d"], 2, ("afkit configuration", "is a directory"),
         setup=mkdir(CONFIG)),
    Case("config-dev-zero", [*PLAN, "--from", "-2d"], 2, ("afkit configuration", "larger than"),
         setup=link(CONFIG, "/dev/zero")),
    Case("config-binary", [*PLAN, "--from", "-2d"], 2, ("afkit configuration", "not UTF-8"),
         setup=write(CONFIG, b"\xff\xfe")),
    Case("config-bad-reserve", [*PLAN, "--from", "-2d"], 2, ("afkit configuration", "warehouse"),
         setup=write(CONFIG, '[pools.warehouse]\nreserve = "lots"\n')),
    Case("config-poll-nan", ["watch", "--once"], 2, ("[governor] poll_seconds", "nan"),
         setup=write(CONFIG, "[governor]\npoll_seconds = nan\n")),
    Case("config-renotify-inf", ["watch", "--once"], 2, ("[alerts] renotify_after_minutes", "inf"),
         setup=write(CONFIG, "[alerts]\nrenotify_after_minutes = inf\n")),
    # -- afkit's state database URL: named, exit 2 or 3, never its password --------------------------------------------
    Case("state-url-malformed", ["backfill", "status"], 2, ("AFKIT_STATE_URL", "not a SQLAlchemy URL"),
         env={"AFKIT_STATE_URL": f"nonsense:{SECRET}@db"}),
    Case("state-url-unknown-dialect", ["backfill", "status"], 2, ("AFKIT_STATE_URL", "'foo'"),
         env={"AFKIT_STATE_URL": f"foo://u:{SECRET}@db/x"}),
    Case("state-url-no-driver", ["backfill", "status"], 2, ("AFKIT_STATE_URL", "driver is not installed"),
         env={"AFKIT_STATE_URL": f"mysql://u:{SECRET}@db/x"}),
    Case("state-url-unreachable-postgres", ["backfill", "status"], 3, ("AFKIT_STATE_URL", "cannot be reached"),
         env={"AFKIT_STATE_URL": PG_CLOSED}),
    Case("state-url-sqlite-in-proc", ["backfill", "status"], 2, ("AFKIT_STATE_URL", "/proc/nope", "cannot be created"),
         env={"AFKIT_STATE_URL": "sqlite:////proc/nope/state.db"}),
    Case("state-url-sqlite-under-a-file", ["backfill", "launch", "afkit_quick", "--from", "-2d"], 2,
         ("AFKIT_STATE_URL", "/dev/null is not a directory"), env={"AFKIT_STATE_URL": "sqlite:////dev/null/state.db"}),
    Case("state-url-not-a-database", ["sla", "ack", "abc"], 2, ("AFKIT_STATE_URL", "not a database"),
         env={"AFKIT_STATE_URL": "sqlite:///{home}/junk.db"}, setup=write("junk.db", "this is not SQLite " * 100)),
    Case("state-url-directory", ["backfill", "pause", "abc"], 2, ("AFKIT_STATE_URL", "is a directory"),
         env={"AFKIT_STATE_URL": "sqlite:///{home}"}),
    Case("state-url-from-config", ["backfill", "status"], 2, ("[state] url in", "/proc/nope"),
         env={"AFKIT_STATE_URL": None}, setup=write(CONFIG, '[state]\nurl = "sqlite:////proc/nope/state.db"\n')),
    # -- profile add: nothing empty is stored --------------------------------------------------------------------------
    Case("profile-add-url-empty", ["profile", "add", "p", "--url", ""], 2, ("--url is empty",)),
    Case("profile-add-password-empty", ["profile", "add", "p", "--url", "http://a:1", "--username", "ops",
                                        "--password", ""], 2, ("--password is empty",)),
    Case("profile-add-token-empty", ["profile", "add", "p", "--url", "http://a:1", "--token", ""], 2,
         ("--token is empty",)),
    Case("profile-add-password-without-user", ["profile", "add", "p", "--url", "http://a:1", "--password", SECRET], 2,
         ("--password needs --username",)),
    Case("profile-add-bad-name", ["profile", "add", "../evil", "--url", "http://a:1"], 2, ("profile name '../evil'",)),
    Case("profile-add-bad-port", ["profile", "add", "p", "--url", "http://a:70000"], 2, ("--url 'http://a:70000'",)),
    Case("profile-add-unwritable", ["profile", "add", "p", "--url", "http://a:1"], 2,
         ("profile file /proc/nope/afkit/profiles.toml", "cannot be written"), env={"XDG_CONFIG_HOME": "/proc/nope"}),
    # -- the other commands' own inputs ---------------------------------------------------------------------------------
    Case("tui-refresh-nan", ["tui", "--refresh", "nan"], 2, ("--refresh",)),
    Case("tui-refresh-too-fast", ["tui", "--refresh", "1"], 2, ("--refresh",)),
    Case("tui-url-empty", ["--url", "", "tui"], 2, ("--url is empty",)),
    Case("cadence-show-empty-asset", ["cadence", "show", ""], 2, ("asset is empty",)),
    Case("cadence-scan-empty-asset", ["cadence", "scan", "--asset", ""], 2, ("--asset is empty",)),
    Case("cadence-show-width", ["cadence", "show", "a", "--width", "5"], 2, ("--width",)),
    Case("watch-interval-word", ["watch", "--interval", "often"], 2, ("--interval",)),
    Case("unknown-command", ["backfil"], 2, ("No such command 'backfil'",)),
    # -- the demo's story: refused before Airflow starts, and a home it did not make is never wiped ---------------------
    Case("demo-scale-without-story", ["demo", "--scale", "60"], 2, ("--scale", "add --story postmortem")),
    Case("demo-story-unknown", ["demo", "--story", "outage"], 2, ("--story", "'outage' is not 'postmortem'")),
    Case("demo-story-scale-zero", ["demo", "--story", "postmortem", "--scale", "0"], 2, ("--scale",)),
    Case("demo-story-scale-nan", ["demo", "--story", "postmortem", "--scale", "nan"], 2, ("--scale",)),
    Case("demo-story-few-events", ["demo", "--story", "postmortem", "--before-events", "3"], 2, ("--before-events",)),
    Case("demo-story-with-dags", ["demo", "--story", "postmortem", "--dags", "{home}"], 2, ("--dags", "story")),
    Case("demo-story-home-not-its-own", ["demo", "--story", "postmortem", "--home", "{home}/mine", "--port", "1"], 2,
         ("mine is not empty and was not made by the story",), setup=write("mine/precious.txt", "keep me")),
]


def _files(home: Path) -> dict[str, str]:
    """Every file under ``home`` but the state database, with its content hash (symlinks by their target)."""
    found = {}
    for path in sorted(home.rglob("*")):
        if path.name.startswith("state.db"):
            continue
        if path.is_symlink():
            found[str(path)] = "-> " + str(path.readlink())
        elif path.is_file():
            found[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            found[str(path)] = "dir"
    return found


def _state_rows(db: Path) -> dict[str, list]:
    with sqlite3.connect(db) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        return {t: conn.execute(f'SELECT * FROM "{t}" ORDER BY 1').fetchall() for t in tables}


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A state database with one launched plan in it, so "nothing changed" compares real rows."""
    store = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    store.register_plan("feedc0de", None, "http://127.0.0.1:1", {"plan_id": "feedc0de"}, [("afkit_quick#0",
                                                                                          "afkit_quick")])
    store.dispose()
    return tmp_path


def test_the_table_is_large_enough():
    assert len(CASES) >= 80 and len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_bad_input_is_named_refused_and_changes_nothing(case: Case, home: Path):
    port = closed_port()
    env = {
        "AFKIT_URL": f"http://127.0.0.1:{port}", "AFKIT_USERNAME": "admin", "AFKIT_PASSWORD": SECRET,
        "AFKIT_STATE_URL": f"sqlite:///{home / 'state.db'}", "AFKIT_CONFIG": str(home / CONFIG),
        "XDG_CONFIG_HOME": str(home / "xdg"), "AFKIT_TIMEOUT": "5", "AFKIT_DEBUG": None,
    }
    for name, value in case.env.items():
        env[name] = value.format(home=home, port=port) if value is not None else None
    if case.setup:
        case.setup(home)
    before_files, before_state = _files(home), _state_rows(home / "state.db")
    args = [a.format(home=home) for a in case.args]

    result = CliRunner().invoke(cli, args, env=env, catch_exceptions=False)

    output = result.output
    assert result.exit_code == case.code, output
    for words in case.says:
        assert words in output, output
    assert "Traceback" not in output and "internal error" not in output, output
    assert result.stdout == "", f"an error goes to stderr only: {result.stdout!r}"
    assert SECRET not in output and TOKEN not in output, output
    assert _files(home) == before_files
    assert _state_rows(home / "state.db") == before_state


def test_an_explicit_token_is_not_completed_with_the_profiles_password(tmp_path, monkeypatch):
    """--token given: the profile's username and password are not used, so an expired token cannot silently turn
    into a password login; an explicit --password in turn drops the profile's token."""
    from toolkit.config import resolve_settings

    path = tmp_path / "profiles.toml"
    save_profile(path, "prod", {"url": "http://prod:8080", "username": "p-user", "password": SECRET})
    save_profile(path, "stage", {"url": "http://stage:8080", "token": TOKEN})
    by_token = resolve_settings({"token": "flag-token"}, env={}, path=path)
    assert (by_token.token, by_token.username, by_token.password) == ("flag-token", None, None)
    by_env_token = resolve_settings({}, env={"AFKIT_TOKEN": "env-token"}, path=path)
    assert (by_env_token.token, by_env_token.password) == ("env-token", None)
    by_password = resolve_settings({"profile": "stage", "username": "u", "password": "pw"}, env={}, path=path)
    assert (by_password.username, by_password.password, by_password.token) == ("u", "pw", None)
    both = resolve_settings({"username": "u", "password": "pw", "token": "t"}, env={}, path=path)
    assert (both.password, both.token) == ("pw", "t")  # both given explicitly: the token, renewed by the password


def test_an_unexpected_error_is_reported_as_a_bug_not_a_traceback(monkeypatch):
    import toolkit.cli.profile as profile_cli

    def broken(path):
        raise KeyError("boom")

    monkeypatch.setattr(profile_cli, "load_profiles", broken)
    result = CliRunner().invoke(cli, ["profile", "list"], catch_exceptions=False)
    assert result.exit_code == 1
    assert "internal error in afkit" in result.output and "KeyError: 'boom'" in result.output
    assert "Traceback" not in result.output
