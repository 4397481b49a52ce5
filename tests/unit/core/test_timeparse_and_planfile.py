"""Dates people type, and plan files that must survive review, editing accidents and truncation."""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone

import pytest

from toolkit.errors import BadInput
from toolkit.core.planfile import plan_from_dict, plan_to_dict
from toolkit.files import load_plan, save_plan
from toolkit.core.timeparse import parse_instant, parse_partitions, selection_bounds

from .test_planning import inputs, plan_for

UTC = timezone.utc
NOW = datetime(2026, 11, 21, 15, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-01", datetime(2026, 11, 1, tzinfo=UTC)),
        ("2026-11-01T06:00:00-08:00", datetime(2026, 11, 1, 14, tzinfo=UTC)),
        ("2026-11-01T06:00:00Z", datetime(2026, 11, 1, 6, tzinfo=UTC)),
        ("-30d", datetime(2026, 10, 22, 15, 30, tzinfo=UTC)),
        ("-12h", datetime(2026, 11, 21, 3, 30, tzinfo=UTC)),
        ("-90m", datetime(2026, 11, 21, 14, 0, tzinfo=UTC)),
        ("-2w", datetime(2026, 11, 7, 15, 30, tzinfo=UTC)),
        ("+2h", datetime(2026, 11, 21, 17, 30, tzinfo=UTC)),
        ("+1d", datetime(2026, 11, 22, 15, 30, tzinfo=UTC)),
        ("today", datetime(2026, 11, 21, tzinfo=UTC)),
        ("yesterday", datetime(2026, 11, 20, tzinfo=UTC)),
        ("now", NOW),
    ],
)
def test_instants(text, expected):
    assert parse_instant(text, NOW) == expected


@pytest.mark.parametrize(("text", "message"), [("2026-13-01", "not a valid date"), ("2026-11-01T06:00", "no time zone"),
                                               ("next week", "is not a date"), ("-3y", "is not a date"),
                                               ("+-2h", "is not a date"), ("2h", "is not a date")])
def test_bad_instants(text, message):
    with pytest.raises(BadInput, match=message):
        parse_instant(text, NOW, option="--from")


def test_partition_selections():
    keys = parse_partitions("2026-11-01, 2026-11-03,2026-11-01")
    assert keys.keys == ("2026-11-01", "2026-11-03") and keys.selects("2026-11-03") and not keys.selects("2026-11-02")
    span = parse_partitions("2026-11-01..2026-11-05")
    assert span.selects("2026-11-03") and not span.selects("2026-11-06")
    assert selection_bounds(span) == (datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 5, tzinfo=UTC))
    assert selection_bounds(parse_partitions("eu,us")) is None
    for bad in ("", "..x", "2026-11-05..2026-11-01"):
        with pytest.raises(BadInput):
            parse_partitions(bad)


def test_plan_round_trips_through_a_file(tmp_path):
    plan = plan_for(inputs())
    path = tmp_path / "p.json"
    save_plan(path, plan)
    again = load_plan(path)
    assert plan_to_dict(again) == plan_to_dict(plan)
    assert again.steps == plan.steps and again.plan_id == plan.plan_id


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["dags"][0]["steps"][0].update(runs=3), "do not add up"),
        (lambda d: d["options"].update(from_date="2026-11-01T00:00:00"),
         "$.options.from_date: expected a date-time with a time zone"),
        (lambda d: d["options"].update(max_active_runs=True), "$.options.max_active_runs: expected int, got true"),
        (lambda d: d["dags"][0]["partitions"][2].pop("state"), "$.dags[0].partitions[2].state: missing"),
        (lambda d: d.update(plan_id=""), "$.plan_id: expected a plan id as afkit writes them"),
        (lambda d: d.update(schema="something.else"), "is not an afkit backfill plan"),
    ],
)
def test_damaged_plans_name_the_field(mutate, message):
    data = json.loads(json.dumps(plan_to_dict(plan_for(inputs()))))
    mutate(data)
    with pytest.raises(BadInput, match=re.escape(message)):
        plan_from_dict(data, "p.json")


def test_missing_file(tmp_path):
    with pytest.raises(BadInput, match="does not exist"):
        load_plan(tmp_path / "nope.json")
