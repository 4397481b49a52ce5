"""``afkit backfill``: plan, dry-run, launch, follow, pause, resume and cancel partition-scoped backfills."""

from __future__ import annotations

import re
import signal
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import click

from toolkit.services import backfills
from toolkit.airflow import AirflowClient
from toolkit.cli.hints import HINTS
from toolkit.cli.options import (
    echo_json,
    given_explicitly,
    json_option,
    output_path_callback,
    read_progress,
    with_client,
    working,
)
from toolkit.errors import BadInput, hinted
from toolkit.core.plan_options import build_options
from toolkit.core.planfile import plan_to_dict
from toolkit.files import load_plan, read_plan, save_plan
from toolkit.core.planning import (
    DEFAULT_MAX_ACTIVE_RUNS,
    ORDERS,
    REPROCESS_BEHAVIOURS,
    Plan,
    request_key,
)
from toolkit.render import (
    action_to_dict,
    backfill_to_dict,
    cancel_to_dict,
    launch_to_dict,
    render_plan,
    render_progress,
    table,
    when,
)
from toolkit.services.progress import tracked
from toolkit.services.governor import GovernorEvent
from toolkit.state import StateStore


# The flags of the plan options, for build_options' messages; and every parameter that shapes a plan, which a plan file
# already fixes (given with a plan file, each is refused by name, never silently ignored).
FLAGS = {"from_": "--from", "to": "--to", "partitions": "--partitions", "reserve": "--reserve",
         "backfill_cap": "--backfill-cap", "start_after": "--start-after"}
PLANNING_PARAMETERS = ("from_", "to", "partitions", "downstream", "reprocess", "order", "max_active_runs", "reserve",
                       "backfill_cap", "start_after")
DAG_ID = re.compile(r"^[A-Za-z0-9_.-]{1,250}$")  # Airflow's own rule for dag_id
MAX_BACKFILL_ID = 2**31 - 1

# What each command's --json holds (its help and docs/cli.md say it).
PLAN_SHAPE = ("the plan file's document, as -o writes it (docs/plan-file.md, docs/plan-file.schema.json): schema, "
              "schema_version, plan_id, created_at, airflow_url, airflow_version, options, budgets and dags (each "
              "with its estimate, pool_demand, concurrency, partitions and steps), impacts, sla_risks (when any: "
              "each SLA the backfill would put at risk, its window and fixes), warnings …")
LAUNCH_SHAPE = ("with --dry-run: dry_run (true), plan, notes, calls and runs {dag_id: [partition]}; otherwise "
                "plan_id, outcome (created | completed | detached), resumed, created and adopted (backfill ids), "
                "events [{kind, message, step, backfill_id}], governor [{action, backfill_id, pool, reason, text}] "
                "and progress (with --follow; else null).")
STATUS_SHAPE = ("without a target: active_backfills [backfill] and plans [{plan_id, status, created_at}]; for a "
                "backfill id: the backfill (id, dag_id, from_date, to_date, is_paused, max_active_runs, "
                "reprocess_behavior, created_at, completed_at) and progress (a sentence); for a plan: one object per "
                "DAG (dag_id, total, success, failed, running, queued, cancelled, backfill_ids, paused, status, "
                "eta_seconds).")
ACTION_SHAPE = ("action, plan_id (null for a backfill given by id) and backfills: each Airflow backfill acted on, as "
                "Airflow answered (id, dag_id, is_paused, completed_at …).")
CANCEL_SHAPE = ("as pause and resume (action, plan_id, backfills), with warning (what the cancel failed, or null) "
                "and changed [{dag_id, partition, before, after}].")


def _check_dag_ids(dag_ids: tuple[str, ...]) -> list[str]:
    for dag_id in dag_ids:
        if not DAG_ID.match(dag_id):
            shown = dag_id if len(dag_id) <= 60 else dag_id[:57] + "…"
            raise BadInput(f"DAG id {shown!r} is not a DAG id: letters, digits, '_', '-' and '.' only, at most 250")
    if len(set(dag_ids)) != len(dag_ids):
        twice = next(d for d in dag_ids if dag_ids.count(d) > 1)
        raise BadInput(f"DAG id {twice!r} is given twice")
    return list(dag_ids)


def _is_plan_file(arg: str) -> bool:
    """A plan file, not a DAG id: DAG ids have no '/' and never end in .json; anything that exists as a path counts."""
    return arg.endswith(".json") or "/" in arg or Path(arg).exists()


def plan_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """The options shared by ``plan`` and ``launch``."""
    options = [
        click.option("--from", "from_", metavar="DATE", help="Start: YYYY-MM-DD, ISO datetime with zone, or -30d."),
        click.option("--to", "to", metavar="DATE", help="End (inclusive), same forms; default now."),
        click.option("--partitions", metavar="KEYS",
                     help="Partition keys KEY[,KEY…] or FIRST..LAST (dates for a time-based DAG)."),
        click.option("--downstream", is_flag=True, help="Also plan DAGs fed by these DAGs' assets."),
        click.option("--reprocess", type=click.Choice(REPROCESS_BEHAVIOURS), default="none", show_default=True,
                     help="Which existing runs to run again."),
        click.option("--order", type=click.Choice(ORDERS), default="oldest", show_default=True,
                     help="Which partitions run first: the oldest or the newest."),
        click.option("--max-active-runs", type=click.IntRange(min=1), default=DEFAULT_MAX_ACTIVE_RUNS,
                     show_default=True, help="Runs of one DAG at a time (pool budgets may lower it further)."),
        click.option("--reserve", multiple=True, metavar="POOL=N|N%",
                     help="Slots of POOL kept for production (overrides afkit.toml; repeatable)."),
        click.option("--backfill-cap", multiple=True, metavar="POOL=N",
                     help="At most N slots of POOL for the backfill (repeatable)."),
        click.option("--start-after", metavar="DATE",
                     help="Create nothing before this instant (ISO datetime with zone, or +2h), e.g. after an SLA's "
                          "deadline; the plan's SLA risk is judged from it."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


# -- commands ------------------------------------------------------------------------------------------------------


@click.group()
def backfill() -> None:
    """Plan, launch and follow partition-scoped backfills.

    \b
    Examples:
      afkit backfill plan daily_revenue --from 2026-11-01 --to 2026-11-10 -o plan.json
      afkit backfill launch plan.json --dry-run
      afkit backfill launch plan.json --yes --follow
      afkit backfill plan stripe_ingest --from -2d --downstream
      afkit backfill plan web_sessions --partitions 2026-11-01..2026-11-05
    """


@backfill.command("plan")
@click.argument("dag_ids", nargs=-1, required=True, metavar="DAG_ID [DAG_ID…]")
@plan_options
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), callback=output_path_callback,
              help="Write the plan file here.")
@json_option(PLAN_SHAPE)
@with_client
def plan_command(client: AirflowClient, dag_ids: tuple[str, ...], output: Path | None, as_json: bool,
                 **option_values: Any) -> None:
    """Plan a backfill of DAG_ID(s): partitions, actions, estimates, pool demand, downstream impact."""
    now = datetime.now(timezone.utc)
    checked = _check_dag_ids(dag_ids)
    options = build_options(**option_values, now=now, names=FLAGS, configured=backfills.configured_policy())
    working(_planning(checked), as_json)
    plan = backfills.make_plan(client, checked, options, now)
    if output:
        try:
            save_plan(output, plan)
        except OSError as exc:  # checked before planning, but a disk can fill up or a directory vanish meanwhile
            raise BadInput(f"--output {output} cannot be written: {exc.strerror or exc}") from None
    if as_json:
        echo_json(plan_to_dict(plan))
        return
    click.echo(render_plan(plan, HINTS))
    if output:
        click.echo(f"\nPlan written to {output}. Review it, then: afkit backfill launch {output}")


def _planning(dag_ids: list[str]) -> str:
    """What a terminal is told while a plan is made (Airflow dry-runs every partition: it can take minutes)."""
    shown = ", ".join(dag_ids[:3]) + (f" and {len(dag_ids) - 3} more" if len(dag_ids) > 3 else "")
    return f"planning {shown}: reading runs, tasks and pools, and Airflow's dry run of every partition"


def _plan_from_arguments(client: AirflowClient, store: StateStore, args: tuple[str, ...], option_values: dict,
                         now: datetime, as_json: bool) -> tuple[Plan, str | None]:
    files = [a for a in args if _is_plan_file(a)]
    if files:
        if len(args) > 1:
            raise BadInput(f"give one plan file, or DAG ids; not {' and '.join(repr(a) for a in args[:3])}"
                           + (" …" if len(args) > 3 else ""))
        given = given_explicitly(click.get_current_context(), PLANNING_PARAMETERS)
        if given:
            raise BadInput(f"plan file {args[0]} already fixes the plan's options: {', '.join(given)} cannot be used "
                           "with it (plan again with the new options instead)")
        return backfills.plan_for_launch(client, read_plan(Path(args[0])), now), None
    dag_ids = _check_dag_ids(args)
    options = build_options(**option_values, now=now, names=FLAGS, configured=backfills.configured_policy())
    key = request_key(client.url, dag_ids, options)
    unfinished = store.unfinished_plan_for_request(key)
    if unfinished is not None:
        return backfills.plan_from_journal(store, unfinished.plan_id), key
    working(_planning(dag_ids), as_json)
    return backfills.make_plan(client, dag_ids, options, now), key


@backfill.command("launch")
@click.argument("args", nargs=-1, required=True, metavar="PLAN_FILE | DAG_ID [DAG_ID…]")
@plan_options
@click.option("--dry-run", is_flag=True, help="Print every call and every run; create nothing.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.option("--follow", is_flag=True, help="Show live progress until the plan completes (Ctrl-C detaches).")
@click.option("--unpause", is_flag=True, help="Unpause paused DAGs of the plan so their runs can start.")
@click.option("--force", is_flag=True, help="Launch even where a pool budget leaves no room (one run at a time).")
@json_option(LAUNCH_SHAPE)
@with_client
def launch_command(client: AirflowClient, args: tuple[str, ...], dry_run: bool, yes: bool, follow: bool,
                   unpause: bool, force: bool, as_json: bool, **option_values: Any) -> None:
    """Create the plan's backfills in dependency order (resumable: run it again after any interruption)."""
    now = datetime.now(timezone.utc)
    store = StateStore()
    plan, key = _plan_from_arguments(client, store, args, option_values, now, as_json)
    if dry_run:
        _dry_run(client, plan, force, unpause, as_json)
        return
    total_runs = sum(d.run_count for d in plan.dags)
    if not yes and store.plan(plan.plan_id) is None:
        # With --json, stdout carries only the result: the plan and the question go to the terminal's stderr.
        click.echo(render_plan(plan, HINTS), err=as_json)
        if not sys.stdin.isatty():
            raise BadInput("refusing to launch without confirmation: no terminal to ask on; pass --yes")
        click.confirm(f"\nCreate {len(plan.steps)} backfill(s) with {total_runs} run(s) on {plan.airflow_url}?",
                      abort=True, err=as_json)
    stop = {"now": False}
    previous = signal.signal(signal.SIGINT, lambda *_: stop.update(now=True))
    last = {"text": ""}
    events: list[backfills.LaunchEvent] = []
    governed: list[GovernorEvent] = []

    def on_event(event: backfills.LaunchEvent) -> None:
        events.append(event)
        if not as_json:
            prefix = {"warning": "! ", "created": "+ ", "adopted": "~ ", "completed": "✓ "}.get(event.kind, "  ")
            click.echo(prefix + hinted(event.message, event.hint, HINTS))

    def on_governor(event: GovernorEvent) -> None:
        governed.append(event)
        if not as_json:
            click.echo(f"governor: {event.describe()}")

    def on_progress(progress: list[backfills.DagProgress]) -> None:
        text = render_progress(progress)
        if text != last["text"]:
            click.echo(text + "\n")
            last["text"] = text

    try:
        report = backfills.launch_governed(
            client, store, plan, follow=follow, request=key, unpause=unpause, force=force, on_event=on_event,
            on_governor=on_governor, on_progress=None if as_json else on_progress, should_stop=lambda: stop["now"])
    finally:
        signal.signal(signal.SIGINT, previous)
    progress = backfills.plan_progress(client, store, plan) if follow else None
    if as_json:
        echo_json(launch_to_dict(report, events, governed, progress))
        return
    if progress is not None:
        click.echo(render_progress(progress))
    if report.complete:
        click.echo(f"Plan {plan.plan_id} completed.")
    elif report.stopped_early:
        click.echo(f"Detached from plan {plan.plan_id}; its backfills keep running in Airflow. Run the same launch "
                   "again to continue creating steps and following them.")
    else:
        click.echo(f"Plan {plan.plan_id}: every backfill is created. Follow it with: afkit backfill status "
                   f"{args[0] if key is None else plan.plan_id}")


def _dry_run(client: AirflowClient, plan: Plan, force: bool, unpause: bool, as_json: bool) -> None:
    """What a launch would do: the admission it would make, each step checked against Airflow, every call."""
    plan, _, notes = backfills.prepare_launch(client, plan, force=force)  # the admission a launch would make
    for step in plan.steps:
        backfills.verify_step(client, plan, step)
    calls = backfills.launch_calls(plan, unpause)
    runs = {dag.dag_id: [p.label for p in dag.partitions if p.runs] for dag in plan.dags}
    if as_json:
        echo_json({"dry_run": True, "plan": plan_to_dict(plan), "notes": notes, "calls": calls, "runs": runs})
        return
    click.echo(render_plan(plan, HINTS))
    for note in notes:
        click.echo(f"! {note}")
    click.echo("\nDry run — these calls would be made, in this order (nothing was created):")
    for call in calls:
        click.echo(f"  {call}")
    click.echo("\nRuns that would be created:")
    for dag_id, labels in runs.items():
        click.echo(f"  {dag_id}: " + (", ".join(labels) or "none"))


def _target(client: AirflowClient, store: StateStore, target: str) -> Plan | int:
    if not target.strip():
        raise BadInput("the target is empty: give a plan file, a plan id or a backfill id")
    if target.isascii() and target.isdigit() and store.plan(target) is None:  # a plan id is hex, rarely all digits
        number = int(target) if len(target) <= 10 else MAX_BACKFILL_ID + 1
        if not 1 <= number <= MAX_BACKFILL_ID:
            raise BadInput(f"backfill id {target[:20]}{'…' if len(target) > 20 else ''} is out of range "
                           f"(1 to {MAX_BACKFILL_ID})")
        return number
    if _is_plan_file(target):
        plan = load_plan(Path(target))
        # What was launched under this plan id is what to follow or act on, whatever the file says now.
        return backfills.plan_from_journal(store, plan.plan_id) if store.plan(plan.plan_id) else plan
    return backfills.plan_from_journal(store, target)


@backfill.command("status")
@click.argument("target", required=False, metavar="[PLAN_FILE | PLAN_ID | BACKFILL_ID]")
@json_option(STATUS_SHAPE)
@with_client
def status_command(client: AirflowClient, target: str | None, as_json: bool) -> None:
    """Progress of a plan or one backfill; without an argument, every active backfill and launched plan."""
    store = StateStore()
    if target is None:
        active = client.backfills.list_active()
        launched = store.plans()
        with read_progress(as_json) as progress:
            plans = [(p, backfills.plan_status(client, store, backfills.plan_from_journal(store, p.plan_id)))
                     for p in tracked(launched, len(launched), "the progress of launched plans", progress)]
        if as_json:
            echo_json({"active_backfills": [backfill_to_dict(b) for b in active],
                       "plans": [{"plan_id": p.plan_id, "status": status, "created_at": p.created_at}
                                 for p, status in plans]})
            return
        click.echo(table(["backfill", "dag", "paused", "created"],
                         [(b.id, b.dag_id, "yes" if b.is_paused else "no", when(b.created_at)) for b in active])
                   if active else "No active backfills.")
        click.echo("")
        click.echo(table(["plan", "status", "launched"], [(p.plan_id, status, when(p.created_at)) for p, status in plans])
                   if plans else "No unfinished afkit launches.")
        return
    found = _target(client, store, target)
    if isinstance(found, int):
        b = client.backfills.get(found)
        summary = backfills.backfill_progress(client, b)
        if as_json:
            echo_json({**backfill_to_dict(b), "progress": summary})
            return
        click.echo(f"Backfill {b.id} of {b.dag_id}: {when(b.from_date)} … {when(b.to_date)}, "
                   f"{'completed ' + when(b.completed_at) if b.completed_at else ('paused' if b.is_paused else 'active')}"
                   f"; {summary}")
        return
    progress = backfills.plan_progress(client, store, found)
    if as_json:
        echo_json(progress)
    else:
        click.echo(f"Plan {found.plan_id}\n" + render_progress(progress))


def _confirm_cancel(preview: backfills.CancelPreview, yes: bool, as_json: bool) -> None:
    if preview.warning:
        click.echo(f"! {preview.warning}", err=True)
    if preview.were_successful and not yes:
        if not sys.stdin.isatty():
            raise BadInput("refusing to cancel without confirmation: partitions that had succeeded would be left "
                           "failed and there is no terminal to ask on; pass --yes")
        click.confirm("Cancel anyway?", abort=True, err=as_json)


@backfill.command("cancel")
@click.argument("target", metavar="PLAN_FILE | PLAN_ID | BACKFILL_ID")
@click.option("--yes", "-y", is_flag=True, help="Cancel even if partitions that had succeeded are left failed.")
@json_option(CANCEL_SHAPE)
@with_client
def cancel_command(client: AirflowClient, target: str, yes: bool, as_json: bool) -> None:
    """Cancel every Airflow backfill of a plan, or one backfill by id; says first which partitions it will fail."""
    store = StateStore()
    found = _target(client, store, target)
    preview = backfills.cancel_preview(client, store, found)
    _confirm_cancel(preview, yes, as_json)
    report = backfills.cancel(client, store, found)
    if as_json:
        echo_json(cancel_to_dict(None if isinstance(found, int) else found.plan_id, report, preview.warning))
        return
    what = f"backfill {found}" if isinstance(found, int) else f"plan {found.plan_id}"
    ids = ", ".join(str(b.id) for b in report.backfills) or "none yet"
    click.echo(f"cancel: {what}, backfill(s) {ids}\n{report.summary}")


def _act(action: str) -> Callable[..., None]:
    @click.argument("target", metavar="PLAN_FILE | PLAN_ID | BACKFILL_ID")
    @json_option(ACTION_SHAPE)
    @with_client
    def command(client: AirflowClient, target: str, as_json: bool) -> None:
        store = StateStore()
        found = _target(client, store, target)
        if isinstance(found, int):
            touched, plan_id = [backfills.act_on_backfill(client, found, action)], None
        else:
            touched, plan_id = backfills.act_on_plan(client, store, found, action), found.plan_id
        if as_json:
            echo_json(action_to_dict(action, plan_id, touched))
        elif plan_id is None:
            b = touched[0]
            click.echo(f"{action}: backfill {b.id} of {b.dag_id} (paused={b.is_paused})")
        else:
            click.echo(f"{action}: plan {plan_id}, backfill(s) {', '.join(str(b.id) for b in touched) or 'none yet'}")

    command.__doc__ = f"{action.capitalize()} every Airflow backfill of a plan, or one backfill by id."
    return command


for _name in ("pause", "resume"):
    backfill.command(_name)(_act(_name))
