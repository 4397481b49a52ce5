"""The alert id ``afkit sla ack`` takes is shown by ``afkit watch`` and ``afkit sla status`` (issue 13)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from toolkit.core.sla_board import board_with_alerts
from toolkit.render import render_board
from toolkit.core.freshness import FreshnessStatus
from toolkit.render import alert_line
from toolkit.sla import SLA
from toolkit.core.sla_board import SLABoard

NOW = datetime(2026, 11, 21, 9, 30, tzinfo=timezone.utc)


def board() -> SLABoard:
    def sla(asset: str) -> SLA:
        return SLA(asset, "max-lag", "max_lag", ("finance",), max_age=timedelta(hours=1))

    return SLABoard(NOW, (FreshnessStatus(sla("warehouse.revenue"), "late", "no update for 3h",
                                          lag=timedelta(hours=3)),
                          FreshnessStatus(sla("stripe.payments"), "fresh", "updated 4m ago",
                                          lag=timedelta(minutes=4))), ())


ALERTS = {"warehouse.revenue#max-lag": {"alert_id": "0123456789abcdef0123", "sla_key": "warehouse.revenue#max-lag",
                                        "acknowledged_by": None}}


def test_the_watch_line_names_the_alert_id_and_the_ack_command():
    assert alert_line("open", "0123456789abcdef0123", "warehouse.revenue#max-lag", "at_risk") == (
        "alert 0123456789abcdef0123: open warehouse.revenue#max-lag (at risk); "
        "silence reminders with: afkit sla ack 0123456789abcdef0123")
    assert alert_line("recover", "0123456789abcdef0123", "warehouse.revenue#max-lag", "fresh") == (
        "alert 0123456789abcdef0123: recover warehouse.revenue#max-lag (fresh)")


def test_sla_status_lists_the_open_alert_of_each_sla_in_the_table_and_the_json():
    lines = render_board(board(), ALERTS).splitlines()
    assert "alert (afkit sla ack ID)" in lines[2]
    late = next(line for line in lines if "warehouse.revenue" in line)
    fresh = next(line for line in lines if "stripe.payments" in line)
    assert "0123456789abcdef0123" in late and "0123456789abcdef0123" not in fresh
    acked = {k: {**v, "acknowledged_by": "oncall"} for k, v in ALERTS.items()}
    assert "0123456789abcdef0123 (acked by oncall)" in render_board(board(), acked)
    data = board_with_alerts(board(), ALERTS, None)
    assert [e["alert_id"] for e in data["slas"]] == ["0123456789abcdef0123", None]
    assert "alerts_note" not in data
    unavailable = render_board(board(), {}, "alert ids not shown: afkit's state database cannot be reached")
    assert unavailable.endswith("alert ids not shown: afkit's state database cannot be reached")
