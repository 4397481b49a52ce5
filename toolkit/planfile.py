"""Plan files: a backfill plan as versioned JSON, written for review and read back for launch.

A plan file records the Airflow URL, the DAG versions, every partition with its action, the steps and the options.
It never holds credentials. Reading a file validates all of it. A malformed, truncated or foreign file is refused
with a message naming the file and the field, before anything is done.
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

from toolkit.errors import BadInput
from toolkit.planning import (
    ORDERS,
    REPROCESS_BEHAVIOURS,
    ConsumerImpact,
    DagPlan,
    DurationEstimate,
    PartitionRow,
    Plan,
    PlanOptions,
    Step,
)
from toolkit.throttle import PoolBudget, ThrottlePolicy, parse_policy
from toolkit.timeparse import PartitionSelection

SCHEMA = "afkit.backfill-plan"
SCHEMA_VERSION = 1


def _dt(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def plan_to_dict(plan: Plan) -> dict[str, Any]:
    options = plan.options
    return {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "plan_id": plan.plan_id,
        "created_at": _dt(plan.created_at),
        "airflow_url": plan.airflow_url,
        "airflow_version": plan.airflow_version,
        "options": {
            "from_date": _dt(options.from_date),
            "to_date": _dt(options.to_date),
            "reprocess": options.reprocess,
            "order": options.order,
            "max_active_runs": options.max_active_runs,
            "downstream": options.downstream,
            "partitions": options.partitions.to_dict() if options.partitions else None,
            "policy": options.policy.to_dict(),
        },
        "budgets": [
            {"pool": b.pool, "slots": b.slots, "reserve": b.reserve, "cap": b.cap, "budget": b.budget}
            for b in plan.budgets
        ],
        "dags": [
            {
                "dag_id": d.dag_id,
                "version": d.version,
                "is_paused": d.is_paused,
                "partitioned": d.partitioned,
                "depends_on_past": d.depends_on_past,
                "upstream": list(d.upstream),
                "added_by": d.added_by,
                "estimate": {"samples": d.estimate.samples, "p50": d.estimate.p50, "p90": d.estimate.p90},
                "pool_demand": d.pool_demand,
                "concurrency": d.concurrency,
                "concurrency_reason": d.concurrency_reason,
                "eta_p50": d.eta_p50,
                "eta_p90": d.eta_p90,
                "counts": {a: d.count(a) for a in ("create", "rerun", "skip")},
                "steps": [
                    {"index": s.index, "from_date": _dt(s.from_date), "to_date": _dt(s.to_date), "runs": s.runs}
                    for s in d.steps
                ],
                "partitions": [
                    {
                        "partition_key": p.partition_key,
                        "logical_date": _dt(p.logical_date),
                        "partition_date": _dt(p.partition_date),
                        "state": p.state,
                        "action": p.action,
                        "reason": p.reason,
                        "run_id": p.run_id,
                    }
                    for p in d.partitions
                ],
            }
            for d in plan.dags
        ],
        "impacts": [
            {
                "dag_id": i.dag_id,
                "upstream_dags": list(i.upstream_dags),
                "assets": list(i.assets),
                "upstream_events": i.upstream_events,
                "expected_runs": i.expected_runs,
                "events_per_run": i.events_per_run,
                "partition_aware": i.partition_aware,
                "is_paused": i.is_paused,
                "owners": list(i.owners),
                "summary": i.summary,
            }
            for i in plan.impacts
        ],
        "warnings": list(plan.warnings),
    }


class _Reader:
    """Typed access to a decoded plan; every problem names the file and the JSON path."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, path: str, problem: str) -> BadInput:
        return BadInput(f"plan file {self.source}: {path} {problem}")

    def get(self, data: Any, key: str, kind: type | tuple[type, ...], path: str, *, optional: bool = False) -> Any:
        if not isinstance(data, dict):
            raise self.fail(path or "top level", "must be an object")
        where = f"{path}.{key}" if path else key
        if key not in data:
            raise self.fail(where, "is missing")
        value = data[key]
        if value is None and optional:
            return None
        if isinstance(value, bool) and kind in (int, float, (int, float)):
            raise self.fail(where, f"must be a number, not {value!r}")
        if not isinstance(value, kind):
            names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            raise self.fail(where, f"must be {names}, not {type(value).__name__}")
        return value

    def when(self, data: Any, key: str, path: str, *, optional: bool = False) -> datetime | None:
        text = self.get(data, key, str, path, optional=optional)
        if text is None:
            return None
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            raise self.fail(f"{path}.{key}", f"is not an ISO datetime: {text!r}") from None
        if value.tzinfo is None:
            raise self.fail(f"{path}.{key}", f"has no time zone: {text!r}")
        return value

    def choice(self, data: Any, key: str, allowed: tuple[str, ...], path: str) -> str:
        value = self.get(data, key, str, path)
        if value not in allowed:
            raise self.fail(f"{path}.{key}", f"must be one of {', '.join(allowed)}, not {value!r}")
        return value


def plan_from_dict(data: Any, source: str = "<plan>") -> Plan:
    r = _Reader(source)
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise BadInput(f"plan file {source} is not an afkit backfill plan (no \"schema\": \"{SCHEMA}\")")
    version = r.get(data, "schema_version", int, "")
    if version > SCHEMA_VERSION:
        raise BadInput(f"plan file {source} has schema version {version}; this afkit reads up to {SCHEMA_VERSION}: "
                       "upgrade afkit or re-plan")
    if version < 1:
        raise r.fail("schema_version", f"must be 1 or more, not {version}")
    o = r.get(data, "options", dict, "")
    selection = r.get(o, "partitions", dict, "options", optional=True)
    options = PlanOptions(
        from_date=r.when(o, "from_date", "options"),
        to_date=r.when(o, "to_date", "options"),
        reprocess=r.choice(o, "reprocess", REPROCESS_BEHAVIOURS, "options"),
        order=r.choice(o, "order", ORDERS, "options"),
        max_active_runs=r.get(o, "max_active_runs", int, "options"),
        downstream=r.get(o, "downstream", bool, "options"),
        partitions=PartitionSelection(
            keys=tuple(r.get(selection, "keys", list, "options.partitions")),
            first=r.get(selection, "first", str, "options.partitions", optional=True),
            last=r.get(selection, "last", str, "options.partitions", optional=True),
        ) if selection is not None else None,
        policy=_policy(r, r.get(o, "policy", dict, "options")),
    )
    dags = []
    for n, d in enumerate(r.get(data, "dags", list, "")):
        path = f"dags[{n}]"
        dag_id = r.get(d, "dag_id", str, path)
        est = r.get(d, "estimate", dict, path)
        steps = []
        for m, s in enumerate(r.get(d, "steps", list, path)):
            spath = f"{path}.steps[{m}]"
            steps.append(Step(dag_id, r.get(s, "index", int, spath), r.when(s, "from_date", spath),
                              r.when(s, "to_date", spath), r.get(s, "runs", int, spath)))
        partitions = []
        for m, p in enumerate(r.get(d, "partitions", list, path)):
            ppath = f"{path}.partitions[{m}]"
            partitions.append(PartitionRow(
                logical_date=r.when(p, "logical_date", ppath, optional=True),
                partition_key=r.get(p, "partition_key", str, ppath, optional=True),
                partition_date=r.when(p, "partition_date", ppath, optional=True),
                state=r.get(p, "state", str, ppath),
                action=r.choice(p, "action", ("create", "rerun", "skip"), ppath),
                reason=r.get(p, "reason", str, ppath),
                run_id=r.get(p, "run_id", str, ppath, optional=True),
            ))
        demand = r.get(d, "pool_demand", dict, path)
        if not all(isinstance(k, str) and isinstance(v, int) for k, v in demand.items()):
            raise r.fail(f"{path}.pool_demand", "must map pool names to slot counts")
        dags.append(DagPlan(
            dag_id=dag_id,
            version=r.get(d, "version", int, path, optional=True),
            is_paused=r.get(d, "is_paused", bool, path),
            partitioned=r.get(d, "partitioned", bool, path),
            depends_on_past=r.get(d, "depends_on_past", bool, path),
            upstream=tuple(r.get(d, "upstream", list, path)),
            added_by=r.get(d, "added_by", str, path),
            partitions=tuple(partitions),
            steps=tuple(steps),
            estimate=DurationEstimate(r.get(est, "samples", int, f"{path}.estimate"),
                                      r.get(est, "p50", (int, float), f"{path}.estimate", optional=True),
                                      r.get(est, "p90", (int, float), f"{path}.estimate", optional=True)),
            pool_demand=demand,
            concurrency=r.get(d, "concurrency", int, path),
            concurrency_reason=r.get(d, "concurrency_reason", str, path),
            eta_p50=r.get(d, "eta_p50", (int, float), path, optional=True),
            eta_p90=r.get(d, "eta_p90", (int, float), path, optional=True),
        ))
        if sum(p.runs for p in partitions) != sum(s.runs for s in steps):
            raise r.fail(f"{path}.steps", "do not add up to the partitions to run (edited by hand?)")
    impacts = []
    for n, i in enumerate(r.get(data, "impacts", list, "")):
        path = f"impacts[{n}]"
        impacts.append(ConsumerImpact(
            dag_id=r.get(i, "dag_id", str, path),
            upstream_dags=tuple(r.get(i, "upstream_dags", list, path)),
            assets=tuple(r.get(i, "assets", list, path)),
            upstream_events=r.get(i, "upstream_events", int, path),
            expected_runs=r.get(i, "expected_runs", int, path),
            events_per_run=float(r.get(i, "events_per_run", (int, float), path)),
            partition_aware=r.get(i, "partition_aware", bool, path),
            is_paused=r.get(i, "is_paused", bool, path),
            owners=tuple(r.get(i, "owners", list, path)),
        ))
    budgets = []
    for n, b in enumerate(r.get(data, "budgets", list, "")):
        path = f"budgets[{n}]"
        budgets.append(PoolBudget(r.get(b, "pool", str, path), r.get(b, "slots", int, path),
                                  r.get(b, "reserve", int, path), r.get(b, "cap", int, path, optional=True),
                                  r.get(b, "budget", int, path)))
    plan_id = r.get(data, "plan_id", str, "")
    if not plan_id:
        raise r.fail("plan_id", "is empty")
    return Plan(
        airflow_url=r.get(data, "airflow_url", str, ""),
        airflow_version=r.get(data, "airflow_version", str, ""),
        created_at=r.when(data, "created_at", ""),
        options=options,
        dags=tuple(dags),
        impacts=tuple(impacts),
        warnings=tuple(r.get(data, "warnings", list, "")),
        plan_id=plan_id,
        budgets=tuple(budgets),
    )


def _policy(r: _Reader, data: dict) -> ThrottlePolicy:
    try:
        return parse_policy(r.get(data, "pools", dict, "options.policy"),
                            r.get(data, "default_reserve", str, "options.policy"))
    except BadInput as exc:
        raise r.fail("options.policy", f"is invalid: {exc}") from None


def save_plan(path: Path, plan: Plan) -> None:
    """Write atomically: a plan file is either complete or absent, never half-written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".plan.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(plan_to_dict(plan), handle, indent=2)
            handle.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_plan(path: Path) -> Plan:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BadInput(f"plan file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"plan file {path} cannot be read: {exc}") from None
    if not text.strip():
        raise BadInput(f"plan file {path} is empty")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        hint = " (the file looks truncated)" if not text.rstrip().endswith(("}", "]")) else ""
        raise BadInput(f"plan file {path} is not valid JSON{hint}: {exc.msg} at line {exc.lineno}, "
                       f"column {exc.colno}") from None
    return plan_from_dict(data, str(path))
