"""The plugin's boards read back from their JSON: the same values, so every consumer works on one type whichever
path (plugin or REST) answered; and JSON of another shape is refused, never misread."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import msgspec
import pytest

from toolkit.core.cadence import describe
from toolkit.core.cadence_impact import CadenceReport, report_to_dict, seam_impact
from toolkit.core.freshness import ProducerRun, evaluate_all
from toolkit.core.plugin_api import (API_VERSION, UnreadableBoard, board_from_dict, board_from_typed_json,
                                     occupancy_from_dict, reports_from_dicts, reports_from_typed_json)
from toolkit.core.sla_board import SLABoard, board_to_dict, sorted_statuses
from toolkit.models import AssetEvent, Pool
from toolkit.sla import InvalidSLA, deadline, max_lag, parse_slas, with_slas

NOW = datetime(2026, 12, 1, 13, 0, tzinfo=timezone.utc)


def board() -> SLABoard:
    slas = [*parse_slas("a.lag", with_slas({}, max_lag(warn_after="30m", fail_after="1h", owners=["#a"], min_rows=3,
                                                        runbook="https://r/a"))),
            *parse_slas("b.daily", with_slas({}, deadline("0 6 * * *", "America/Los_Angeles", owners=["#b", "@c"]))),
            *parse_slas("c.age", with_slas({}, deadline("0 * * * *", "UTC", owners=["#c"], max_age="2h",
                                                         severity="warning")))]
    events = {"a.lag": [AssetEvent("a.lag", NOW - timedelta(hours=2), None, "dag_a", "scheduled__1", 5)],
              "b.daily": [AssetEvent("b.daily", NOW - timedelta(days=1), "2026-11-29", "dag_b", "scheduled__2")],
              "c.age": []}
    producers = {"a.lag": ProducerRun("dag_a", "failed", "scheduled__1"), "b.daily": ProducerRun("dag_b", "success",
                 "scheduled__2", p90_seconds=60), "c.age": ProducerRun("dag_c", None)}
    statuses = evaluate_all(slas, events, NOW, producers, {"c.age": NOW - timedelta(days=3)})
    return SLABoard(NOW, sorted_statuses(statuses), (InvalidSLA("d.bad", "deadline", "cron 'x' is not valid"),))


def test_the_sla_board_comes_back_equal_from_its_json():
    original = board()
    assert {s.status for s in original.statuses} >= {"late"}
    wire = json.loads(json.dumps(board_to_dict(original)))
    assert board_from_dict(wire) == original
    assert board_to_dict(board_from_dict(wire)) == wire


def test_the_sla_board_comes_back_equal_from_its_typed_form():
    original = board()
    back = board_from_typed_json(msgspec.json.encode(original))
    assert back == original
    assert [s.lag for s in back.statuses] == [s.lag for s in original.statuses]  # durations keep their sign
    assert board_to_dict(back) == board_to_dict(original)


@pytest.mark.parametrize("broken", [b"{}", b"[1]", b'{"evaluated_at": "2026-12-01T13:00:00Z", "statuses": [{"sla": {}}],'
                                    b' "invalid": []}', b"not json"])
def test_a_typed_board_that_does_not_fit_is_refused_with_the_reason(broken):
    with pytest.raises(UnreadableBoard, match=f"not in the typed form of API version {API_VERSION}"):
        board_from_typed_json(broken)


def cadence_reports() -> list[CadenceReport]:
    """A changed asset with one consumer's side of the seam, and a quiet one."""
    t0 = datetime(2026, 11, 1, tzinfo=timezone.utc)
    series = [t0 + timedelta(minutes=30 * i) for i in range(40)]
    series += [series[-1] + timedelta(minutes=5 * (i + 1)) for i in range(40)]
    model = describe(series, now=series[-1] + timedelta(minutes=1))
    impact = seam_impact("close", ("#f",), model.last_change.at, series[-1], [], [], t0, ("f.x (late)",), ("f.x",))
    return [CadenceReport("s.p", ("#p",), model, (impact,), 2),
            CadenceReport("q.quiet", (), describe(series[:30], now=NOW))]


def test_cadence_reports_come_back_equal_from_their_json():
    reports = cadence_reports()
    for intervals in (True, False):
        wire = json.loads(json.dumps([report_to_dict(r, intervals=intervals) for r in reports]))
        back = reports_from_dicts(wire)
        assert [report_to_dict(r, intervals=intervals) for r in back] == wire
        if intervals:
            assert back == reports


def test_cadence_reports_come_back_equal_from_their_typed_form():
    reports = cadence_reports()
    assert reports[0].change is not None and reports[0].consumers
    assert reports_from_typed_json(msgspec.json.encode(reports)) == reports
    # Without the interval histories, as the plugin sends unchanged assets: the values the dict shape gives.
    lean = [replace(r, model=replace(r.model, intervals=())) for r in reports]
    assert reports_from_typed_json(msgspec.json.encode(lean)) == reports_from_dicts(
        json.loads(json.dumps([report_to_dict(r, intervals=False) for r in reports])))


@pytest.mark.parametrize("broken", [b"{}", b'[{"asset": "a"}]', b"[1]"])
def test_typed_cadence_reports_that_do_not_fit_are_refused_with_the_reason(broken):
    with pytest.raises(UnreadableBoard, match=f"cadence reports are not in the typed form of API version {API_VERSION}"):
        reports_from_typed_json(broken)


@pytest.mark.parametrize("broken", [{}, {"slas": [{"asset": "a"}]}, {"slas": "x", "invalid": []}])
def test_a_board_of_another_shape_is_refused_with_the_reason(broken):
    with pytest.raises(UnreadableBoard, match=f"not in the shape of API version {API_VERSION}"):
        board_from_dict(broken)
    with pytest.raises(UnreadableBoard, match="cadence reports"):
        reports_from_dicts([broken])


def test_slot_usage_comes_back_as_airflows_pool_counts_and_summable_instances():
    usage = {"pools": [{"pool": "warehouse", "slots": 8, "include_deferred": True, "description": "dw"},
                       {"pool": "open", "slots": -1, "include_deferred": False, "description": None}],
             "slots": [{"pool": "warehouse", "state": "running", "dag_id": "bulk", "backfill": True, "slots": 3},
                       {"pool": "warehouse", "state": "queued", "dag_id": "orders", "backfill": False, "slots": 1},
                       {"pool": "warehouse", "state": "scheduled", "dag_id": "orders", "backfill": False, "slots": 2},
                       {"pool": "warehouse", "state": "deferred", "dag_id": "sensor", "backfill": False, "slots": 1},
                       {"pool": "open", "state": "running", "dag_id": "x", "backfill": False, "slots": 5}]}
    pools, instances = occupancy_from_dict(json.loads(json.dumps(usage)))
    assert pools == [Pool("warehouse", 8, 8 - 3 - 1 - 1, 3, 1, 2, 1, True, "dw"), Pool("open", -1, -1, 5, 0)]
    # Deferred instances count in their pool (it includes deferred) but are not instances holding or waiting.
    assert sorted((t.pool, t.state, t.dag_id, t.is_backfill, t.pool_slots) for t in instances) == [
        ("open", "running", "x", False, 5), ("warehouse", "queued", "orders", False, 1),
        ("warehouse", "running", "bulk", True, 3), ("warehouse", "scheduled", "orders", False, 2)]


def test_slot_usage_of_another_shape_is_refused_with_the_reason():
    with pytest.raises(UnreadableBoard, match=f"pool occupancy is not in the shape of API version {API_VERSION} .*slots"):
        occupancy_from_dict({"pools": []})


def test_active_backfills_read_back_and_a_wrong_shape_is_named():
    from toolkit.core.plugin_api import backfills_from_dicts

    entry = {"id": 7, "dag_id": "d", "from_date": "2026-01-01T00:00:00+00:00", "to_date": "2026-01-03T00:00:00+00:00",
             "is_paused": True, "created_at": "2026-02-01T10:00:00.123456+00:00", "reprocess_behavior": "failed",
             "max_active_runs": 2, "dag_run_conf": {"afkit_plan": {"plan_id": "p"}}, "total": 3, "success": 1}
    (backfill,) = backfills_from_dicts([entry])
    assert (backfill.id, backfill.is_paused, backfill.reprocess_behavior, backfill.max_active_runs) == (7, True, "failed", 2)
    assert backfill.active and backfill.created_at.microsecond == 123456 and backfill.dag_run_conf == entry["dag_run_conf"]
    del entry["dag_run_conf"]
    with pytest.raises(UnreadableBoard, match=r"active backfills .*\(KeyError: 'dag_run_conf'\)"):
        backfills_from_dicts([entry])
