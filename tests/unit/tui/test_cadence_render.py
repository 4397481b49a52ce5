"""The terminal drawing of an asset's intervals: a log-scale sparkline with the change marked under its first bar."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from toolkit.core.cadence import describe
from toolkit.core.cadence_impact import CadenceReport, report_to_dict
from toolkit.render import render_scan, render_show, sparkline

T0 = datetime(2026, 11, 1, tzinfo=timezone.utc)


def postmortem() -> CadenceReport:
    slow = [T0 + timedelta(minutes=30 * i) for i in range(60)]
    fast = [slow[-1] + timedelta(minutes=5 * (i + 1)) for i in range(40)]
    return CadenceReport("stripe.payments", ("#payments-data",), describe(slow + fast))


def test_sparkline_is_log_scaled_and_newest_right():
    assert sparkline([1800, 1800, 300, 300]) == "██▁▁"
    assert sparkline([60, 3600, 86400])[1] in "▄▅"  # an hour sits mid-way between a minute and a day on a log scale
    assert sparkline([]) == "" and sparkline([5.0, 5.0]) == "▁▁"


def test_show_marks_the_first_interval_of_the_new_regime():
    text = render_show(postmortem(), width=60)
    lines = text.splitlines()
    bars = next(line for line in lines if line.startswith("interval  "))
    caret = next(line for line in lines if "^ changed" in line)
    column = caret.index("^")
    assert bars[column] == "▁" and bars[column - 1] == "█"  # under the first 5-minute bar, right after a 30-minute one
    assert "30m → 5m" in caret and "moved from every 30m to every 5m" in text


def test_scan_table_and_json_carry_the_change():
    report = postmortem()
    steady = CadenceReport("web.sessions", (), describe([T0 + timedelta(days=i) for i in range(30)]))
    text = render_scan([report, steady])
    assert text.startswith("Cadence of 2 asset(s): 1 changed")
    assert "30m → 5m" in text and "! stripe.payments moved from every 30m" in text
    data = report_to_dict(report)
    assert data["change"]["kind"] == "faster" and data["change"]["before_seconds"] == 1800
    assert data["change"]["after_seconds"] == 300 and data["typical_interval_seconds"] == 300
    assert report_to_dict(steady)["change"] is None and report_to_dict(steady)["message"] is None
