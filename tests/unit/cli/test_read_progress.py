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
