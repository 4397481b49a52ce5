"""The example DAGs' assets, defined once: owner, description and freshness SLAs live next to the asset.

The SLAs are declared with afkit's typed helpers into each asset's ``extra``, so they are versioned with the pipeline
and readable through ``GET /api/v2/assets``. The DAG files import from here; defining an asset in one place also
keeps its ``extra`` identical in every DAG that mentions it.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import Asset

from toolkit.devserver.clock import story_text, time_scale
from toolkit.sla import deadline, max_lag, with_slas

LA = "America/Los_Angeles"
# The postmortem's 06:00 deadline is a day away in any compressed story, so the story declares a demo SLA of its own
# on the close: kept no older than 45 story minutes (at risk) or 60 (late); a close every 30 minutes that takes 17
# keeps it. It exists only while the clock is compressed, and its name says so.
STORY_SLAS = [max_lag(warn_after=story_text(timedelta(minutes=45)), fail_after=story_text(timedelta(minutes=60)),
                      owners=["#finance-data"], severity="critical", name="story-close-lag",
                      runbook="https://runbooks.example.com/finance-close")] if time_scale() != 1 else []

STRIPE_PAYMENTS = Asset(
    name="stripe.payments",
    extra=with_slas(
        {"owner": "payments-data", "description": "Raw Stripe payments ingested from the Stripe API."},
        max_lag(warn_after=story_text(timedelta(minutes=45)), fail_after=story_text(timedelta(hours=2)),
                owners=["#payments-data"], min_rows=1,
                runbook="https://runbooks.example.com/stripe-ingest"),
    ),
)
FINANCE_DAILY_CLOSE = Asset(
    name="finance.daily_close",
    extra=with_slas(
        {"owner": "finance-data", "description": "Daily finance close ledger built from Stripe payments."},
        deadline("0 6 * * *", LA, owners=["#finance-data"], runbook="https://runbooks.example.com/finance-close"),
        *STORY_SLAS,
    ),
)
MART_DAILY_REVENUE = Asset(
    name="mart.daily_revenue",
    extra=with_slas(
        {"owner": "analytics-eng", "description": "Daily revenue mart for analytics dashboards."},
        # The postmortem's contract: fresh for the previous day by 06:00 Los Angeles time, with at least one row.
        deadline("0 6 * * *", LA, owners=["#analytics-eng"], min_rows=1,
                 runbook="https://runbooks.example.com/daily-revenue"),
    ),
)
REVENUE_REPORT = Asset(
    name="reports.daily_revenue",
    extra={"owner": "finance-data", "description": "Daily revenue report sent to finance."},
)
WEB_SESSIONS = Asset(
    name="web.sessions",
    extra=with_slas(
        {"owner": "web-analytics", "description": "Sessionised web clickstream, one partition per day."},
        deadline("0 3 * * *", "UTC", owners=["#web-analytics"], severity="warning"),
    ),
)
PARTNER_FX_RATES = Asset(
    name="partner.fx_rates",
    extra=with_slas(
        {"owner": "treasury-data", "description": "FX rates pulled from a partner's API; quotes depend on them."},
        # The demo's broken upstream: the partner is down, so this SLA goes at risk after 1 minute and late after 3.
        max_lag(warn_after="1m", fail_after="3m", owners=["#treasury-data"],
                runbook="https://runbooks.example.com/partner-fx"),
    ),
)
