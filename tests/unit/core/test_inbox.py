"""The demo inbox's renderer: Block Kit to the lines the page and the TUI show, threads, and who is mentioned."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from toolkit.core.alerts import Notification
from toolkit.core.freshness import FreshnessStatus
from toolkit.core.inbox import inbox_to_dict, plain, render, threads
from toolkit.models import AssetEvent
from toolkit.sla import SLA
from toolkit.slack import build_message

NOW = datetime(2026, 12, 1, 13, 0, tzinfo=timezone.utc)


def test_mrkdwn_links_bold_emoji_and_escapes_become_plain_text():
    assert plain("*LATE*: <https://x/runbook|Runbook> · <https://x/a> &lt;b&gt; &amp; :red_circle:") == (
        "LATE: Runbook · https://x/a <b> & ●")
    assert plain("<#C123> <@U42>") == "C123 U42"


def test_an_afkit_alert_renders_its_title_fields_and_the_owners_of_both_sides():
    sla = SLA("finance.daily_close", "story-close-lag", "max_lag", ("#finance-data",), runbook="https://r/x")
    status = FreshnessStatus(sla, "at_risk", "last update 50s ago, over warn_after 45s", lag=timedelta(seconds=50),
                             last_event=AssetEvent("finance.daily_close", NOW, None, "daily_finance_close", "r1"),
                             culprit="daily_finance_close run r2 is still running", cause="upstream stripe.payments "
                             "moved from every 30s to every 5s", cc=("#payments-data",))
    payload = build_message(Notification("open", "a1", sla.key, "k", status), "http://airflow")
    message = render({**payload, "ts": "5.1", "channel": "#alerts", "path": "chat.postMessage"})
    assert message.title == "◐ AT RISK: finance.daily_close"
    assert "Cause: upstream stripe.payments moved from every 30s to every 5s" in message.lines
    assert "Owners: #finance-data (cc #payments-data)" in message.lines
    assert "Assets in Airflow · Runbook" in message.lines
    assert message.mentions == ("#finance-data", "#payments-data")


def test_replies_join_their_thread_and_an_orphan_reply_stands_alone():
    posts = [{"text": "first", "ts": "1.0"}, {"text": "second", "ts": "2.0"},
             {"text": "reply to first", "ts": "3.0", "thread_ts": "1.0"},
             {"text": "reply to a message no longer kept", "ts": "4.0", "thread_ts": "0.5"}]
    found = threads(posts)
    assert [t.message.title for t in found] == ["reply to a message no longer kept", "second", "first"]
    assert [r.title for r in found[2].replies] == ["reply to first"]
    shape = inbox_to_dict(True, posts)
    assert shape["enabled"] and shape["messages"] == 4 and shape["threads"][2]["replies"][0]["ts"] == "3.0"


def test_unknown_blocks_are_named_and_an_empty_message_says_so():
    assert render({"blocks": [{"type": "image"}], "text": "x"}).title == "[image block]"
    assert render({}).title == "(empty message)"
