"""``afkit backfill``: plan, dry-run, launch, follow, pause, resume and cancel partition-scoped backfills."""

from __future__ import annotations

import json
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
from toolkit.cli.options import given_explicitly, json_option, output_path_callback, with_client
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
from toolkit.render import render_plan, render_progress, table, when
from toolkit.state import StateStore


# The flags of the plan options, for build_options' messages; and every parameter that shapes a plan, which a plan file
# already fixes (given with a plan file, each is refused by name, never silently ignored).
FLAGS = {"from_": "--from", "to": "--to", "partitions": "--partitions", "reserve": "--reserve",
         "backfill_cap": "--backfill-cap"}
PLANNING_PARAMETERS = ("from_", "to", "partitions", "downstream", "reprocess", "order", "max_active_runs", "reserve",
                       "backfill_cap")
DAG_ID = re.compile(r"^[A-Za-z0-9_.-]{1,250}$")  # Airflow's own rule for dag_id
MAX_BACKFILL_ID = 2**31 - 1


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
        click.option("--order", type=click.Choice(ORDERS), default="oldest", show_default=True),
        click.option("--max-active-runs", type=click.IntRange(min=1), default=DEFAULT_MAX_ACTIVE_RUNS,
                     show_default=True, help="Runs of one DAG at a time (pool budgets may lower it further)."),
        click.option("--reserve", multiple=True, metavar="POOL=N|N%",
                     help="Slots of POOL kept for production (overrides afkit.toml; repeatable)."),
        click.option("--backfill-cap", multiple=True, metavar="POOL=N",
                     help="At most N slots of POOL for the backfill (repeatable)."),
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
@json_option
@with_client
def plan_command(client: AirflowClient, dag_ids: tuple[str, ...], output: Path | None, as_json: bool,
                 **option_values: Any) -> None:
    """Plan a backfill of DAG_ID(s): partitions, actions, estimates, pool demand, downstream impact."""
    now = datetime.now(timezone.utc)
    plan = backfills.make_plan(client, _check_dag_ids(dag_ids), build_options(**option_values, now=now, names=FLAGS,
                                             configured=backfills.configured_policy()),
                               now)
    if output:
        try:
            save_plan(output, plan)
        except OSError as exc:  # checked before planning, but a disk can fill up or a directory vanish meanwhile
            raise BadInput(f"--output {output} cannot be written: {exc.strerror or exc}") from None
    click.echo(json.dumps(plan_to_dict(plan), indent=2) if as_json else render_plan(plan))
    if output and not as_json:
        click.echo(f"\nPlan written to {output}. Review it, then: afkit backfill launch {output}")


def _plan_from_arguments(client: AirflowClient, store: StateStore, args: tuple[str, ...], option_values: dict,
                         now: datetime) -> tuple[Plan, str | None]:
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
    return backfills.make_plan(client, dag_ids, options, now), key


@backfill.command("launch")
@click.argument("args", nargs=-1, required=True, metavar="PLAN_FILE | DAG_ID [DAG_ID…]")
@plan_options
@click.option("--dry-run", is_flag=True, help="Print every call and every run; create nothing.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.option("--follow", is_flag=True, help="Show live progress until the plan completes (Ctrl-C detaches).")
@click.option("--unpause", is_flag=True, help="Unpause paused DAGs of the plan so their runs can start.")
@click.option("--force", is_flag=True, help="Launch even where a pool budget leaves no room (one run at a time).")
@with_client
def launch_command(client: AirflowClient, args: tuple[str, ...], dry_run: bool, yes: bool, follow: bool,
                   unpause: bool, force: bool, **option_values: Any) -> None:
    """Create the plan's backfills in dependency order (resumable: run it again after any interruption)."""
    now = datetime.now(timezone.utc)
    store = StateStore()
    plan, key = _plan_from_arguments(client, store, args, option_values, now)
    if dry_run:
        plan, _, notes = backfills.prepare_launch(client, plan, force=force)  # the admission a launch would make
        for step in plan.steps:
            backfills.verify_step(client, plan, step)
        click.echo(render_plan(plan))
        for note in notes:
            click.echo(f"! {note}")
        click.echo("\nDry run — these calls would be made, in this order (nothing was created):")
        for call in backfills.launch_calls(plan, unpause):
            click.echo(f"  {call}")
        click.echo("\nRuns that would be created:")
        for dag in plan.dags:
            click.echo(f"  {dag.dag_id}: " + (", ".join(p.label for p in dag.partitions if p.runs) or "none"))
        return
    total_runs = sum(d.run_count for d in plan.dags)
    if not yes and store.plan(plan.plan_id) is None:
        click.echo(render_plan(plan))
        if not sys.stdin.isatty():
            raise BadInput("refusing to launch without confirmation: no terminal to ask on; pass --yes")
        click.confirm(f"\nCreate {len(plan.steps)} backfill(s) with {total_runs} run(s) on {plan.airflow_url}?",
                      abort=True)
    stop = {"now": False}
    previous = signal.signal(signal.SIGINT, lambda *_: stop.update(now=True))
    last = {"text": ""}

    def on_event(event: backfills.LaunchEvent) -> None:
        prefix = {"warning": "! ", "created": "+ ", "adopted": "~ ", "completed": "✓ "}.get(event.kind, "  ")
        click.echo(prefix + hinted(event.message, event.hint, HINTS))

    def on_progress(progress: list[backfills.DagProgress]) -> None:
        text = render_progress(progress)
        if text != last["text"]:
            click.echo(text + "\n")
            last["text"] = text

    try:
        report = backfills.launch_governed(
            client, store, plan, follow=follow, request=key, unpause=unpause, force=force, on_event=on_event,
            on_governor=lambda e: click.echo(f"governor: {e.describe()}"),
            on_progress=on_progress, should_stop=lambda: stop["now"])
    finally:
        signal.signal(signal.SIGINT, previous)
    if follow:
        click.echo(render_progress(backfills.plan_progress(client, store, plan)))
    if report.complete:
        click.echo(f"Plan {plan.plan_id} completed.")
    elif report.stopped_early:
        click.echo(f"Detached from plan {plan.plan_id}; its backfills keep running in Airflow. Run the same launch "
                   "again to continue creating steps and following them.")
    else:
        click.echo(f"Plan {plan.plan_id}: every backfill is created. Follow it with: afkit backfill status "
                   f"{args[0] if key is None else plan.plan_id}")


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
@json_option
@with_client
def status_command(client: AirflowClient, target: str | None, as_json: bool) -> None:
    """Progress of a plan or one backfill; without an argument, every active backfill and launched plan."""
    store = StateStore()
    if target is None:
        active = client.backfills.list_active()
        plans = [(p, backfills.plan_status(client, store, backfills.plan_from_journal(store, p.plan_id)))
                 for p in store.plans()]
        data = {
            "active_backfills": [{"id": b.id, "dag_id": b.dag_id, "is_paused": b.is_paused,
                                  "created_at": b.created_at.isoformat()} for b in active],
            "plans": [{"plan_id": p.plan_id, "status": status, "created_at": p.created_at.isoformat()}
                      for p, status in plans],
        }
        if as_json:
            click.echo(json.dumps(data, indent=2))
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
        data = {"id": b.id, "dag_id": b.dag_id, "from_date": b.from_date.isoformat(), "to_date": b.to_date.isoformat(),
                "is_paused": b.is_paused, "completed_at": b.completed_at.isoformat() if b.completed_at else None,
                "progress": backfills.backfill_progress(client, b)}
        click.echo(json.dumps(data, indent=2) if as_json else
                   f"Backfill {b.id} of {b.dag_id}: {when(b.from_date)} … {when(b.to_date)}, "
                   f"{'completed ' + when(b.completed_at) if b.completed_at else ('paused' if b.is_paused else 'active')}"
                   f"; {data['progress']}")
        return
    progress = backfills.plan_progress(client, store, found)
    if as_json:
        click.echo(json.dumps([p.__dict__ for p in progress], indent=2, default=list))
    else:
        click.echo(f"Plan {found.plan_id}\n" + render_progress(progress))


@backfill.command("cancel")
@click.argument("target", metavar="PLAN_FILE | PLAN_ID | BACKFILL_ID")
@click.option("--yes", "-y", is_flag=True, help="Cancel even if partitions that had succeeded are left failed.")
@with_client
def cancel_command(client: AirflowClient, target: str, yes: bool) -> None:
    """Cancel every Airflow backfill of a plan, or one backfill by id; says first which partitions it will fail."""
    store = StateStore()
    found = _target(client, store, target)
    preview = backfills.cancel_preview(client, store, found)
    if preview.warning:
        click.echo(f"! {preview.warning}", err=True)
    if preview.were_successful and not yes:
        if not sys.stdin.isatty():
            raise BadInput("refusing to cancel without confirmation: partitions that had succeeded would be left "
                           "failed and there is no terminal to ask on; pass --yes")
        click.confirm("Cancel anyway?", abort=True)
    report = backfills.cancel(client, store, found)
    what = f"backfill {found}" if isinstance(found, int) else f"plan {found.plan_id}"
    ids = ", ".join(str(b.id) for b in report.backfills) or "none yet"
    click.echo(f"cancel: {what}, backfill(s) {ids}\n{report.summary}")


def _act(action: str) -> Callable[..., None]:
    @click.argument("target", metavar="PLAN_FILE | PLAN_ID | BACKFILL_ID")
    @with_client
    def command(client: AirflowClient, target: str) -> None:
        store = StateStore()
        found = _target(client, store, target)
        if isinstance(found, int):
            b = backfills.act_on_backfill(client, found, action)
            click.echo(f"{action}: backfill {b.id} of {b.dag_id} (paused={b.is_paused})")
            return
        touched = backfills.act_on_plan(client, store, found, action)
        click.echo(f"{action}: plan {found.plan_id}, backfill(s) {', '.join(str(b.id) for b in touched) or 'none yet'}")

    command.__doc__ = f"{action.capitalize()} every Airflow backfill of a plan, or one backfill by id."
    return command


for _name in ("pause", "resume"):
    backfill.command(_name)(_act(_name))
