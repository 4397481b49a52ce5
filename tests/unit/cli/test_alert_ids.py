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


def test_sla_status_and_status_show_each_failed_alert_message_with_its_reason(tmp_path, monkeypatch):
    """A message Slack refused for good is shown, with Slack's reason, where on-call engineers look (issue 19)."""
    from toolkit.services.alerting import alert_deliveries
    from toolkit.services.status import build_status, deliveries_to_dict
    from toolkit.render import render_status
    from toolkit.state import AlertRecord, StateStore

    url = f"sqlite:///{tmp_path / 'state.db'}"
    monkeypatch.setenv("AFKIT_STATE_URL", url)
    store = StateStore(url)
    opened = {"sla_key": "warehouse.revenue#max-lag", "breach_key": "lag:1", "status": "late", "opened_at": NOW,
              "last_notified_at": NOW}
    store.record_alerts([AlertRecord("0123456789abcdef0123", "0123456789abcdef0123:open:", "open",
                                     {"text": "LATE: warehouse.revenue — no update for 3h"}, opened),
                         AlertRecord("fedcba9876543210fedc", "fedcba9876543210fedc:open:", "open",
                                     {"text": "AT RISK: stripe.payments — soon"}, {**opened, "sla_key": "s#x"})], NOW)
    (first, _) = store.claim_outbox(NOW)
    store.finish_outbox(first["id"], "failed", NOW, "Slack refused the message: channel_not_found (check the channel)")
    summary, note = alert_deliveries()
    assert note is None and (summary["waiting"], summary["failed"]) == (1, 1)
    expected = ("  ! LATE: warehouse.revenue [slack, alert 0123456789abcdef0123, 1 attempt(s), 2026-11-21 09:30 UTC]: "
                "Slack refused the message: channel_not_found (check the channel)")
    board_lines = render_board(board(), ALERTS, None, summary, note).splitlines()
    assert "Alert messages: 1 waiting to be delivered, 1 failed (newest first):" in board_lines
    assert expected in board_lines, board_lines
    report = build_status("http://airflow", "3.3.2", [], [], [], [], deliveries=(summary, note))
    assert expected in render_status(report).splitlines()
    as_json = report.to_dict()["alert_deliveries"]
    assert as_json == deliveries_to_dict(summary, note) and as_json["failures"][0]["at"] == NOW.isoformat()
    assert as_json["by_sink"] == {"slack": {"failed": 1, "sending": 1}}  # (both were claimed)
