"""The CLI's progress bar for long REST reads: on a terminal's stderr only, never with --json, never for short reads."""

from __future__ import annotations

import io

from toolkit.cli import options
from toolkit.cli.options import LONG_READ, read_progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_no_progress_with_json_or_when_stderr_is_not_a_terminal(monkeypatch):
    monkeypatch.setattr(options.sys, "stderr", io.StringIO())
    with read_progress(False) as progress:
        assert progress is None
    monkeypatch.setattr(options.sys, "stderr", Terminal())
    with read_progress(True) as progress:
        assert progress is None


def test_a_long_read_draws_a_bar_on_stderr_and_a_short_one_nothing(monkeypatch):
    terminal = Terminal()
    monkeypatch.setattr(options.sys, "stderr", terminal)
    with read_progress(False) as progress:
        for done in range(LONG_READ - 1 + 1):
            progress("a few events", done, LONG_READ - 1)
    assert terminal.getvalue() == ""
    with read_progress(False) as progress:
        for done in range(201):
            progress("asset events for the SLA board", done, 200)
    drawn = terminal.getvalue()
    assert "reading asset events for the SLA board" in drawn and "100%" in drawn


def test_the_working_line_is_for_a_terminals_stderr_only_and_never_with_json(monkeypatch, capsys):
    from toolkit.cli.options import working

    monkeypatch.setattr(options.sys, "stderr", Terminal())
    working("planning raw", as_json=True)
    assert options.sys.stderr.getvalue() == ""
    working("planning raw", as_json=False)
    assert options.sys.stderr.getvalue() == "planning raw …\n"
    monkeypatch.setattr(options.sys, "stderr", io.StringIO())
    working("planning raw", as_json=False)
    assert options.sys.stderr.getvalue() == ""


def test_a_plan_made_in_a_pipe_prints_no_progress(airflow, afkit):
    from tests.unit.cli.conftest import FROM, TO

    result = afkit("backfill", "plan", "raw", "--from", FROM, "--to", TO)
    assert result.exit_code == 0 and result.stderr == ""
    assert result.stdout.startswith("Backfill plan ")


def test_the_status_of_many_launched_plans_reports_progress_on_a_terminal(airflow, afkit, monkeypatch):
    """Each launched plan is one read of its runs and backfills: past LONG_READ of them, a bar says how far it is."""
    from toolkit.state import StateStore

    store = StateStore(afkit.env["AFKIT_STATE_URL"])
    for n in range(LONG_READ):
        store.register_plan(f"{n:016x}", None, airflow.url, {"plan_id": f"{n:016x}"}, [])
    store.dispose()
    seen = []
    monkeypatch.setattr(options, "stderr_is_terminal", lambda: True)
    monkeypatch.setattr(options.click, "progressbar", lambda **kw: seen.append(kw) or _Bar())
    monkeypatch.setattr("toolkit.services.backfills.plan_status", lambda client, store, plan: "running")
    monkeypatch.setattr("toolkit.services.backfills.plan_from_journal", lambda store, plan_id: None)

    assert afkit("backfill", "status").exit_code == 0
    assert [kw["label"] for kw in seen] == ["reading the progress of launched plans"]
    assert afkit("backfill", "status", "--json").exit_code == 0 and len(seen) == 1  # never with --json


class _Bar:
    pos = 0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None

    def update(self, steps):
        self.pos += steps
