"""Plan files are untrusted input: every real plan round-trips, every damaged one is a BadInput naming the field.

The bad files are mutations of a real saved plan (two DAGs, a downstream consumer, a throttled pool, two steps), so
each case differs from a valid file in exactly the way its name says.
"""

from __future__ import annotations

import copy
import json
import random
import re
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from toolkit.errors import BadInput
from toolkit.models import Asset, Dag, DagDetails, DryRunInfo, Pool, Task
from toolkit.core.planfile import (
    FINGERPRINT_KEY,
    MAX_PLAN_FILE_BYTES,
    MAX_PLAN_VALUES,
    content_fingerprint,
    decode_plan,
    plan_from_dict,
    plan_to_dict,
)
from toolkit.files import load_plan, read_plan, save_plan
from toolkit.core.planning import AssetGraph, DagInputs, Plan, PlanOptions, build_plan
from toolkit.core.sla_risk import Producer
from toolkit.sla import deadline, parse_slas, with_slas
from toolkit.core.throttle import Amount, PoolPolicy, ThrottlePolicy
from toolkit.core.timeparse import PartitionSelection

from tests.tui_fixtures import NOW as TUI_NOW
from tests.tui_fixtures import POLICY as TUI_POLICY
from tests.tui_fixtures import FixedSource
from .test_planning import DAY, NOW, details, inputs, plan_for, run

UTC = DAY[0].tzinfo


def pipeline_plan():
    """raw_ingest -> daily_revenue (downstream) -> close (asset-triggered consumer), on a throttled warehouse pool."""
    graph = AssetGraph((Asset("raw", "raw", producing_dags=("raw_ingest",), scheduled_dags=("daily_revenue",)),
                        Asset("mart", "mart", producing_dags=("daily_revenue",), scheduled_dags=("close",))))
    successes = tuple(run(DAY[i], "success", minutes=5 + i) for i in range(5))
    tasks = (Task("extract", "default_pool", downstream_task_ids=("load",)), Task("load", "warehouse"))
    first = inputs(recent_successes=successes, tasks=tasks, dry=[DryRunInfo(d) for d in DAY])
    first = DagInputs(**{**first.__dict__, "details": details("raw_ingest", paused=True)})
    second = DagInputs(**{**first.__dict__, "details": details("daily_revenue", version=4), "upstream": ("raw_ingest",),
                          "added_by": "downstream of raw_ingest"})
    close = DagDetails(Dag("close", False, ("finance", "ops"), timetable_summary="Asset", is_backfillable=False),
                       2, DAY[0], None, "UTC", 16)
    policy = ThrottlePolicy(Amount(0), (PoolPolicy("warehouse", Amount(1), 2),))
    selection = PartitionSelection(keys=(DAY[1].isoformat(), DAY[2].isoformat(), DAY[6].isoformat()))
    return build_plan(airflow_url="http://airflow:8080", airflow_version="3.3.2", now=NOW,
                      options=PlanOptions(DAY[0], DAY[-1], max_active_runs=5, downstream=True, partitions=selection,
                                          policy=policy),
                      inputs=[first, second], consumers=[(close, ())], graph=graph,
                      pools={"default_pool": Pool("default_pool", 128, 128, 0, 0),
                             "warehouse": Pool("warehouse", 4, 4, 0, 0)})


def sla_risk_plan():
    """A backfill scheduled at 05:40 Los Angeles time in the whole warehouse pool, whose producer of
    mart.daily_revenue usually starts at 05:45 for its 06:00 deadline: the plan says it would go at risk."""
    sla = next(iter(parse_slas("mart.daily_revenue", with_slas({}, deadline(
        "0 6 * * *", "America/Los_Angeles", owners=["#analytics-eng"])))))
    producer = Producer("daily_revenue", {"warehouse": 2}, 600.0,
                        tuple(datetime(2026, 11, d, 13, 45, tzinfo=UTC) for d in range(15, 21)))
    successes = tuple(run(DAY[i], "success", minutes=10) for i in range(5))
    backfilled = inputs(recent_successes=successes, tasks=(Task("t", "warehouse"),))
    return build_plan(airflow_url="http://a", airflow_version="3.3.2", now=NOW,
                      options=PlanOptions(DAY[0], DAY[-1], start_after=datetime(2026, 11, 21, 13, 40, tzinfo=UTC)),
                      inputs=[backfilled], pools={"warehouse": Pool("warehouse", 3, 3, 0, 0)},
                      slas=[(sla, producer)])


def real_plans():
    """Plans the planner really makes, in every shape the format has."""
    part_dry = [DryRunInfo(None, d.strftime("%Y-%m-%d"), d) for d in DAY]
    partitioned = inputs(dry=part_dry, details=details(partitioned=True))
    failed_runs = [run(DAY[1], "failed"), run(DAY[3], "failed"), run(DAY[5], "success")]
    unlimited = {"warehouse": Pool("warehouse", 7, 7, 0, 0), "default_pool": Pool("default_pool", -1, -1, 0, 0)}
    full = ThrottlePolicy(pools=(PoolPolicy("warehouse", Amount(100, percent=True)),))
    warehouse = {"warehouse": Pool("warehouse", 4, 4, 0, 0)}
    source = FixedSource()
    return {
        "simple": plan_for(inputs()),
        "reprocess-failed": plan_for(inputs(failed_runs, reprocess="failed"), reprocess="failed"),
        "reprocess-completed": plan_for(inputs(failed_runs, reprocess="completed"), reprocess="completed"),
        "partition-keys": plan_for(partitioned, partitions=PartitionSelection(keys=("2026-11-02", "2026-11-07"))),
        "partition-range": plan_for(partitioned, partitions=PartitionSelection(first="2026-11-03", last="2026-11-05")),
        "newest-first": plan_for(inputs(), order="newest"),
        "zero-budget": plan_for(inputs(tasks=(Task("a", "warehouse"),)), pools=warehouse, policy=full),
        "unlimited-pool": plan_for(inputs(tasks=(Task("a", "warehouse", pool_slots=3), Task("b", "default_pool"))),
                                   pools=unlimited),
        "missing-pool": plan_for(inputs(tasks=(Task("a", "ghost"),)), pools={"tiny": Pool("tiny", 2, 2, 0, 0)}),
        "pipeline": pipeline_plan(),
        "sla-risk": sla_risk_plan(),
        "tui": source.plan("daily_revenue", PlanOptions(TUI_NOW - timedelta(days=30), TUI_NOW - timedelta(days=1),
                                                        reprocess="failed", policy=TUI_POLICY), TUI_NOW),
    }


PLANS = real_plans()


def saved(plan=None) -> dict:
    """The plan as it lies in a file: written by the writer, decoded by json."""
    return json.loads(json.dumps(plan_to_dict(plan or PLANS["pipeline"])))


def refuse(data, field: str, problem: str = "") -> str:
    """``data`` is refused with a BadInput naming the file and the field (and the problem, if given)."""
    with pytest.raises(BadInput) as caught:
        decode_plan(data, "p.json")
    message = str(caught.value)
    assert message.startswith(f"plan file p.json: {field}: "), message
    assert problem in message, message
    assert "Traceback" not in message and len(message) < 400
    return message


# -- round trips -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(PLANS))
def test_every_real_plan_saves_and_loads_identically(tmp_path, name):
    plan = PLANS[name]
    path = tmp_path / "plan.json"
    save_plan(path, plan)
    loaded = read_plan(path)
    assert loaded.plan == plan and not loaded.edited and loaded.why == ""
    assert plan_to_dict(loaded.plan) == plan_to_dict(plan)
    assert load_plan(path) == plan


def test_the_real_plans_cover_the_format():
    """The round trip above means something only if the corpus has every optional shape."""
    plans = PLANS.values()
    assert any(d.concurrency == 0 for p in plans for d in p.dags)
    assert any(b.slots == -1 for p in plans for b in p.budgets)
    assert any(b.cap is not None for p in plans for b in p.budgets)
    assert any(len(d.steps) > 1 for p in plans for d in p.dags)
    assert any(d.upstream for p in plans for d in p.dags) and any(p.impacts for p in plans)
    assert any(p.options.partitions and p.options.partitions.is_range for p in plans)
    assert any(d.estimate.known for p in plans for d in p.dags)
    assert {a for p in plans for d in p.dags for a in ("create", "rerun", "skip") if d.count(a)} == {
        "create", "rerun", "skip"}


def test_a_journal_entry_without_a_fingerprint_still_reads():
    """The launch journal stores plans written before fingerprints existed."""
    data = saved()
    del data[FINGERPRINT_KEY]
    assert plan_from_dict(data, "journal:x") == PLANS["pipeline"]


# -- fingerprint -----------------------------------------------------------------------------------------------------


def test_the_fingerprint_covers_the_content_and_not_the_layout(tmp_path):
    data = saved()
    assert data[FINGERPRINT_KEY] == content_fingerprint(data)
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", data[FINGERPRINT_KEY])
    path = tmp_path / "p.json"
    reordered = dict(reversed(list(data.items())))
    path.write_text(json.dumps(reordered, indent=7, sort_keys=True))
    assert read_plan(path).edited is False


def test_a_plan_edited_by_hand_is_marked_edited(tmp_path):
    """The issue's case: a plan re-pointed at another DAG still parses, but must not launch unchecked."""
    data = saved()
    data["dags"][1]["concurrency"] = 1
    path = tmp_path / "p.json"
    path.write_text(json.dumps(data))
    loaded = read_plan(path)
    assert loaded.edited and "changed after afkit wrote it" in loaded.why and str(path) in loaded.why
    assert loaded.plan.dags[1].concurrency == 1


def test_a_plan_without_a_fingerprint_counts_as_edited(tmp_path):
    data = saved()
    del data[FINGERPRINT_KEY]
    path = tmp_path / "old.json"
    path.write_text(json.dumps(data))
    loaded = read_plan(path)
    assert loaded.edited and "no fingerprint" in loaded.why
    assert loaded.plan == PLANS["pipeline"]


@pytest.mark.parametrize("value", [None, 7, "md5:abc", "sha256:" + "A" * 64, "sha256:" + "0" * 63])
def test_a_malformed_fingerprint_is_refused(value):
    data = saved()
    data[FINGERPRINT_KEY] = value
    refuse(data, "$.fingerprint", "expected")


# -- the file --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "is empty"),
        ('{"schema": "afkit.backfill-plan", "dags": [', "looks truncated"),
        ('{"a": 1, "a": 2}', "the key 'a' appears twice"),
        ("[" * 100_000 + "]" * 100_000, "nests too deeply"),
        ('{"schema_version": ' + "9" * 5000 + "}", "is not valid JSON"),
        (b"\xff\xfe{}", "is not UTF-8"),
        ("[1, 2]", "is not an afkit backfill plan"),
    ],
)
def test_unreadable_files_are_bad_input(tmp_path, content, message):
    path = tmp_path / "p.json"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(BadInput, match=re.escape(message)) as caught:
        read_plan(path)
    assert str(path) in str(caught.value)


def test_a_repeated_key_inside_a_real_plan_is_refused(tmp_path):
    """JSON keeps the last of two equal keys; a reviewer reads the first. Neither may win silently."""
    text = json.dumps(saved(), indent=2).replace('"max_active_runs": 5,', '"max_active_runs": 1,\n'
                                                  '"max_active_runs": 5,', 1)
    path = tmp_path / "p.json"
    path.write_text(text)
    with pytest.raises(BadInput, match="'max_active_runs' appears twice"):
        read_plan(path)


def test_dev_zero_is_refused_after_a_bounded_read():
    with pytest.raises(BadInput, match=r"plan file /dev/zero is larger than \d+ MiB"):
        load_plan(Path("/dev/zero"))


def test_a_json_bomb_is_refused_before_it_is_decoded(tmp_path):
    """Few bytes, millions of objects: the byte limit alone would let it take gigabytes of memory."""
    path = tmp_path / "p.json"
    path.write_text("[" + "{}," * (MAX_PLAN_VALUES // 2) + "{}]")
    with pytest.raises(BadInput, match=r"holds more than 4,000,000 JSON values"):
        read_plan(path)


def test_the_largest_real_plan_fits_both_limits(tmp_path):
    """A 10-year hourly plan with every partition re-run must load; extrapolated from a real plan's saved rows."""
    plan = PLANS["reprocess-completed"]
    rows = len(plan.dags[0].partitions)
    empty = Plan(**{**plan.__dict__, "dags": (replace(plan.dags[0], partitions=(), steps=()),)})
    save_plan(tmp_path / "full.json", plan)
    save_plan(tmp_path / "empty.json", empty)
    full, bare = ((tmp_path / n).read_text() for n in ("full.json", "empty.json"))
    per_row_bytes = (len(full) - len(bare)) / rows + 40  # + a longer run id and DAG id than the test's
    per_row_values = sum(full.count(c) - bare.count(c) for c in ",{[") / rows
    assert per_row_bytes * 87_600 < MAX_PLAN_FILE_BYTES / 2 and per_row_values * 87_600 < MAX_PLAN_VALUES / 4


def test_a_directory_is_refused(tmp_path):
    with pytest.raises(BadInput, match="is a directory"):
        load_plan(tmp_path)


# -- the table of damaged plans --------------------------------------------------------------------------------------


def _set(path: str, value):
    """A mutation setting the value at a dotted path ('dags.0.upstream.1')."""
    *parents, last = path.split(".")

    def mutate(data):
        node = data
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value
    return mutate


def _do(*mutations):
    def mutate(data):
        for m in mutations:
            m(data)
    return mutate


def _dag0(change):
    return lambda data: change(data["dags"][0])


def _dag1(change):
    return lambda data: change(data["dags"][1])


NAN, INF = float("nan"), float("inf")

BAD = [
    # (id, mutation, field path in the message, problem in the message)
    ("upstream-list-of-junk", _set("dags.1.upstream", [1, None, {"a": 1}]), "$.dags[1].upstream[0]",
     "expected str, got 1"),
    ("upstream-null", _set("dags.1.upstream", ["raw_ingest", None]), "$.dags[1].upstream[1]", "expected str, got null"),
    ("upstream-unknown-dag", _set("dags.1.upstream", ["nowhere"]), "$.dags[1].upstream[0]",
     "names 'nowhere', which is not a DAG of this plan"),
    ("upstream-itself", _set("dags.1.upstream", ["daily_revenue"]), "$.dags[1].upstream[0]", "names the DAG itself"),
    ("upstream-repeated", _set("dags.1.upstream", ["raw_ingest", "raw_ingest"]), "$.dags[1].upstream[1]",
     "repeats $.dags[1].upstream[0]"),
    ("upstream-path-like", _set("dags.1.upstream", ["../pools"]), "$.dags[1].upstream[0]",
     "expected a DAG id (letters, digits, '.', '-', '_'), got '../pools'"),
    ("eta-nan", _set("dags.0.eta_p50", NAN), "$.dags[0].eta_p50", "expected a finite number, got NaN"),
    ("eta-infinity", _set("dags.0.eta_p90", INF), "$.dags[0].eta_p90", "expected a finite number, got Infinity"),
    ("eta-negative", _set("dags.0.eta_p50", -5.0), "$.dags[0].eta_p50", "expected float >= 0.0, got -5"),
    ("eta-text", _set("dags.0.eta_p50", "soon"), "$.dags[0].eta_p50", "expected float | null, got 'soon'"),
    ("estimate-negative", _set("dags.0.estimate.p90", -1), "$.dags[0].estimate.p90", "expected float >= 0.0, got -1"),
    ("estimate-nan", _set("dags.0.estimate.p50", NAN), "$.dags[0].estimate.p50", "got NaN"),
    ("estimate-negative-samples", _set("dags.0.estimate.samples", -3), "$.dags[0].estimate.samples",
     "expected int >= 0, got -3"),
    ("estimate-p50-without-samples", _set("dags.0.estimate.samples", 0), "$.dags[0].estimate",
     "p50 and p90 exactly when"),
    ("warnings-objects", _set("warnings", [{}]), "$.warnings[0]", "expected str, got an object"),
    ("warnings-not-a-list", _set("warnings", "careful"), "$.warnings", "expected array, got 'careful'"),
    ("owners-number", _set("impacts.0.owners", [42]), "$.impacts[0].owners[0]", "expected str, got 42"),
    ("owners-empty-name", _set("impacts.0.owners", [""]), "$.impacts[0].owners[0]",
     "expected str of length >= 1, got ''"),
    ("assets-null", _set("impacts.0.assets", None), "$.impacts[0].assets", "expected array, got null"),
    ("impact-upstream-unknown", _set("impacts.0.upstream_dags", ["ghost"]), "$.impacts[0].upstream_dags[0]",
     "not a DAG of this plan"),
    ("impact-negative-events", _set("impacts.0.upstream_events", -1), "$.impacts[0].upstream_events",
     "expected int >= 0, got -1"),
    ("impact-events-per-run-nan", _set("impacts.0.events_per_run", NAN), "$.impacts[0].events_per_run", "got NaN"),
    ("impact-repeated", lambda d: d["impacts"].append(copy.deepcopy(d["impacts"][0])), "$.impacts[1].dag_id",
     "repeats $.impacts[0]"),
    ("duplicate-dag", lambda d: d["dags"].append(copy.deepcopy(d["dags"][0])), "$.dags[2].dag_id",
     "repeats $.dags[0] ('raw_ingest')"),
    ("duplicate-step-index", _dag0(lambda g: g["steps"][1].update(index=0)), "$.dags[0].steps[1].index",
     "repeats $.dags[0].steps[0]"),
    ("duplicate-step", _dag0(lambda g: g["steps"].append(dict(g["steps"][0], index=9))), "$.dags[0].steps[2]",
     "overlaps $.dags[0].steps[0]"),
    ("negative-step-index", _set("dags.0.steps.0.index", -1), "$.dags[0].steps[0].index", "expected int >= 0, got -1"),
    ("step-zero-runs", _set("dags.0.steps.0.runs", 0), "$.dags[0].steps[0].runs", "expected int >= 1, got 0"),
    ("step-backwards", _set("dags.0.steps.0.from_date", DAY[5].isoformat()), "$.dags[0].steps[0].from_date",
     "comes after $.dags[0].steps[0].to_date"),
    ("step-unknown-key", _set("dags.0.steps.0.dag_id", "other"), "$.dags[0].steps[0].dag_id", "unknown field"),
    ("steps-do-not-add-up", _set("dags.0.steps.0.runs", 5), "$.dags[0].steps", "do not add up"),
    ("max-active-runs-zero", _set("options.max_active_runs", 0), "$.options.max_active_runs",
     "expected int >= 1, got 0"),
    ("max-active-runs-negative", _set("options.max_active_runs", -10), "$.options.max_active_runs", "got -10"),
    ("max-active-runs-float", _set("options.max_active_runs", 2.5), "$.options.max_active_runs",
     "expected int, got 2.5"),
    ("max-active-runs-huge", _set("options.max_active_runs", 10**30), "$.options.max_active_runs",
     "expected int <= 2147483647"),
    ("concurrency-negative", _set("dags.0.concurrency", -1), "$.dags[0].concurrency", "expected int >= 0"),
    ("concurrency-above-budget", _set("dags.0.concurrency", 4), "$.dags[0].concurrency",
     "more than the 2 that $.options.max_active_runs and the pool budgets admit"),
    ("pool-demand-negative", _set("dags.0.pool_demand.warehouse", -2), "$.dags[0].pool_demand.warehouse",
     "expected int >= 0, got -2"),
    ("pool-demand-text", _set("dags.0.pool_demand.warehouse", "1"), "$.dags[0].pool_demand.warehouse",
     "expected int, got '1'"),
    ("pool-demand-list", _set("dags.0.pool_demand", [1]), "$.dags[0].pool_demand", "expected object, got an array"),
    ("budget-negative", _set("budgets.1.budget", -1), "$.budgets[1].budget", "expected int >= 0, got -1"),
    ("budget-raised", _set("budgets.1.budget", 4), "$.budgets[1]", "contradicts the plan's policy"),
    ("reserve-negative", _set("budgets.1.reserve", -1), "$.budgets[1].reserve", "expected int >= 0"),
    ("slots-below-unlimited", _set("budgets.1.slots", -2), "$.budgets[1].slots", "expected int >= -1"),
    ("reserve-above-slots", _do(_set("budgets.1.slots", 0), _set("budgets.1.budget", 0)), "$.budgets[1]",
     "more than its 0 slot(s)"),
    ("budget-repeated", lambda d: d["budgets"].append(copy.deepcopy(d["budgets"][0])), "$.budgets[2].pool",
     "repeats the budget of pool 'default_pool'"),
    ("policy-negative-reserve", _set("options.policy.pools.warehouse.reserve", "-1"),
     "$.options.policy.pools.warehouse.reserve", "'-1' is negative"),
    ("policy-reserve-number", _set("options.policy.default_reserve", 2), "$.options.policy.default_reserve",
     "expected str, got 2"),
    ("policy-cap-negative", _set("options.policy.pools.warehouse.backfill_cap", -1),
     "$.options.policy.pools.warehouse.backfill_cap", "expected int >= 0"),
    ("policy-unknown-key", _set("options.policy.pools.warehouse.limit", 3), "$.options.policy.pools.warehouse.limit",
     "unknown field"),
    ("plan-id-path", _set("plan_id", "../../etc/passwd"), "$.plan_id", "expected a plan id as afkit writes them"),
    ("plan-id-backslash", _set("plan_id", "a\\b"), "$.plan_id", "expected a plan id as afkit writes them"),
    ("plan-id-nul", _set("plan_id", "abc\x00def0123456789"), "$.plan_id", "expected a plan id as afkit writes them"),
    ("plan-id-space", _set("plan_id", "0123456789abcdef "), "$.plan_id", "expected a plan id as afkit writes them"),
    ("plan-id-huge", _set("plan_id", "a" * 10_000), "$.plan_id", "(16 to 64 lowercase hex digits), got 'aaaa"),
    ("plan-id-shape", _set("plan_id", "MyPlan"), "$.plan_id", "got 'MyPlan'"),
    ("plan-id-number", _set("plan_id", 1234567890123456), "$.plan_id", "expected str, got 1234567890123456"),
    ("plan-id-empty", _set("plan_id", ""), "$.plan_id", "got ''"),
    ("schema-version-missing", lambda d: d.pop("schema_version"), "$.schema_version", "missing (a required field)"),
    ("schema-version-zero", _set("schema_version", 0), "$.schema_version", "expected 1, got 0"),
    ("unknown-top-key", _set("force", True), "$.force", "unknown field"),
    ("unknown-option", _set("options.max_active_run", 9), "$.options.max_active_run",
     "unknown field (did you mean 'max_active_runs'?)"),
    ("unknown-dag-key", _set("dags.0.pools", {}), "$.dags[0].pools", "unknown field"),
    ("missing-dag-key", lambda d: d["dags"][0].pop("concurrency"), "$.dags[0].concurrency", "missing"),
    ("dag-not-an-object", _set("dags.0", "raw_ingest"), "$.dags[0]", "expected object, got 'raw_ingest'"),
    ("dag-id-path", _set("dags.0.dag_id", "raw/../x"), "$.dags[0].dag_id", "expected a DAG id"),
    ("dag-id-huge", _set("dags.0.dag_id", "d" * 300), "$.dags[0].dag_id",
     "expected str of length <= 250, got 300 characters"),
    ("dag-id-newline", _set("dags.0.dag_id", "raw_ingest\n"), "$.dags[0].dag_id", "expected a DAG id"),
    ("counts-lie", _set("dags.0.counts.create", 99), "$.dags[0].counts.create", "but 3 partition(s)"),
    ("partition-duplicated", _dag0(lambda g: g["partitions"].append(dict(g["partitions"][0]))),
     "$.dags[0].partitions[3]", "repeats $.dags[0].partitions[0]"),
    ("partition-nameless", _do(_set("dags.0.partitions.0.logical_date", None)), "$.dags[0].partitions[0]",
     "names no partition"),
    ("partition-action-unlike-reprocess", _do(_set("dags.0.partitions.0.state", "success")),
     "$.dags[0].partitions[0].action", "reprocess 'none' does 'skip'"),
    ("partition-action-unknown", _set("dags.0.partitions.0.action", "delete"), "$.dags[0].partitions[0].action",
     "expected one of 'create', 'rerun', 'skip', got 'delete'"),
    ("partition-date-naive", _set("dags.0.partitions.0.logical_date", "2026-11-02T00:00:00"),
     "$.dags[0].partitions[0].logical_date", "expected a date-time with a time zone"),
    ("partition-date-number", _set("dags.0.partitions.0.logical_date", 1700000000),
     "$.dags[0].partitions[0].logical_date", "expected datetime | null, got 1700000000"),
    ("options-range-backwards", _set("options.from_date", DAY[-1].replace(day=30).isoformat()), "$.options.from_date",
     "comes after $.options.to_date"),
    ("selection-both", _set("options.partitions.first", "2026-11-01"), "$.options.partitions.last",
     "is null, but a range needs both ends"),
    ("selection-keys-junk", _set("options.partitions.keys", ["2026-11-02", 7]), "$.options.partitions.keys[1]",
     "expected str, got 7"),
    ("reprocess-unknown", _set("options.reprocess", "all"), "$.options.reprocess",
     "expected one of 'none', 'failed', 'completed'"),
    ("downstream-not-bool", _set("options.downstream", "yes"), "$.options.downstream", "expected bool, got 'yes'"),
    ("version-negative", _set("dags.1.version", -4), "$.dags[1].version", "expected int >= 0"),
    ("schema-version-text", _set("schema_version", "1"), "$.schema_version", "expected int, got '1'"),
    ("airflow-url-not-http", _set("airflow_url", "file:///etc/passwd"), "$.airflow_url", "expected an http(s) URL"),
    ("created-at-garbage", _set("created_at", "yesterday"), "$.created_at",
     "expected an RFC 3339 date-time with a time zone, got 'yesterday'"),
    ("is-paused-null", _set("dags.0.is_paused", None), "$.dags[0].is_paused", "expected bool, got null"),
]


def test_the_table_is_large_enough_and_every_case_differs():
    assert len(BAD) >= 30 and len({case[0] for case in BAD}) == len(BAD)


@pytest.mark.parametrize(("mutate", "field", "problem"), [case[1:] for case in BAD], ids=[case[0] for case in BAD])
def test_damaged_plans_are_refused_naming_the_field(tmp_path, mutate, field, problem):
    data = saved()
    mutate(data)
    refuse(data, field, problem)
    path = tmp_path / "p.json"  # the same through the file, NaN and Infinity written as JSON allows them
    path.write_text(json.dumps(data))
    with pytest.raises(BadInput, match=re.escape(f"plan file {path}")):
        read_plan(path)


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (_set("dags.0.dag_id", "x" * 100 + "/"), "$.dags[0].dag_id"),
        (_set("dags.0.pool_demand", {"x" * 100_000: 1}), "$.dags[0].pool_demand"),  # a key too long
        (_set("dags.0.pool_demand", {"x" * 200: -1}), "$.dags[0].pool_demand['" + "x" * 39 + "…]"),  # a long name
        (_set("options.downstream", 10**4000 - 1), "$.options.downstream"),
        (_set("warnings", ["x" * 100_000, None]), "$.warnings[1]"),
        (_set("options." + "x" * 100_000, None), "$.options['" + "x" * 39 + "…]"),  # an unknown key
    ],
    ids=["dag-id", "pool-name", "pool-name-as-a-path", "huge-number", "long-warning", "unknown-key"],
)
def test_messages_do_not_echo_huge_values(mutate, field):
    data = saved()
    mutate(data)
    message = refuse(data, field)
    assert "x" * 61 not in message and "9999" not in message


# -- random damage ---------------------------------------------------------------------------------------------------

JUNK = [None, True, False, 0, -1, 1.5, NAN, INF, -INF, 10**40, "", "x", "../x", [], [None], {}, {"k": 1}]


def _places(node, path=()):
    """Every (container, key) of a decoded plan, depth first."""
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in items:
        yield node, key
        yield from _places(value, (*path, key))


def _damage(data, rng: random.Random) -> str:
    """One random type swap, deletion, NaN or unknown key somewhere in ``data``; says what it did."""
    container, key = rng.choice(list(_places(data)))
    kind = rng.choice(("swap", "swap", "delete", "unknown"))
    if kind == "delete":
        del container[key]
    elif kind == "unknown" and isinstance(container, dict):
        container["zz_" + str(key)] = rng.choice(JUNK)
    else:
        container[key] = copy.deepcopy(rng.choice(JUNK))
    return f"{kind} at {key!r}"


@pytest.mark.parametrize("seed", range(8))
def test_random_damage_is_only_ever_bad_input(seed):
    """Whatever one to three random edits do, the reader answers BadInput or a plan marked edited, never a crash."""
    rng = random.Random(seed)
    base = saved(PLANS[sorted(PLANS)[seed % len(PLANS)]])
    accepted = refused = 0
    for _ in range(150):
        data = copy.deepcopy(base)
        done = [_damage(data, rng) for _ in range(rng.randint(1, 3)) if list(_places(data))]
        try:
            loaded = decode_plan(json.loads(json.dumps(data)), "p.json")
        except BadInput as exc:
            assert str(exc).startswith("plan file p.json"), (done, str(exc))
            refused += 1
        else:  # a harmless edit (e.g. a reason replaced by "x") is accepted, but never as an unedited plan
            changed = {k: v for k, v in data.items() if k != FINGERPRINT_KEY} != {
                k: v for k, v in base.items() if k != FINGERPRINT_KEY}
            assert loaded.edited or not changed, done
            accepted += 1
    assert refused > 100


def _json_path(path: tuple) -> str:
    """('dags', 0, 'eta_p50') -> '$.dags[0].eta_p50', as the reader names fields."""
    return "$" + "".join(f"[{key}]" if isinstance(key, int) else f".{key}" for key in path)


def test_nan_anywhere_is_refused_naming_that_number():
    """Every number of the plan, set to NaN in turn: refused, with that number's field named."""
    data = saved()
    numbers = [(path, c, k) for path, c, k in _paths(data) if type(c[k]) in (int, float)]
    assert len(numbers) > 20
    for path, container, key in numbers:
        before = container[key]
        container[key] = NAN
        with pytest.raises(BadInput) as caught:
            decode_plan(data, "p.json")
        assert f"p.json: {_json_path(path)}: expected" in str(caught.value) and "got NaN" in str(caught.value)
        container[key] = before
    assert decode_plan(data, "p.json").plan == PLANS["pipeline"]


def _paths(node, path=()):
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in items:
        yield (*path, key), node, key
        yield from _paths(value, (*path, key))
