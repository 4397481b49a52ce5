"""One set of CLI conventions, checked on every click command of ``afkit`` (walked as ``--help`` lists them, so a
new command is checked without being named here): ``--json`` on every command that prints a result, help on every
command and option, a bad option value refused with the usage code on stderr and nothing on stdout, and ``--json``
output that parses, for each command that has it (on the in-memory Airflow where a command needs one)."""

from __future__ import annotations

import json

import click
import pytest

from tests.unit.cli.conftest import FROM, TO
from toolkit.cli.main import cli
from toolkit.cli.options import JsonOption
from toolkit.cli.reference import json_shape, leaf_commands, walk
from toolkit.errors import ExitCode
from toolkit.state import AlertRecord, StateStore

# Commands that print no result a script would parse; each says why.
NO_JSON = {
    "afkit demo": "runs Airflow until Ctrl-C: its lines are a log of what the harness does, not a result",
    "afkit tui": "a full-screen terminal app",
    "afkit completion": "prints a shell script, which the shell reads",
}
COMMANDS = {ctx.command_path: (ctx, command) for ctx, command in leaf_commands(cli)}
EVERY = {ctx.command_path: (ctx, command) for ctx, command in walk(cli)}


def test_the_walk_finds_every_command_and_the_exemptions_are_real():
    assert {"afkit status", "afkit backfill launch", "afkit sla ack", "afkit watch", "afkit completion"} <= set(COMMANDS)
    assert set(NO_JSON) <= set(COMMANDS), "an exemption names a command that does not exist"
    assert all(reason.strip() for reason in NO_JSON.values())


@pytest.mark.parametrize("path", sorted(COMMANDS))
def test_every_command_that_prints_a_result_has_json_with_its_shape(path):
    _, command = COMMANDS[path]
    options = [p for p in command.params if "--json" in getattr(p, "opts", ())]
    if path in NO_JSON:
        assert options == [], f"{path} has --json: drop it from NO_JSON"
        return
    assert len(options) == 1, f"{path} prints a result but has no --json (or add it to NO_JSON with a reason)"
    (option,) = options
    assert isinstance(option, JsonOption) and option.name == "as_json" and option.is_flag
    assert len(json_shape(command)) > 20, f"{path}: say what its --json holds"


@pytest.mark.parametrize("path", sorted(EVERY))
def test_every_command_and_option_has_help(path):
    ctx, command = EVERY[path]
    assert (command.help or "").strip(), f"{path} has no help"
    for param in command.get_params(ctx):
        if isinstance(param, click.Option) and not param.hidden:
            assert (param.help or "").strip(), f"{path} {'/'.join(param.opts)} has no help"


def _bad_value(param: click.Option) -> str | None:
    """A value click itself refuses for this option, or None when its values are only checked later."""
    if isinstance(param.type, click.Choice):
        return "not-a-choice"
    if isinstance(param.type, (click.types.IntParamType, click.types.FloatParamType)):
        return "not-a-number"
    if isinstance(param.type, click.Path) and param.type.exists:
        return "/nonexistent/afkit-test"
    return None


def _required_arguments(command: click.Command) -> list[str]:
    """Placeholder values for the command's required arguments (a valid choice where there are choices)."""
    values = []
    for param in command.params:
        if isinstance(param, click.Argument) and param.required:
            values.append(param.type.choices[0] if isinstance(param.type, click.Choice) else "x")
    return values


BAD_VALUES = [(path, option.opts[-1], bad)
              for path, (ctx, command) in sorted(EVERY.items())
              for option in command.get_params(ctx)
              if isinstance(option, click.Option) and not option.is_flag and (bad := _bad_value(option)) is not None]


def test_the_bad_values_cover_the_typed_options():
    assert {("afkit backfill plan", "--max-active-runs"), ("afkit backfill plan", "--order"),
            ("afkit watch", "--interval"), ("afkit cadence show", "--width")} <= {(p, o) for p, o, _ in BAD_VALUES}


def _usage_error(result, *words: str) -> None:
    assert result.exit_code == ExitCode.BAD_INPUT, result.output
    assert result.stdout == "", f"stdout must stay empty on an error: {result.stdout!r}"
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in result.stderr, result.stderr


@pytest.mark.parametrize(("path", "option", "bad"), BAD_VALUES, ids=[f"{p} {o}" for p, o, _ in BAD_VALUES])
def test_a_bad_option_value_exits_with_the_usage_code_on_stderr_and_nothing_on_stdout(path, option, bad, afkit):
    _, command = EVERY[path]
    words = path.split()[1:]
    result = afkit(*words, option, bad, *_required_arguments(command))
    _usage_error(result, option, "Invalid value")


@pytest.mark.parametrize("path", sorted(EVERY))
def test_an_unknown_option_exits_with_the_usage_code_on_stderr(path, afkit):
    result = afkit(*path.split()[1:], "--no-such-option")
    _usage_error(result, "No such option", "--no-such-option")


def test_a_bad_argument_choice_is_refused_the_same_way(afkit):
    _usage_error(afkit("completion", "tcsh"), "'tcsh' is not one of")


def test_an_afkit_error_is_one_line_on_stderr_with_its_code_and_nothing_on_stdout(afkit, airflow):
    result = afkit("backfill", "pause", "999", "--json")
    assert result.exit_code == ExitCode.NOT_FOUND
    assert result.stdout == "" and result.stderr.startswith("Error: backfill 999 does not exist")
    assert len(result.stderr.strip().splitlines()) == 1


def test_the_usage_code_of_click_is_the_bad_input_code():
    assert click.UsageError("x").exit_code == ExitCode.BAD_INPUT


# -- --json parses, for every command that has it -----------------------------------------------------------------


def _open_alert(home) -> str:
    store = StateStore(f"sqlite:///{home / 'state.db'}")
    opened = {"sla_key": "raw.events#max-lag", "breach_key": "lag:1", "status": "late", "opened_at": None,
              "last_notified_at": None}
    from datetime import datetime, timezone

    now = datetime.now(timezone.utc)
    store.record_alerts([AlertRecord("0123456789abcdef0123", "0123456789abcdef0123:open:", "open",
                                     {"text": "LATE: raw.events"}, {**opened, "opened_at": now,
                                                                    "last_notified_at": now})], now)
    store.dispose()
    return "0123456789abcdef0123"


def _launched(afkit) -> None:
    launched = afkit("backfill", "launch", "raw", "--from", FROM, "--to", TO, "--yes", "--json")
    assert launched.exit_code == 0, launched.output


PLAN = ["backfill", "plan", "raw", "--from", FROM, "--to", TO]
# Each command with --json: what to run (after an optional setup), and what its document must hold.
JSON_CASES = {
    "afkit status": ([["status"]], None, lambda d: d["url"] and d["healthy"] is True),
    "afkit backfill plan": ([PLAN], None, lambda d: d["dags"][0]["dag_id"] == "raw"),
    "afkit backfill launch": ([[*PLAN[:1], "launch", *PLAN[2:], "--dry-run"],
                               [*PLAN[:1], "launch", *PLAN[2:], "--yes"]], None,
                              lambda d: d.get("dry_run") is True or (d["outcome"] == "created" and d["created"])),
    "afkit backfill status": ([["backfill", "status"], ["backfill", "status", "{backfill}"]], _launched,
                              lambda d: "active_backfills" in d or d["dag_id"] == "raw"),
    "afkit backfill pause": ([["backfill", "pause", "{backfill}"]], _launched,
                             lambda d: d["action"] == "pause" and d["backfills"][0]["is_paused"] is True),
    "afkit backfill resume": ([["backfill", "resume", "{backfill}"]], _launched,
                              lambda d: d["action"] == "resume" and d["backfills"][0]["is_paused"] is False),
    "afkit backfill cancel": ([["backfill", "cancel", "{backfill}", "--yes"]], _launched,
                              lambda d: d["action"] == "cancel" and d["backfills"][0]["completed_at"]),
    "afkit sla status": ([["sla", "status"]], None, lambda d: d["counts"]["late"] == 1),
    "afkit sla check": ([["sla", "check"]], None, lambda d: d["slas"][0]["status"] == "late"),
    "afkit sla ack": ([["sla", "ack", "0123"]], lambda afkit: _open_alert(afkit.home),
                      lambda d: d["alert_id"] == "0123456789abcdef0123" and d["acknowledged_by"]),
    "afkit cadence scan": ([["cadence", "scan"]], None, lambda d: d[0]["asset"] == "raw.events"),
    "afkit cadence show": ([["cadence", "show", "raw.events"]], None, lambda d: d["events"] == 5),
    "afkit cadence simulate": ([["cadence", "simulate", "raw.events", "--every", "5m"]], None,
                               lambda d: d["asset"] == "raw.events" and d["proposed"]["events"] == 288),
    "afkit watch": ([["watch", "--once"]], None, lambda d: d["ok"] is True and d["late"] == 1),
    "afkit profile add": ([["profile", "add", "prod", "--url", "http://prod:8080", "--token", "t"]], None,
                          lambda d: d == {**d, "profile": "prod", "default": False}),
    "afkit profile list": ([["profile", "list"]], None, lambda d: d == {"default": None, "profiles": []}),
}


def test_every_command_with_json_has_a_case():
    with_json = {path for path, (_, command) in COMMANDS.items() if json_shape(command) is not None}
    assert with_json == set(JSON_CASES)


@pytest.mark.parametrize("path", sorted(JSON_CASES))
def test_json_output_parses_and_is_the_only_thing_on_stdout(path, airflow, afkit):
    runs, setup, holds = JSON_CASES[path]
    if setup is not None:
        setup(afkit)
    backfill = next(iter(airflow.backfill_rows), None)
    expected_code = ExitCode.SLA_LATE if path == "afkit sla check" else ExitCode.OK
    for args in runs:
        result = afkit(*(a.format(backfill=backfill) for a in args), "--json")
        assert result.exit_code == expected_code, result.output
        data = json.loads(result.stdout)  # one document: nothing else is on stdout
        assert holds(data), data
