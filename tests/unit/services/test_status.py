"""The status report is computed from data alone."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path

from toolkit.errors import EXIT_CODES, ExitCode
from toolkit.models import Backfill, ComponentHealth, Dag, Pool
from toolkit.services.status import build_status

NOW = datetime(2026, 11, 21, tzinfo=timezone.utc)


def _backfill(id: int, completed: datetime | None) -> Backfill:
    return Backfill(id=id, dag_id="d", from_date=NOW, to_date=NOW, is_paused=False, max_active_runs=2,
                    reprocess_behavior="none", created_at=NOW, completed_at=completed)


def test_counts_and_filters():
    dags = [
        Dag("a", is_paused=False),
        Dag("b", is_paused=True),
        Dag("c", is_paused=False, is_backfillable=False, timetable_summary="Asset"),
        Dag("gone", is_paused=False, is_stale=True),
        Dag("broken", is_paused=True, has_import_errors=True),
    ]
    pools = [Pool("z", 3, 1, 2, 0), Pool("a", -1, -1, 0, 0)]
    report = build_status("http://x", "3.3.2", [ComponentHealth("scheduler", "healthy")], dags, pools,
                          [_backfill(2, None), _backfill(1, NOW), _backfill(3, None)])
    assert (report.dags.total, report.dags.active, report.dags.paused) == (4, 2, 2)
    assert (report.dags.asset_triggered, report.dags.with_import_errors) == (1, 1)
    assert [p.name for p in report.pools] == ["a", "z"]
    assert [b.id for b in report.active_backfills] == [2, 3]
    assert report.healthy
    assert report.to_dict()["active_backfills"][0]["id"] == 2


def test_one_unhealthy_component_makes_the_deployment_unhealthy():
    components = [ComponentHealth("scheduler", "healthy"), ComponentHealth("triggerer", "unhealthy")]
    assert not build_status("http://x", "3.3.2", components, [], [], []).healthy


def test_exit_codes_page_documents_every_exit_code():
    """docs/exit-codes.md (the page the README and docs/cli.md link) lists each code, its name and its meaning
    exactly as toolkit/errors.py defines them."""
    page = (Path(__file__).resolve().parents[3] / "docs" / "exit-codes.md").read_text()
    rows = re.findall(r"^\| (\d+) \| `(\w+)` \| (.+) \|$", page, re.MULTILINE)
    documented = {int(code): (name, meaning.replace("\\|", "|")) for code, name, meaning in rows}
    assert documented == {int(code): (code.name, EXIT_CODES[code]) for code in ExitCode}


def test_policy_problems_and_config_errors_are_reported_not_fatal():
    from toolkit.core.throttle import Amount, PoolPolicy, ThrottlePolicy

    policy = ThrottlePolicy(pools=(PoolPolicy("tiny", Amount(5)), PoolPolicy("ghost", Amount(1))))
    report = build_status("http://x", "3.3.2", [], [], [Pool("tiny", 2, 2, 0, 0), Pool("big", 10, 10, 0, 0)], [],
                          policy=policy, config_errors=("[pools] broken",))
    assert "more than its 2 slot" in report.pool_policy["tiny"]["error"]
    assert "does not exist" in report.pool_policy["ghost"]["error"]
    assert report.pool_policy["big"] == {"reserve": 0, "backfill_budget": 10}
    assert report.to_dict()["config_errors"] == ["[pools] broken"]
