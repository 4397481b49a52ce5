"""Plan files: a backfill plan as versioned JSON, written for review and read back for launch.

A plan file records the Airflow URL, the DAG versions, every partition with its action, the steps and the options.
It never holds credentials. A plan file is untrusted input, read in two passes before anything is done:

1. **The schema** (:class:`PlanFile`, msgspec structs): every field's type, the types inside lists and objects,
   ranges and lengths, the format version; an unknown key is refused, so a typo cannot be silently ignored while the
   reviewer believes it applies. The same structs generate the published JSON Schema
   (``docs/plan-file.schema.json``, :func:`plan_file_schema`).
2. **The rules between fields**: unique DAGs, steps and partitions, references between them, steps that add up to
   the partitions, counts that match, budgets that follow from the plan's own policy, concurrency the budgets admit.

Either way a refusal is a :class:`BadInput` naming the file and the field path (``plan file p.json:
$.dags[1].upstream[0]: expected str, got null``).

A written plan carries a ``fingerprint`` of its content. :func:`decode_plan` reports whether the content still
matches it, so the launch path can refuse an edited plan unless it re-validates against Airflow. The fingerprint
detects edits (by hand or by a tool), not a forger: anyone can recompute it.
"""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType

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
from toolkit.core.sla_risk import Fix, SlaRisk
from toolkit.core.throttle import PoolBudget, ThrottlePolicy, admit, budget_for, parse_amount, parse_policy
from toolkit.core.timeparse import PartitionSelection
from toolkit.core.validation import member, schema_problem, shown

SCHEMA = "afkit.backfill-plan"
SCHEMA_VERSION = 1
FINGERPRINT_KEY = "fingerprint"
ACTIONS = ("create", "rerun", "skip")

MAX_PLAN_ID = 64
MAX_DAG_ID = 250  # Airflow's ID_LEN
MAX_NAME = 256  # pool names, asset names: Airflow's column width
MAX_RUN_ID = 250  # Airflow's run_id column
MAX_STATE = 40  # "missing" or a DAG run state
MAX_URL = 2048
MAX_RESERVE = 32  # "2", "25%": a reserve is short, and a message quotes it
MAX_WHOLE = 2**31 - 1  # Airflow keeps slots, runs and versions in 32-bit integers
MAX_FINITE = sys.float_info.max  # a bound that refuses Infinity (NaN fails every bound)
ADDED_BY_PREFIX = "downstream of "
# The largest plan afkit makes (10 years hourly, every partition re-run) is a 28 MiB file of about 0.8 million JSON
# values and takes 100 MiB to decode. Bytes alone do not bound memory: 32 MiB of "[{},{},…]" decodes to 800 MiB,
# so the values are counted before decoding.
MAX_PLAN_FILE_BYTES = 64 * 1024 * 1024
MAX_PLAN_VALUES = 4_000_000

# Regular expressions of the format and their words in messages. Python's `$` also matches before a final newline,
# so each pattern refuses a newline before its end with `(?!\n)`; the patterns mean the same in JSON Schema (ECMA).
DAG_ID_PATTERN = r"^(?!\.+$)[\w.-]+(?!\n)$"  # Airflow's KEY_REGEX, and nothing path-like ("..")
PLAN_ID_PATTERN = r"^[0-9a-f]{16,64}(?!\n)$"  # a sha256 prefix, as the planner writes it
FINGERPRINT_PATTERN = r"^sha256:[0-9a-f]{64}(?!\n)$"
PATTERN_WORDS = {
    DAG_ID_PATTERN: "a DAG id (letters, digits, '.', '-', '_')",
    PLAN_ID_PATTERN: f"a plan id as afkit writes them (16 to {MAX_PLAN_ID} lowercase hex digits)",
    FINGERPRINT_PATTERN: "'sha256:' and 64 lowercase hex digits",
}


# -- the format: one definition, for the reader and for the published JSON Schema -----------------------------------

DagId = Annotated[str, Meta(min_length=1, max_length=MAX_DAG_ID, pattern=DAG_ID_PATTERN)]
Name = Annotated[str, Meta(min_length=1, max_length=MAX_NAME)]  # a pool, asset, owner or partition name
Count = Annotated[int, Meta(ge=0, le=MAX_WHOLE)]
Positive = Annotated[int, Meta(ge=1, le=MAX_WHOLE)]
Seconds = Annotated[float, Meta(ge=0, le=MAX_FINITE, description="Seconds: finite, 0 or more.")]
Moment = Annotated[datetime, Meta(tz=True, description="An RFC 3339 date-time with a time zone.")]
Reserve = Annotated[str, Meta(min_length=1, max_length=MAX_RESERVE,
                              description="Slots kept for production: a whole number (2) or a percentage (25%).")]


class _Object(Struct, forbid_unknown_fields=True, frozen=True):
    """Every object of a plan file: an unknown key is refused."""


class FileSelection(_Object):
    """The partitions selected: either a list of keys, or a range from first to last (then keys is empty)."""

    keys: tuple[Name, ...]
    first: Name | None
    last: Name | None


class FilePoolPolicy(_Object):
    """One pool's entry of the throttling policy."""

    reserve: Reserve
    backfill_cap: Count | None


class FilePolicy(_Object):
    """The throttling policy the plan was made with: afkit.toml's [pools] and the plan's own overrides."""

    default_reserve: Reserve
    pools: dict[Name, FilePoolPolicy]


class FileOptions(_Object):
    """What the plan was asked for."""

    from_date: Moment
    to_date: Moment
    reprocess: Literal[REPROCESS_BEHAVIOURS]
    order: Literal[ORDERS]
    max_active_runs: Positive
    downstream: bool
    partitions: FileSelection | None
    policy: FilePolicy
    start_after: Moment | None = None  # absent in plans written before launches could be scheduled


class FileBudget(_Object, kw_only=True):
    """A pool's backfill budget, as the plan's policy gives it (slots -1: an unlimited pool)."""

    pool: Name
    slots: Annotated[int, Meta(ge=-1, le=MAX_WHOLE)]
    reserve: Count
    cap: Count | None
    budget: Count
    carved: bool = False  # absent in plans written before carved pools


class FileEstimate(_Object):
    """Run durations seen recently: p50 and p90 are null exactly when there are no samples."""

    samples: Count
    p50: Seconds | None
    p90: Seconds | None


class FileCounts(_Object):
    """How many of the DAG's partitions have each action."""

    create: Count
    rerun: Count
    skip: Count


class FileStep(_Object):
    """One Airflow backfill the launch creates: a contiguous range of the DAG's partitions."""

    index: Count
    from_date: Moment
    to_date: Moment
    runs: Positive


class FilePartition(_Object):
    """One partition in range, what the launch does with it and why; it names at least one of its three keys."""

    partition_key: Name | None
    logical_date: Moment | None
    partition_date: Moment | None
    state: Annotated[str, Meta(min_length=1, max_length=MAX_STATE)]
    action: Literal[ACTIONS]
    reason: str
    run_id: Annotated[str, Meta(min_length=1, max_length=MAX_RUN_ID)] | None


class FileDag(_Object):
    """One DAG of the plan, in dependency order."""

    dag_id: DagId
    version: Count | None
    is_paused: bool
    partitioned: bool
    depends_on_past: bool
    upstream: tuple[DagId, ...]
    added_by: Annotated[str, Meta(min_length=1, max_length=len(ADDED_BY_PREFIX) + MAX_DAG_ID)]
    estimate: FileEstimate
    pool_demand: dict[Name, Count]
    concurrency: Count
    concurrency_reason: str
    eta_p50: Seconds | None
    eta_p90: Seconds | None
    counts: FileCounts
    steps: tuple[FileStep, ...]
    partitions: tuple[FilePartition, ...]


class FileImpact(_Object, kw_only=True):
    """What an asset-triggered consumer of the plan's DAGs will do while they are backfilled."""

    dag_id: DagId
    upstream_dags: tuple[DagId, ...]
    assets: tuple[Name, ...]
    upstream_events: Count
    expected_runs: Count
    events_per_run: Seconds
    partition_aware: bool
    is_paused: bool
    owners: tuple[Name, ...]
    needs: tuple[Name, ...] = ()  # absent in plans written before conditions were read
    summary: str


class FileFix(_Object, kw_only=True):
    """One way to keep an SLA out of risk: a smaller budget of a pool (``budget``), or a later start."""

    kind: Literal["budget", "start_after"]
    pool: Name | None = None
    slots: Count | None = None
    reserve: Count | None = None
    at: Moment | None = None
    text: str


class FileSlaRisk(_Object, kw_only=True):
    """A freshness SLA the backfill would move to at risk: its producer's usual run for one deadline, with and
    without the backfill holding the pools."""

    asset: Name
    sla: Name
    owners: tuple[Name, ...]
    producer: DagId
    pools: tuple[Name, ...]
    deadline: Moment
    run_start: Moment
    finish_without: Moment
    finish_with: Moment
    fixes: tuple[FileFix, ...]
    summary: str


class PlanFile(_Object, kw_only=True):
    """An afkit backfill plan, as `afkit backfill plan --out` writes it."""

    schema: Literal[SCHEMA]
    schema_version: Literal[SCHEMA_VERSION]
    plan_id: Annotated[str, Meta(pattern=PLAN_ID_PATTERN)]
    created_at: Moment
    airflow_url: Annotated[str, Meta(min_length=1, max_length=MAX_URL, description="An http(s) URL.")]
    airflow_version: Name
    options: FileOptions
    budgets: tuple[FileBudget, ...]
    dags: tuple[FileDag, ...]
    impacts: tuple[FileImpact, ...]
    sla_risks: tuple[FileSlaRisk, ...] = ()  # absent in plans written before the SLA risk was judged
    warnings: tuple[str, ...]
    fingerprint: Annotated[str, Meta(pattern=FINGERPRINT_PATTERN)] | UnsetType = UNSET  # absent in older plans


JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def plan_file_schema() -> dict[str, Any]:
    """The JSON Schema of plan files, generated from :class:`PlanFile` (published as docs/plan-file.schema.json).

    It states every type, range and key; the rules between fields (references, sums) are the reader's alone.
    """
    return {"$schema": JSON_SCHEMA_DIALECT, "title": "afkit backfill plan file",
            "description": f"Format {SCHEMA_VERSION} of the plan files afkit writes; the rules between fields that "
                           "a schema cannot state are in docs/plan-file.md.",
            **msgspec.json.schema(PlanFile)}


def plan_file_schema_text() -> str:
    """:func:`plan_file_schema` as the published file holds it."""
    return json.dumps(plan_file_schema(), indent=2, ensure_ascii=False) + "\n"


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
            **({"start_after": _dt(options.start_after)} if options.start_after else {}),  # absent: start at once
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
        **({"sla_risks": [sla_risk_to_dict(r) for r in plan.sla_risks]} if plan.sla_risks else {}),
        "warnings": list(plan.warnings),
    }
    data[FINGERPRINT_KEY] = content_fingerprint(data)
    return data


def sla_risk_to_dict(risk: SlaRisk) -> dict[str, Any]:
    return {
        "asset": risk.asset, "sla": risk.sla, "owners": list(risk.owners), "producer": risk.producer,
        "pools": list(risk.pools), "deadline": _dt(risk.deadline), "run_start": _dt(risk.run_start),
        "finish_without": _dt(risk.finish_without), "finish_with": _dt(risk.finish_with),
        "fixes": [{"kind": f.kind, "pool": f.pool, "slots": f.slots, "reserve": f.reserve, "at": _dt(f.at),
                   "text": f.text} for f in risk.fixes],
        "summary": risk.text,
    }


# -- reading ----------------------------------------------------------------------------------------------------------


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
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise BadInput(f"plan file {source} is not an afkit backfill plan (no \"schema\": \"{SCHEMA}\")")
    version = data.get("schema_version")
    if isinstance(version, int) and not isinstance(version, bool) and version > SCHEMA_VERSION:
        raise BadInput(f"plan file {source} has schema version {shown(version)}; this afkit reads up to "
                       f"{SCHEMA_VERSION}: upgrade afkit or make the plan again")
    try:
        document = msgspec.convert(data, PlanFile)
    except msgspec.ValidationError as exc:
        path, problem = schema_problem(exc, data, PlanFile, PATTERN_WORDS)
        raise BadInput(f"plan file {source}: {path}: {problem}") from None
    return _Rules(source).plan(document)


class _Rules:
    """The second pass: what holds between fields of a document the schema accepted. Builds the plan as it goes."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, path: str, problem: str) -> BadInput:
        return BadInput(f"plan file {self.source}: {path}: {problem}")

    def unique(self, values: tuple, path: str) -> tuple:
        first: dict[Any, int] = {}
        for n, value in enumerate(values):
            if value in first:
                raise self.fail(f"{path}[{n}]", f"repeats {path}[{first[value]}] ({shown(value)})")
            first[value] = n
        return values

    def plan(self, f: PlanFile) -> Plan:
        parts = urlsplit(f.airflow_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise self.fail("$.airflow_url", f"expected an http(s) URL, got {shown(f.airflow_url)}")
        if "@" in parts.netloc:  # not quoted: the part before the @ is a secret
            raise self.fail("$.airflow_url", "holds a user name or password (user:password@): a plan file never "
                                             "holds credentials")
        options = self.options(f.options)
        budgets = self.budgets(f.budgets, options.policy)
        dags = self.dags(f.dags, options, budgets)
        return Plan(
            airflow_url=f.airflow_url,
            airflow_version=f.airflow_version,
            created_at=f.created_at,
            options=options,
            dags=dags,
            impacts=self.impacts(f.impacts, {d.dag_id for d in dags}),
            warnings=f.warnings,
            plan_id=f.plan_id,
            budgets=budgets,
            sla_risks=self.sla_risks(f.sla_risks),
        )

    def options(self, o: FileOptions) -> PlanOptions:
        if o.from_date > o.to_date:
            raise self.fail("$.options.from_date", f"comes after $.options.to_date ({o.to_date.isoformat()})")
        return PlanOptions(
            from_date=o.from_date,
            to_date=o.to_date,
            reprocess=o.reprocess,
            order=o.order,
            max_active_runs=o.max_active_runs,
            downstream=o.downstream,
            partitions=self.selection(o.partitions, "$.options.partitions"),
            policy=self.policy(o.policy, "$.options.policy"),
            start_after=o.start_after,
        )

    def selection(self, s: FileSelection | None, path: str) -> PartitionSelection | None:
        """Either a list of keys or a FIRST..LAST range, as a selection is given; never both, never neither."""
        if s is None:
            return None
        keys = self.unique(s.keys, f"{path}.keys")
        if (s.first is None) != (s.last is None):
            raise self.fail(f"{path}.{'first' if s.first is None else 'last'}", "is null, but a range needs both ends")
        if s.first is not None and keys:
            raise self.fail(f"{path}.keys", "must be empty when first and last give a range")
        if s.first is None and not keys:
            raise self.fail(f"{path}.keys", "is empty: the selection names no partition")
        if s.first is not None and s.first > s.last:
            raise self.fail(f"{path}.first", f"comes after {path}.last ({shown(s.last)})")
        return PartitionSelection(keys=keys, first=s.first, last=s.last)

    def policy(self, p: FilePolicy, path: str) -> ThrottlePolicy:
        """The throttling policy the plan was made with; amounts are read by the throttle's own rule."""
        self.amount(p.default_reserve, f"{path}.default_reserve")
        section = {}
        for name, entry in p.pools.items():
            self.amount(entry.reserve, f"{member(f'{path}.pools', name)}.reserve")
            section[name] = {"reserve": entry.reserve, "backfill_cap": entry.backfill_cap}
        try:
            return parse_policy(section, p.default_reserve)
        except BadInput as exc:
            raise self.fail(path, f"is invalid: {exc}") from None

    def amount(self, text: str, path: str) -> None:
        try:
            parse_amount(text, path)
        except BadInput as exc:  # its message starts with the path
            raise BadInput(f"plan file {self.source}: {exc}") from None

    def budgets(self, items: tuple[FileBudget, ...], policy: ThrottlePolicy) -> tuple[PoolBudget, ...]:
        """Each pool's budget must be what the plan's own policy gives that pool (the throttle's rule, not a copy)."""
        found: dict[str, int] = {}
        budgets = []
        for n, b in enumerate(items):
            where = f"$.budgets[{n}]"
            if b.pool in found:
                raise self.fail(f"{where}.pool", f"repeats the budget of pool {shown(b.pool)} "
                                                 f"($.budgets[{found[b.pool]}]): a pool has one budget")
            found[b.pool] = n
            budget = PoolBudget(b.pool, b.slots, b.reserve, b.cap, b.budget, b.carved)
            try:
                expected = budget_for(Pool(b.pool, b.slots, 0, 0, 0), policy.for_pool(b.pool), b.carved)
            except BadInput as exc:
                raise self.fail(where, f"contradicts the plan's policy: {exc}") from None
            if budget != expected:
                raise self.fail(where, f"contradicts the plan's policy, which gives {expected.describe()}")
            budgets.append(budget)
        return tuple(budgets)

    def dags(self, items: tuple[FileDag, ...], options: PlanOptions,
             budgets: tuple[PoolBudget, ...]) -> tuple[DagPlan, ...]:
        seen: dict[str, int] = {}
        dags = []
        for n, d in enumerate(items):
            if d.dag_id in seen:
                raise self.fail(f"$.dags[{n}].dag_id", f"repeats $.dags[{seen[d.dag_id]}] ({shown(d.dag_id)}): a DAG "
                                                       "appears once in a plan")
            seen[d.dag_id] = n
            dags.append(self.dag(d, f"$.dags[{n}]", options, budgets))
        for n, dag in enumerate(dags):
            for m, upstream in enumerate(dag.upstream):
                if upstream == dag.dag_id:
                    raise self.fail(f"$.dags[{n}].upstream[{m}]", f"names the DAG itself ({shown(upstream)})")
                if upstream not in seen:
                    raise self.fail(f"$.dags[{n}].upstream[{m}]", f"names {shown(upstream)}, which is not a DAG of "
                                                                  "this plan")
        return tuple(dags)

    def dag(self, d: FileDag, where: str, options: PlanOptions, budgets: tuple[PoolBudget, ...]) -> DagPlan:
        partitions = self.partitions(d.partitions, f"{where}.partitions", options.reprocess)
        steps = self.steps(d.steps, f"{where}.steps", d.dag_id)
        if sum(p.runs for p in partitions) != sum(s.runs for s in steps):
            raise self.fail(f"{where}.steps", "do not add up to the partitions to run (edited by hand?)")
        for action in ACTIONS:
            said, actual = getattr(d.counts, action), sum(p.action == action for p in partitions)
            if said != actual:
                raise self.fail(f"{where}.counts.{action}", f"says {said}, but {actual} partition(s) have that action")
        e = d.estimate
        if (e.samples == 0) != (e.p50 is None) or (e.p50 is None) != (e.p90 is None):
            raise self.fail(f"{where}.estimate", "must have p50 and p90 exactly when it has samples")
        admitted = admit(options.max_active_runs, d.pool_demand, {b.pool: b for b in budgets}).max_active_runs
        if d.concurrency > admitted:  # zero is the planner's "the budget fits no run", refused at launch, not here
            raise self.fail(f"{where}.concurrency", f"is {d.concurrency}, more than the {admitted} that "
                                                    "$.options.max_active_runs and the pool budgets admit")
        return DagPlan(
            dag_id=d.dag_id,
            version=d.version,
            is_paused=d.is_paused,
            partitioned=d.partitioned,
            depends_on_past=d.depends_on_past,
            upstream=self.unique(d.upstream, f"{where}.upstream"),
            added_by=d.added_by,
            partitions=partitions,
            steps=steps,
            estimate=DurationEstimate(e.samples, e.p50, e.p90),
            pool_demand=dict(d.pool_demand),
            concurrency=d.concurrency,
            concurrency_reason=d.concurrency_reason,
            eta_p50=d.eta_p50,
            eta_p90=d.eta_p90,
        )

    def steps(self, items: tuple[FileStep, ...], path: str, dag_id: str) -> tuple[Step, ...]:
        """Steps with unique indexes and disjoint ranges: two steps over one day would run it twice."""
        steps: list[Step] = []
        position: dict[int, int] = {}
        for n, s in enumerate(items):
            if s.index in position:
                raise self.fail(f"{path}[{n}].index", f"repeats {path}[{position[s.index]}] (index {s.index}): a "
                                                      "step appears once")
            position[s.index] = n
            if s.from_date > s.to_date:
                raise self.fail(f"{path}[{n}].from_date", f"comes after {path}[{n}].to_date "
                                                          f"({s.to_date.isoformat()})")
            steps.append(Step(dag_id, s.index, s.from_date, s.to_date, s.runs))
        ordered = sorted(range(len(steps)), key=lambda n: steps[n].from_date)
        for before, after in zip(ordered, ordered[1:]):
            if steps[after].from_date <= steps[before].to_date:
                raise self.fail(f"{path}[{after}]", f"overlaps {path}[{before}]: their ranges share partitions")
        return tuple(steps)

    def partitions(self, items: tuple[FilePartition, ...], path: str, reprocess: str) -> tuple[PartitionRow, ...]:
        rows: list[PartitionRow] = []
        seen: dict[tuple, int] = {}
        for n, p in enumerate(items):
            row = PartitionRow(p.logical_date, p.partition_key, p.partition_date, p.state, p.action, p.reason,
                               p.run_id)
            identity = (row.logical_date, row.partition_key, row.partition_date)
            if identity == (None, None, None):
                raise self.fail(f"{path}[{n}]", "names no partition: it needs a logical_date, partition_key or "
                                                "partition_date")
            if identity in seen:
                raise self.fail(f"{path}[{n}]", f"repeats {path}[{seen[identity]}] (partition "
                                                f"{shown(row.label)}): a partition appears once")
            seen[identity] = n
            expected = decide(row.state, reprocess)[0]
            if row.action != expected:
                raise self.fail(f"{path}[{n}].action", f"is {shown(row.action)}, but reprocess {shown(reprocess)} "
                                                       f"does {shown(expected)} with a partition in state "
                                                       f"{shown(row.state)}")
            rows.append(row)
        return tuple(rows)

    def impacts(self, items: tuple[FileImpact, ...], dag_ids: set[str]) -> tuple[ConsumerImpact, ...]:
        impacts: list[ConsumerImpact] = []
        seen: dict[str, int] = {}
        for n, i in enumerate(items):
            where = f"$.impacts[{n}]"
            if i.dag_id in seen:
                raise self.fail(f"{where}.dag_id", f"repeats $.impacts[{seen[i.dag_id]}] ({shown(i.dag_id)}): a "
                                                   "consumer has one impact")
            seen[i.dag_id] = n
            upstream = self.unique(i.upstream_dags, f"{where}.upstream_dags")
            for m, name in enumerate(upstream):
                if name not in dag_ids:
                    raise self.fail(f"{where}.upstream_dags[{m}]", f"names {shown(name)}, which is not a DAG of this "
                                                                   "plan")
            impacts.append(ConsumerImpact(
                dag_id=i.dag_id,
                upstream_dags=upstream,
                assets=self.unique(i.assets, f"{where}.assets"),
                upstream_events=i.upstream_events,
                expected_runs=i.expected_runs,
                events_per_run=i.events_per_run,
                partition_aware=i.partition_aware,
                is_paused=i.is_paused,
                owners=self.unique(i.owners, f"{where}.owners"),
                needs=self.unique(i.needs, f"{where}.needs"),
            ))
        return tuple(impacts)


    def sla_risks(self, items: tuple[FileSlaRisk, ...]) -> tuple[SlaRisk, ...]:
        """What the planner judged, kept for review: a launch re-plans nothing from it, so only its shape is checked
        (a fix names what it changes; a risk finishes after its deadline, and later than without the backfill)."""
        risks = []
        for n, r in enumerate(items):
            where = f"$.sla_risks[{n}]"
            if not r.finish_without <= r.deadline < r.finish_with:
                raise self.fail(f"{where}.finish_with", "a risk finishes after its deadline "
                                                        "($.deadline), and finish_without does not")
            fixes = []
            for m, f in enumerate(r.fixes):
                needed = ("pool", "slots", "reserve") if f.kind == "budget" else ("at",)
                missing = [k for k in needed if getattr(f, k) is None]
                if missing:
                    raise self.fail(f"{where}.fixes[{m}].{missing[0]}", f"is null, but a {f.kind} fix needs it")
                fixes.append(Fix(f.kind, f.pool, f.slots, f.reserve, f.at))
            risks.append(SlaRisk(r.asset, r.sla, self.unique(r.owners, f"{where}.owners"), r.producer,
                                 self.unique(r.pools, f"{where}.pools"), r.deadline, r.run_start, r.finish_without,
                                 r.finish_with, tuple(fixes)))
        return tuple(risks)


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
        raise BadInput(f"plan file {source}: the key {shown(exc.key)} appears twice in one object") from None
    except RecursionError:
        raise BadInput(f"plan file {source} nests too deeply to be a plan") from None
    except ValueError as exc:  # e.g. an integer of more digits than Python converts
        raise BadInput(f"plan file {source} is not valid JSON: {exc}") from None
    return decode_plan(data, source)


def plan_file_text(plan: Plan) -> str:
    """What a plan file holds: the plan as indented JSON (with its fingerprint)."""
    return json.dumps(plan_to_dict(plan), indent=2) + "\n"
