"""Plan files: a backfill plan as versioned JSON, written for review and read back for launch.

A plan file records the Airflow URL, the DAG versions, every partition with its action, the steps and the options.
It never holds credentials. A plan file is untrusted input: reading one validates every field (types inside lists,
finite non-negative numbers, unique DAGs and steps, references between them, no unknown keys). A malformed,
truncated, edited-inconsistently or foreign file is refused with a :class:`BadInput` naming the file and the field
path, before anything is done.

A written plan carries a ``fingerprint`` of its content. :func:`read_plan` reports whether the content still
matches it, so the launch path can refuse an edited plan unless it re-validates against Airflow. The fingerprint
detects edits (by hand or by a tool), not a forger: anyone can recompute it.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable
from urllib.parse import urlsplit

from toolkit.errors import BadInput
from toolkit.models import Pool
from toolkit.core.planning import (
    ORDERS,
    REPROCESS_BEHAVIOURS,
    ConsumerImpact,
    DagPlan,
    DurationEstimate,
    PartitionRow,
    Plan,
    PlanOptions,
    Step,
    decide,
)
from toolkit.core.throttle import PoolBudget, ThrottlePolicy, admit, budget_for, parse_amount, parse_policy
from toolkit.core.timeparse import PartitionSelection

SCHEMA = "afkit.backfill-plan"
SCHEMA_VERSION = 1
FINGERPRINT_KEY = "fingerprint"
ACTIONS = ("create", "rerun", "skip")

PLAN_ID = re.compile(r"[0-9a-f]{16,64}")  # a sha256 prefix, as the planner writes it
MAX_PLAN_ID = 64
DAG_ID = re.compile(r"[\w.-]+")  # Airflow's KEY_REGEX
MAX_DAG_ID = 250  # Airflow's ID_LEN
MAX_NAME = 256  # pool names, asset names: Airflow's column width
MAX_RUN_ID = 250  # Airflow's run_id column
MAX_STATE = 40  # "missing" or a DAG run state
MAX_WHOLE = 2**31 - 1  # Airflow keeps slots, runs and versions in 32-bit integers
FINGERPRINT = re.compile(r"sha256:[0-9a-f]{64}")
# The largest plan afkit makes (10 years hourly, every partition re-run) is a 28 MiB file of about 0.8 million JSON
# values and takes 100 MiB to decode. Bytes alone do not bound memory: 32 MiB of "[{},{},…]" decodes to 800 MiB,
# so the values are counted before decoding.
MAX_PLAN_FILE_BYTES = 64 * 1024 * 1024
MAX_PLAN_VALUES = 4_000_000

# The keys of every object in a plan file. A key not listed is refused, so a typo ("max_active_run") cannot be
# silently ignored while the reviewer believes it applies.
TOP_KEYS = ("schema", "schema_version", "plan_id", "created_at", "airflow_url", "airflow_version", "options",
            "budgets", "dags", "impacts", "warnings", FINGERPRINT_KEY)
OPTION_KEYS = ("from_date", "to_date", "reprocess", "order", "max_active_runs", "downstream", "partitions", "policy")
SELECTION_KEYS = ("keys", "first", "last")
POLICY_KEYS = ("default_reserve", "pools")
POOL_POLICY_KEYS = ("reserve", "backfill_cap")
BUDGET_KEYS = ("pool", "slots", "reserve", "cap", "budget", "carved")
DAG_KEYS = ("dag_id", "version", "is_paused", "partitioned", "depends_on_past", "upstream", "added_by", "estimate",
            "pool_demand", "concurrency", "concurrency_reason", "eta_p50", "eta_p90", "counts", "steps", "partitions")
ESTIMATE_KEYS = ("samples", "p50", "p90")
STEP_KEYS = ("index", "from_date", "to_date", "runs")
PARTITION_KEYS = ("partition_key", "logical_date", "partition_date", "state", "action", "reason", "run_id")
IMPACT_KEYS = ("dag_id", "upstream_dags", "assets", "upstream_events", "expected_runs", "events_per_run",
               "partition_aware", "is_paused", "owners", "needs", "summary")


# -- writing ---------------------------------------------------------------------------------------------------------


def _dt(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def content_fingerprint(data: dict[str, Any]) -> str:
    """``sha256:<hex>`` of a plan dict's canonical JSON, the ``fingerprint`` key left out.

    Canonical (sorted keys, no spaces, ASCII) so re-indenting or reordering a file is not an edit, but any changed
    value is.
    """
    content = {k: v for k, v in data.items() if k != FINGERPRINT_KEY}
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    return "sha256:" + hashlib.sha256(text.encode("ascii")).hexdigest()


def plan_to_dict(plan: Plan) -> dict[str, Any]:
    options = plan.options
    data = {
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
            {"pool": b.pool, "slots": b.slots, "reserve": b.reserve, "cap": b.cap, "budget": b.budget,
             "carved": b.carved}
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
                "pool_demand": dict(d.pool_demand),
                "concurrency": d.concurrency,
                "concurrency_reason": d.concurrency_reason,
                "eta_p50": d.eta_p50,
                "eta_p90": d.eta_p90,
                "counts": {a: d.count(a) for a in ACTIONS},
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
                "needs": list(i.needs),
                "summary": i.summary,
            }
            for i in plan.impacts
        ],
        "warnings": list(plan.warnings),
    }
    data[FINGERPRINT_KEY] = content_fingerprint(data)
    return data


# -- reading: one definition of each rule ----------------------------------------------------------------------------


def _kind(value: Any) -> str:
    """What a JSON value is, in the words of a message ("got null", "got text")."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, (int, float)):
        text = f"the number {value:g}" if isinstance(value, float) else f"the number {value}"
        return text if len(text) <= 40 else "a number of more than 30 digits"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    return "an object"


def _show(value: Any, limit: int = 60) -> str:
    """A value quoted in a message, cut short: a hostile file must not put megabytes into an error."""
    text = repr(value) if isinstance(value, str) else _kind(value)
    return text if len(text) <= limit else text[:limit] + "…"


def _at(path: Any, key: str | int) -> tuple:
    """The path of ``key`` inside ``path``, kept as a pair: it becomes text only when a message needs it."""
    return (path, key)


def _fmt(path: Any) -> str:
    """((('', 'dags'), 0), 'upstream') -> 'dags[0].upstream', the way the messages name fields."""
    if not isinstance(path, tuple):
        return path
    parent, key = path
    head = _fmt(parent)
    if isinstance(key, int):
        return f"{head}[{key}]"
    key = key if len(key) <= 60 else key[:60] + "…"  # a pool name is a key: a hostile one can be megabytes
    return f"{head}.{key}" if head else key


@functools.lru_cache(maxsize=None)
def _keyset(keys: tuple[str, ...]) -> frozenset[str]:
    return frozenset(keys)


class _Reader:
    """Typed access to a decoded plan; every problem is a BadInput naming the file and the JSON path."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, path: Any, problem: str) -> BadInput:
        return BadInput(f"plan file {self.source}: {_fmt(path) or 'the top level'} {problem}")

    # structure

    def object(self, value: Any, path: Any, keys: tuple[str, ...], optional: tuple[str, ...] = ()) -> _Node:
        if not isinstance(value, dict):
            raise self.fail(path, f"must be an object, got {_kind(value)}")
        if value.keys() == _keyset(keys):  # the usual case, checked once for a plan's 100,000 partitions
            return _Node(self, value, path)
        unknown = [k for k in value if k not in keys]
        if unknown:
            shown = ", ".join(_show(k, 40) for k in unknown[:5]) + (f" and {len(unknown) - 5} more"
                                                                     if len(unknown) > 5 else "")
            raise self.fail(path, f"has unknown key(s) {shown} (known: {', '.join(keys)})")
        for key in keys:
            if key not in value and key not in optional:
                raise self.fail(_at(path, key), "is missing")
        return _Node(self, value, path)

    def mapping(self, value: Any, path: Any) -> list[tuple[str, Any, Any]]:
        """An object keyed by names (pools): (name, its path, its value) for each entry."""
        if not isinstance(value, dict):
            raise self.fail(path, f"must be an object, got {_kind(value)}")
        return [(self.name(key, _at(path, str(key))), _at(path, str(key)), item) for key, item in value.items()]

    def items(self, value: Any, path: Any) -> list[tuple[tuple, Any]]:
        if not isinstance(value, list):
            raise self.fail(path, f"must be a list, got {_kind(value)}")
        return [((path, n), item) for n, item in enumerate(value)]

    def each(self, value: Any, path: Any, rule: Callable[[Any, Any], Any]) -> tuple:
        """A list whose every element obeys ``rule``; a repeated element is refused."""
        found: dict[Any, Any] = {}
        for where, item in self.items(value, path):
            item = rule(item, where)
            if item in found:
                raise self.fail(where, f"repeats {_fmt(found[item])} ({_show(item)})")
            found[item] = where
        return tuple(found)

    # scalars

    def text(self, value: Any, path: Any, *, optional: bool = False, what: str = "text",
             limit: int | None = None) -> str | None:
        """Text; with a ``limit`` it is an identifier or a name, so it must also be non-empty and that short."""
        if value is None and optional:
            return None
        if not isinstance(value, str):
            raise self.fail(path, f"must be {what}, got {_kind(value)}")
        if limit is not None and not value:
            raise self.fail(path, "is empty")
        if limit is not None and len(value) > limit:
            raise self.fail(path, f"is {len(value)} characters long; at most {limit} are allowed")
        return value

    def name(self, value: Any, path: Any) -> str:
        """A pool, asset or owner name: non-empty text of a sane length."""
        return self.text(value, path, what="a name (text)", limit=MAX_NAME)

    def dag_id(self, value: Any, path: Any) -> str:
        """A DAG id as Airflow allows it: it ends up in API paths, so nothing path-like gets through."""
        text = self.text(value, path, what="a DAG id (text)", limit=MAX_DAG_ID)
        if not DAG_ID.fullmatch(text) or not text.strip("."):
            raise self.fail(path, f"must be a DAG id (letters, digits, '.', '-', '_'), got {_show(text)}")
        return text

    def whole(self, value: Any, path: Any, *, minimum: int = 0, optional: bool = False) -> int | None:
        if value is None and optional:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(path, f"must be a whole number, got {_kind(value)}")
        if value < minimum:
            raise self.fail(path, f"must be {minimum} or more, got {value}")
        if value > MAX_WHOLE:
            raise self.fail(path, f"must be at most {MAX_WHOLE}, got {_show(value)}")
        return value

    def seconds(self, value: Any, path: Any, *, optional: bool = False) -> float | None:
        """A duration or an estimate: finite and not negative (NaN would poison every ETA computed from it)."""
        if value is None and optional:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(path, f"must be a number, got {_kind(value)}")
        if not math.isfinite(value):
            raise self.fail(path, f"must be a finite number, got {_kind(value)}")
        if value < 0:
            raise self.fail(path, f"must be 0 or more, got {value:g}")
        return value

    def flag(self, value: Any, path: Any) -> bool:
        if not isinstance(value, bool):
            raise self.fail(path, f"must be true or false, got {_kind(value)}")
        return value

    def when(self, value: Any, path: Any, *, optional: bool = False) -> datetime | None:
        if value is None and optional:
            return None
        text = self.text(value, path, what="an ISO datetime (text)")
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise self.fail(path, f"is not an ISO datetime: {_show(text)}") from None
        if moment.tzinfo is None:
            raise self.fail(path, f"has no time zone: {_show(text)}")
        return moment

    def choice(self, value: Any, path: Any, allowed: tuple[str, ...]) -> str:
        text = self.text(value, path, what=f"one of {', '.join(allowed)}")
        if text not in allowed:
            raise self.fail(path, f"must be one of {', '.join(allowed)}, got {_show(text)}")
        return text

    def plan_id(self, value: Any, path: Any) -> str:
        text = self.text(value, path, what="a plan id (text)")
        if not text:
            raise self.fail(path, "is empty")
        if len(text) > MAX_PLAN_ID:
            raise self.fail(path, f"is {len(text)} characters long; a plan id has at most {MAX_PLAN_ID}")
        if any(c in text for c in "/\\\0") or ".." in text or any(c.isspace() or not c.isprintable() for c in text):
            raise self.fail(path, f"holds characters no plan id has (a path separator, '..', a space or a control "
                                  f"character): {_show(text)}")
        if not PLAN_ID.fullmatch(text):
            raise self.fail(path, f"is not a plan id as afkit writes them (16 to {MAX_PLAN_ID} lowercase hex "
                                  f"digits): {_show(text)}")
        return text


class _Node:
    """One JSON object of the plan with its path; each accessor applies the reader's rule to the value at a key."""

    def __init__(self, reader: _Reader, data: dict, path: Any) -> None:
        self.r, self.data, self.path = reader, data, path

    def at(self, key: str) -> tuple:
        return _at(self.path, key)

    def fail(self, key: str, problem: str) -> BadInput:
        return self.r.fail(self.at(key), problem)

    def has(self, key: str) -> bool:
        return key in self.data

    def object(self, key: str, keys: tuple[str, ...], *, optional: bool = False) -> _Node | None:
        if optional and self.data[key] is None:
            return None
        return self.r.object(self.data[key], self.at(key), keys)

    def items(self, key: str) -> list[tuple[tuple, Any]]:
        return self.r.items(self.data[key], self.at(key))

    def each(self, key: str, rule: Callable[[Any, Any], Any]) -> tuple:
        return self.r.each(self.data[key], self.at(key), rule)

    def text(self, key: str, **rule: Any) -> str | None:
        return self.r.text(self.data[key], (self.path, key), **rule)

    def dag_id(self, key: str) -> str:
        return self.r.dag_id(self.data[key], (self.path, key))

    def name(self, key: str) -> str:
        return self.r.name(self.data[key], (self.path, key))

    def whole(self, key: str, **rule: Any) -> int | None:
        return self.r.whole(self.data[key], (self.path, key), **rule)

    def seconds(self, key: str, **rule: Any) -> float | None:
        return self.r.seconds(self.data[key], (self.path, key), **rule)

    def flag(self, key: str) -> bool:
        return self.r.flag(self.data[key], (self.path, key))

    def when(self, key: str, **rule: Any) -> datetime | None:
        return self.r.when(self.data[key], (self.path, key), **rule)

    def choice(self, key: str, allowed: tuple[str, ...]) -> str:
        return self.r.choice(self.data[key], (self.path, key), allowed)

    def plan_id(self, key: str) -> str:
        return self.r.plan_id(self.data[key], (self.path, key))


# -- reading: the plan -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoadedPlan:
    """A plan read from a file, and whether its content still matches the fingerprint written with it.

    ``edited`` is True when the content changed after afkit wrote it, and also for a file with no fingerprint
    (written before afkit wrote fingerprints): either way the plan must re-validate against Airflow before a launch.
    ``why`` says which, for the launcher's message; it is empty when ``edited`` is False.
    """

    plan: Plan
    edited: bool
    why: str = ""


def decode_plan(data: Any, source: str = "<plan>") -> LoadedPlan:
    """Validate a decoded plan file completely and check its fingerprint."""
    plan = plan_from_dict(data, source)
    written = data.get(FINGERPRINT_KEY)
    if written is None:
        return LoadedPlan(plan, True, f"plan file {source} has no fingerprint (written by an older afkit)")
    if written != content_fingerprint(data):
        return LoadedPlan(plan, True, f"plan file {source} was changed after afkit wrote it (its content no "
                                      "longer matches its fingerprint)")
    return LoadedPlan(plan, False)


def plan_from_dict(data: Any, source: str = "<plan>") -> Plan:
    """The plan in a decoded plan file (or journal entry), every field validated; the fingerprint is not checked."""
    r = _Reader(source)
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise BadInput(f"plan file {source} is not an afkit backfill plan (no \"schema\": \"{SCHEMA}\")")
    if "schema_version" not in data:
        raise r.fail("schema_version", "is missing")
    version = r.whole(data["schema_version"], "schema_version")
    if version > SCHEMA_VERSION:
        raise BadInput(f"plan file {source} has schema version {version}; this afkit reads up to {SCHEMA_VERSION}: "
                       "upgrade afkit or re-plan")
    if version < 1:
        raise r.fail("schema_version", f"must be 1 or more, got {version}")
    top = r.object(data, "", TOP_KEYS, optional=(FINGERPRINT_KEY,))
    if top.has(FINGERPRINT_KEY):
        text = top.text(FINGERPRINT_KEY, what="a fingerprint (text)")
        if not FINGERPRINT.fullmatch(text):
            raise top.fail(FINGERPRINT_KEY, f"must be sha256: and 64 hex digits, got {_show(text)}")
    plan_id = top.plan_id("plan_id")
    url = top.text("airflow_url", limit=2048)
    if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc:
        raise top.fail("airflow_url", f"must be an http(s) URL, got {_show(url)}")
    options = _options(top.object("options", OPTION_KEYS))
    budgets = _budgets(top, options.policy)
    dags = _dags(top, options, budgets)
    return Plan(
        airflow_url=url,
        airflow_version=top.text("airflow_version", limit=MAX_NAME),
        created_at=top.when("created_at"),
        options=options,
        dags=dags,
        impacts=_impacts(top, {d.dag_id for d in dags}),
        warnings=tuple(top.r.text(item, where) for where, item in top.items("warnings")),
        plan_id=plan_id,
        budgets=budgets,
    )


def _options(o: _Node) -> PlanOptions:
    first, last = o.when("from_date"), o.when("to_date")
    if first > last:
        raise o.fail("from_date", f"is after options.to_date ({last.isoformat()})")
    return PlanOptions(
        from_date=first,
        to_date=last,
        reprocess=o.choice("reprocess", REPROCESS_BEHAVIOURS),
        order=o.choice("order", ORDERS),
        max_active_runs=o.whole("max_active_runs", minimum=1),
        downstream=o.flag("downstream"),
        partitions=_selection(o.object("partitions", SELECTION_KEYS, optional=True)),
        policy=_policy(o.object("policy", POLICY_KEYS)),
    )


def _selection(s: _Node | None) -> PartitionSelection | None:
    """Either a list of keys or a FIRST..LAST range, as ``--partitions`` gives them; never both, never neither."""
    if s is None:
        return None
    keys = s.each("keys", s.r.name)
    first, last = s.text("first", optional=True, limit=MAX_NAME), s.text("last", optional=True, limit=MAX_NAME)
    if (first is None) != (last is None):
        raise s.fail("first" if first is None else "last", "is missing: a range needs both ends")
    if first is not None and keys:
        raise s.fail("keys", "must be empty when first and last give a range")
    if first is None and not keys:
        raise s.fail("keys", "is empty: the selection names no partition")
    if first is not None and first > last:
        raise s.fail("first", f"comes after options.partitions.last ({_show(last)})")
    return PartitionSelection(keys=keys, first=first, last=last)


def _policy(p: _Node) -> ThrottlePolicy:
    """The throttling policy the plan was made with; amounts are parsed by the throttle's own rule."""
    default = p.text("default_reserve", what="a reserve (text, e.g. 2 or 25%)")
    _amount(p.r, default, p.at("default_reserve"))
    section = {}
    for name, where, value in p.r.mapping(p.data["pools"], p.at("pools")):
        entry = p.r.object(value, where, POOL_POLICY_KEYS)
        _amount(p.r, entry.text("reserve", what="a reserve (text, e.g. 2 or 25%)"), entry.at("reserve"))
        section[name] = {"reserve": entry.data["reserve"], "backfill_cap": entry.whole("backfill_cap", optional=True)}
    try:
        return parse_policy(section, default)
    except BadInput as exc:
        raise p.r.fail(p.path, f"is invalid: {exc}") from None


def _amount(r: _Reader, text: str, path: Any) -> None:
    try:
        parse_amount(text, _fmt(path))
    except BadInput as exc:
        raise BadInput(f"plan file {r.source}: {exc}") from None


def _budgets(top: _Node, policy: ThrottlePolicy) -> tuple[PoolBudget, ...]:
    """Each pool's budget must be what the plan's own policy gives that pool (the throttle's rule, not a copy)."""
    found: dict[str, PoolBudget] = {}
    for where, item in top.items("budgets"):
        b = top.r.object(item, where, BUDGET_KEYS, optional=("carved",))  # plans written before carving: false
        pool = b.name("pool")
        if pool in found:
            raise b.fail("pool", f"repeats the budget of pool {_show(pool)}: a pool has one budget")
        carved = b.flag("carved") if "carved" in b.data else False
        budget = PoolBudget(pool, b.whole("slots", minimum=-1), b.whole("reserve"), b.whole("cap", optional=True),
                            b.whole("budget"), carved)
        try:
            expected = budget_for(Pool(pool, budget.slots, 0, 0, 0), policy.for_pool(pool), carved)
        except BadInput as exc:
            raise top.r.fail(where, f"contradicts the plan's policy: {exc}") from None
        if budget != expected:
            raise top.r.fail(where, f"contradicts the plan's policy, which gives {expected.describe()}")
        found[pool] = budget
    return tuple(found.values())


def _dags(top: _Node, options: PlanOptions, budgets: tuple[PoolBudget, ...]) -> tuple[DagPlan, ...]:
    dags: list[DagPlan] = []
    seen: dict[str, Any] = {}
    upstream_at: list[tuple] = []
    for where, item in top.items("dags"):
        d = top.r.object(item, where, DAG_KEYS)
        dag_id = d.dag_id("dag_id")
        if dag_id in seen:
            raise d.fail("dag_id", f"repeats {_fmt(seen[dag_id])} ({_show(dag_id)}): a DAG appears once in a plan")
        seen[dag_id] = where
        upstream_at.append(d.at("upstream"))
        dags.append(_dag(d, dag_id, options, budgets))
    for dag, path in zip(dags, upstream_at):
        for n, upstream in enumerate(dag.upstream):
            if upstream == dag.dag_id:
                raise top.r.fail((path, n), f"names the DAG itself ({_show(upstream)})")
            if upstream not in seen:
                raise top.r.fail((path, n), f"names {_show(upstream)}, which is not a DAG of this plan")
    return tuple(dags)


def _dag(d: _Node, dag_id: str, options: PlanOptions, budgets: tuple[PoolBudget, ...]) -> DagPlan:
    partitions = _partitions(d, options.reprocess)
    steps = _steps(d, dag_id)
    runs = sum(p.runs for p in partitions)
    if runs != sum(s.runs for s in steps):
        raise d.fail("steps", "do not add up to the partitions to run (edited by hand?)")
    counts = d.object("counts", ACTIONS)
    for action in ACTIONS:
        actual = sum(p.action == action for p in partitions)
        if counts.whole(action) != actual:
            raise counts.fail(action, f"says {counts.data[action]}, but {actual} partition(s) have that action")
    e = d.object("estimate", ESTIMATE_KEYS)
    estimate = DurationEstimate(e.whole("samples"), e.seconds("p50", optional=True), e.seconds("p90", optional=True))
    if (estimate.samples == 0) != (estimate.p50 is None) or (estimate.p50 is None) != (estimate.p90 is None):
        raise d.fail("estimate", "must have p50 and p90 exactly when it has samples")
    pool_demand = {pool: d.r.whole(slots, where) for pool, where, slots in d.r.mapping(d.data["pool_demand"],
                                                                                      d.at("pool_demand"))}
    concurrency = d.whole("concurrency")
    admitted = admit(options.max_active_runs, pool_demand, {b.pool: b for b in budgets}).max_active_runs
    if concurrency > admitted:  # zero is the planner's "the budget fits no run", refused at launch, not here
        raise d.fail("concurrency", f"is {concurrency}, more than the {admitted} that options.max_active_runs and "
                                    "the pool budgets admit")
    return DagPlan(
        dag_id=dag_id,
        version=d.whole("version", optional=True),
        is_paused=d.flag("is_paused"),
        partitioned=d.flag("partitioned"),
        depends_on_past=d.flag("depends_on_past"),
        upstream=d.each("upstream", d.r.dag_id),
        added_by=d.text("added_by", limit=len("downstream of ") + MAX_DAG_ID),
        partitions=partitions,
        steps=steps,
        estimate=estimate,
        pool_demand=pool_demand,
        concurrency=concurrency,
        concurrency_reason=d.text("concurrency_reason"),
        eta_p50=d.seconds("eta_p50", optional=True),
        eta_p90=d.seconds("eta_p90", optional=True),
    )


def _steps(d: _Node, dag_id: str) -> tuple[Step, ...]:
    """Steps with unique, non-negative indexes and disjoint ranges: two steps over one day would run it twice."""
    steps: list[Step] = []
    where_of: dict[int, Any] = {}
    for where, item in d.items("steps"):
        s = d.r.object(item, where, STEP_KEYS)
        index = s.whole("index")
        if index in where_of:
            raise s.fail("index", f"repeats {_fmt(where_of[index])} (index {index}): a step appears once")
        where_of[index] = where
        first, last = s.when("from_date"), s.when("to_date")
        if first > last:
            raise s.fail("from_date", f"is after {_fmt(s.at('to_date'))} ({last.isoformat()})")
        steps.append(Step(dag_id, index, first, last, s.whole("runs", minimum=1)))
    ordered = sorted(steps, key=lambda step: step.from_date)
    for before, after in zip(ordered, ordered[1:]):
        if after.from_date <= before.to_date:
            raise d.r.fail(where_of[after.index], f"overlaps {_fmt(where_of[before.index])}: their ranges share "
                                                  "partitions")
    return tuple(steps)


def _partitions(d: _Node, reprocess: str) -> tuple[PartitionRow, ...]:
    rows: list[PartitionRow] = []
    seen: dict[tuple, Any] = {}
    for where, item in d.items("partitions"):
        p = d.r.object(item, where, PARTITION_KEYS)
        row = PartitionRow(
            logical_date=p.when("logical_date", optional=True),
            partition_key=p.text("partition_key", optional=True, limit=MAX_NAME),
            partition_date=p.when("partition_date", optional=True),
            state=p.text("state", limit=MAX_STATE),
            action=p.choice("action", ACTIONS),
            reason=p.text("reason"),
            run_id=p.text("run_id", optional=True, limit=MAX_RUN_ID),
        )
        identity = (row.logical_date, row.partition_key, row.partition_date)
        if identity == (None, None, None):
            raise p.r.fail(where, "names no partition: it needs a logical_date, partition_key or partition_date")
        if identity in seen:
            raise p.r.fail(where, f"repeats {_fmt(seen[identity])} (partition {row.label}): a partition appears once")
        seen[identity] = where
        expected = decide(row.state, reprocess)[0]
        if row.action != expected:
            raise p.fail("action", f"is {row.action!r}, but reprocess {reprocess!r} does {expected!r} with a "
                                   f"partition in state {_show(row.state)}")
        rows.append(row)
    return tuple(rows)


def _impacts(top: _Node, dag_ids: set[str]) -> tuple[ConsumerImpact, ...]:
    impacts: list[ConsumerImpact] = []
    seen: dict[str, Any] = {}
    for where, item in top.items("impacts"):
        i = top.r.object(item, where, IMPACT_KEYS, optional=("needs",))  # "needs" is newer than the format
        dag_id = i.dag_id("dag_id")
        if dag_id in seen:
            raise i.fail("dag_id", f"repeats {_fmt(seen[dag_id])} ({_show(dag_id)}): a consumer has one impact")
        seen[dag_id] = where
        upstream = i.each("upstream_dags", i.r.dag_id)
        for n, name in enumerate(upstream):
            if name not in dag_ids:
                raise top.r.fail((i.at("upstream_dags"), n), f"names {_show(name)}, which is not a DAG of "
                                                                   "this plan")
        i.text("summary")
        impacts.append(ConsumerImpact(
            dag_id=dag_id,
            upstream_dags=upstream,
            assets=i.each("assets", i.r.name),
            upstream_events=i.whole("upstream_events"),
            expected_runs=i.whole("expected_runs"),
            events_per_run=float(i.seconds("events_per_run")),
            partition_aware=i.flag("partition_aware"),
            is_paused=i.flag("is_paused"),
            owners=i.each("owners", i.r.name),
            needs=i.each("needs", i.r.name) if i.has("needs") else (),
        ))
    return tuple(impacts)


# -- reading: the file -----------------------------------------------------------------------------------------------


class _RepeatedKey(Exception):
    def __init__(self, key: str) -> None:
        self.key = key


def _no_repeats(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """JSON allows a key twice and Python keeps the last; a reviewer may read the first. Refuse instead."""
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise _RepeatedKey(key)
        found[key] = value
    return found


def decode_plan_text(text: str, source: str) -> LoadedPlan:
    """Parse, validate and fingerprint-check the text of a plan file (``source`` names it in messages).

    Bounded in JSON values as the reader of the file is in bytes, so a JSON bomb costs bounded memory.
    """
    if text.count(",") + text.count("{") + text.count("[") > MAX_PLAN_VALUES:  # bounds values: each needs a , [ or {
        raise BadInput(f"plan file {source} holds more than {MAX_PLAN_VALUES:,} JSON values: not a plan afkit wrote")
    if not text.strip():
        raise BadInput(f"plan file {source} is empty")
    try:
        data = json.loads(text, object_pairs_hook=_no_repeats)
    except json.JSONDecodeError as exc:
        hint = " (the file looks truncated)" if not text.rstrip().endswith(("}", "]")) else ""
        raise BadInput(f"plan file {source} is not valid JSON{hint}: {exc.msg} at line {exc.lineno}, "
                       f"column {exc.colno}") from None
    except _RepeatedKey as exc:
        raise BadInput(f"plan file {source}: the key {_show(exc.key)} appears twice in one object") from None
    except RecursionError:
        raise BadInput(f"plan file {source} nests too deeply to be a plan") from None
    except ValueError as exc:  # e.g. an integer of more digits than Python converts
        raise BadInput(f"plan file {source} is not valid JSON: {exc}") from None
    return decode_plan(data, source)


def plan_file_text(plan: Plan) -> str:
    """What a plan file holds: the plan as indented JSON (with its fingerprint)."""
    return json.dumps(plan_to_dict(plan), indent=2) + "\n"
