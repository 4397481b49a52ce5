"""``afkit demo``: boot the embedded demo Airflow in a project-local directory and keep it running.

The demo supervises its components: one that exits is reported in one line naming its log and started again (a few
times; then the demo stops with the component's log tail). SIGINT, SIGTERM and SIGHUP stop it, even when it was
started in the background with ``nohup … &`` (which leaves SIGINT ignored).

``--story postmortem`` plays the incident instead (``toolkit.devserver.story``): this command only starts it and
prints each of its beats.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from pathlib import Path

import click

from toolkit.cli.options import finite_float
from toolkit.config import ConnectionSettings, profiles_path, save_profile
from toolkit.core.humanize import format_duration
from toolkit.devserver.clock import MAX_SCALE, describe_scale
from toolkit.devserver.story import DEFAULT_BEFORE_EVENTS, DEFAULT_SCALE, MAX_BEFORE_EVENTS, MIN_BEFORE_EVENTS, STORIES
from toolkit.errors import AfkitError, AirflowServerError, BadInput


@click.command()
@click.option("--home", type=click.Path(file_okay=False, path_type=Path),
              help="AIRFLOW_HOME of the demo; reused when it exists (default .afkit-demo). A story starts afresh in "
                   "its own home (default .afkit-story), which it made and wipes the next time.")
@click.option("--port", type=int, default=28080, show_default=True, help="Loopback port of the api-server (UI).")
@click.option("--database", type=click.Choice(["sqlite", "postgres", "auto"]), default="sqlite", show_default=True,
              help="auto: PostgreSQL when initdb is on the PATH.")
@click.option("--dags", "dags_folder", type=click.Path(file_okay=False, exists=True, path_type=Path),
              help="DAGs folder (default: the example DAGs afkit ships).")
@click.option("--no-seed", is_flag=True, help="Do not create history with backfills.")
@click.option("--story", type=click.Choice(STORIES), help="Play an incident in compressed time instead: postmortem "
              "(stripe_ingest moves from every 30 to every 5 minutes; daily_finance_close falls behind).")
@click.option("--scale", type=click.FloatRange(1, MAX_SCALE), callback=finite_float,
              help=f"Story seconds per real second, 1 to {MAX_SCALE:g} "
                   f"(default {DEFAULT_SCALE:g}: 1 s = 1 min).")
@click.option("--before-events", type=click.IntRange(MIN_BEFORE_EVENTS, MAX_BEFORE_EVENTS),
              default=DEFAULT_BEFORE_EVENTS, show_default=True,
              help="stripe_ingest runs before the cadence changes (the detector's \"before\").")
@click.option("--exit-after-story", is_flag=True, help="Stop Airflow when the story is over (scripts, tests).")
@click.option("--executor", type=click.Choice(["local", "celery"]), default="local", show_default=True,
              help="celery: a loopback redis-server and Celery workers (needs afkit[celery], redis-server and "
                   "--database postgres).")
@click.option("--schedulers", type=click.IntRange(1, 4), default=1, show_default=True,
              help="Schedulers to run; more than one (HA) needs --database postgres.")
@click.option("--celery-workers", type=click.IntRange(1, 8), default=2, show_default=True,
              help="Celery workers, with --executor celery.")
def demo(home: Path | None, port: int, database: str, dags_folder: Path | None, no_seed: bool, story: str | None,
         scale: float | None, before_events: int, exit_after_story: bool, executor: str, schedulers: int,
         celery_workers: int) -> None:
    """Boot Airflow 3 with the afkit plugin and the example DAGs; runs until Ctrl-C.

    Saves a profile named "demo" so that `afkit --profile demo status` works from another terminal.
    SIGTERM stops it too (also in the background). A component that exits is restarted and reported; a line says
    when the seed history is complete.

    With --story postmortem: the incident afkit exists for, on a fresh Airflow in about 7 minutes (profile "story").
    """
    try:
        from toolkit.devserver.launcher import AirflowSpec, LaunchError, StopSignals, port_in_use, start_airflow
    except ImportError as exc:  # pragma: no cover - depends on how afkit was installed
        raise BadInput(f"afkit demo needs Airflow: install afkit with its 'airflow' extra ({exc})") from None

    if story is None and (scale is not None or exit_after_story):
        raise BadInput("--scale and --exit-after-story only apply to a story: add --story postmortem")
    if story is not None and (dags_folder is not None or no_seed):
        raise BadInput("--dags and --no-seed do not apply to a story: it brings its own DAGs and history")
    if (executor == "celery" or schedulers > 1) and database != "postgres":
        what = "--executor celery" if executor == "celery" else f"--schedulers {schedulers}"
        raise BadInput(f"{what} needs PostgreSQL: add --database postgres")
    topology = {"executor": executor, "schedulers": schedulers, "celery_workers": celery_workers}
    home = home or Path(".afkit-story" if story else ".afkit-demo")
    dags_folder = dags_folder or _repo_dags()
    if dags_folder is None:
        raise BadInput("the example DAGs are missing from this installation of afkit; reinstall it, or pass --dags")
    if not 0 < port < 65536:
        raise BadInput(f"--port {port} is not a TCP port (1-65535)")
    if port_in_use(port):
        raise BadInput(f"port {port} is already in use (another demo?); stop it or pass --port")
    try:
        home.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BadInput(f"--home {home} cannot be used: {exc.strerror or exc}") from None
    if not os.access(home, os.W_OK | os.X_OK):
        raise BadInput(f"--home {home} is not writable")
    if story is not None:
        _play(story, home, port, database, scale or DEFAULT_SCALE, before_events, exit_after_story, topology)
        return
    click.echo(f"Starting Airflow in {home.resolve()} (database: {database}, {describe_topology(topology)}) …")
    started = time.monotonic()
    with StopSignals() as signals:  # a closed terminal (SIGHUP) stops the demo cleanly too
        try:
            running = start_airflow(AirflowSpec(home=home, dags_folder=dags_folder, port=port, database=database,
                                                **topology))
        except KeyboardInterrupt:
            _echo_err("Stopped before Airflow was healthy.")
            return
        except (OSError, subprocess.SubprocessError) as exc:  # e.g. a full disk, or `airflow db migrate` hanging
            raise AirflowServerError(f"could not start Airflow in {home}: {exc}") from None
        try:
            click.echo(f"Airflow is healthy after {time.monotonic() - started:.0f}s.")
            _serve(running, no_seed)
        except KeyboardInterrupt:
            pass
        except LaunchError as exc:  # a component that keeps exiting: one message, after the stop below
            raise AirflowServerError(f"{exc}\nThe demo stopped; every component's log is in "
                                     f"{running.spec.home / 'logs'}.") from None
        finally:
            # Stop first: the terminal (or a pipe such as `| tee`) may already be gone, and printing must not prevent it.
            signals.cleaning_up()
            _echo_err("Stopping Airflow …")
            leftover = running.stop()
            _echo_err(f"Warning: processes still running after stop: {leftover}" if leftover else "Stopped.")


def _serve(running, no_seed: bool) -> None:
    """Configure and seed the demo, then supervise it until a stop signal (KeyboardInterrupt) or a LaunchError."""
    from toolkit.devserver import demo as demo_lib
    from toolkit.airflow import AirflowClient

    user, password = running.admin
    try:
        save_profile(profiles_path(), "demo", {"url": running.url, "username": user, "password": password})
        saved = f"Profile 'demo' saved in {profiles_path()}; try:  afkit --profile demo status"
    except AfkitError as exc:  # the demo is still worth running: connect with the URL and password shown
        saved = f"No 'demo' profile ({exc}); try:  afkit --url {running.url} --username {user} status"
    # A short timeout: this client's questions run between supervision checks and must not hold them up.
    settings = ConnectionSettings(url=running.url, username=user, password=password, timeout=10)
    with AirflowClient(settings) as client:
        progress = None
        try:
            demo_lib.configure(client)
            if not no_seed:
                progress = _seed(client)
        except AfkitError as exc:  # Airflow keeps running: the person can look, or start the demo again to retry
            _echo_err(f"Warning: setting up the demo stopped: {exc}. Airflow keeps running; start the demo again "
                      "to finish the set-up.")
        click.echo(
            f"\n  Airflow UI   {running.url}\n  user         {user}\n  password     {password}\n"
            f"  viewer user  viewer / {running.passwords['viewer']}\n\n"
            f"  {saved}\n"
        )
        if progress is not None and not progress.done:
            click.echo(f"Seeding history: {len(progress.pending)} backfill(s) running; a line says when they are "
                       "complete. Press Ctrl-C to stop.")
        else:
            click.echo("The demo is ready. Press Ctrl-C to stop.")
        while True:
            for restart in running.supervise():
                _echo_err(f"Airflow {restart}")
            if progress is not None and progress.check(client):
                click.echo(f"Seeding finished after {format_duration(time.monotonic() - progress.started)}: the history "
                           "backfills are complete. The demo is ready.")
            time.sleep(1)


def _seed(client):
    """Create the seed backfills and the late SLA's last drop; returns what to watch until seeding is complete."""
    from toolkit.devserver import demo as demo_lib

    started = time.monotonic()
    created = demo_lib.seed_history(client)
    if created:
        click.echo("Seeding history: " + ", ".join(f"backfill {b.id} of {b.dag_id}" for b in created))
    try:
        dropped = demo_lib.last_good_drop(client)
        click.echo(f"{demo_lib.GOES_LATE}: last update {dropped:%H:%M:%S} UTC and its partner is down; "
                   "watch its SLA go at risk in 1 minute and late in 3:  afkit --profile demo sla status")
    except AfkitError as exc:  # the demo runs on without it: the SLA then goes late from no data at all
        _echo_err(f"Warning: could not record the last drop of {demo_lib.GOES_LATE} ({exc}); its SLA "
                  "goes late 3 minutes after the asset appeared instead.")
    pending = {b.id for b in demo_lib.active_seed_backfills(client)}
    return demo_lib.SeedProgress(pending=pending, started=started)


def describe_topology(topology: dict) -> str:
    """"LocalExecutor, 1 scheduler" / "CeleryExecutor with 2 workers, 2 schedulers"."""
    executor = ("CeleryExecutor with " f"{topology['celery_workers']} workers" if topology["executor"] == "celery"
                else "LocalExecutor")
    return f"{executor}, {topology['schedulers']} scheduler{'s' if topology['schedulers'] > 1 else ''}"


def _play(story: str, home: Path, port: int, database: str, scale: float, before_events: int,
          exit_after_story: bool, topology: dict) -> None:
    """Boot the story's Airflow with its inbox and watcher, print each beat of the story, then keep serving."""
    from toolkit.airflow import AirflowClient
    from toolkit.devserver import story as story_lib
    from toolkit.devserver.launcher import AirflowSpec, LaunchError, StopSignals, start_airflow
    from toolkit.devserver.slack_inbox import running_inbox

    dags = story_lib.prepare_home(home)
    record = home.resolve() / "slack-inbox.jsonl"
    started = time.monotonic()
    click.echo(f"The {story} story, in {home.resolve()} (database: {database}, clock: {describe_scale(scale)}) …")
    with StopSignals() as signals, running_inbox(record_to=record) as inbox:
        try:
            running = start_airflow(AirflowSpec(home=home, dags_folder=dags, port=port, database=database,
                                                extra_env=story_lib.story_env(scale, record), **topology))
        except KeyboardInterrupt:
            _echo_err("Stopped before Airflow was healthy.")
            return
        except (OSError, subprocess.SubprocessError) as exc:
            raise AirflowServerError(f"could not start Airflow in {home}: {exc}") from None
        user, password = running.admin
        watcher = story_lib.StoryWatcher(home.resolve(), running.url, user, password, inbox)
        try:
            click.echo(f"Airflow is healthy after {time.monotonic() - started:.0f}s: {running.url} "
                       f"(user {user}, password {password}); Slack inbox on {inbox.base_url} (loopback only)")
            profile = _save_profile("story", running)
            settings = ConnectionSettings(url=running.url, username=user, password=password, timeout=10)
            with AirflowClient(settings) as client:
                tale = story_lib.Story(client, inbox, watcher, scale=scale, before_events=before_events,
                                       ui_url=running.url, profile=profile or "story",
                                       tick=lambda: [f"Airflow {r}" for r in running.supervise()])
                for beat in tale.play():
                    _show_beat(beat)
            click.echo(f"\nThe story is over after {format_duration(time.monotonic() - started)} from the start "
                       "of this command.")
            if exit_after_story:
                return
            click.echo("Airflow, the watcher and the inbox keep running: look around. Press Ctrl-C to stop.")
            while True:
                for restart in running.supervise():
                    _echo_err(f"Airflow {restart}")
                note = watcher.supervise()
                if note:
                    _echo_err(note)
                time.sleep(1)
        except KeyboardInterrupt:
            pass
        except LaunchError as exc:
            raise AirflowServerError(f"{exc}\nThe demo stopped; every component's log is in "
                                     f"{running.spec.home / 'logs'}.") from None
        finally:
            signals.cleaning_up()
            _echo_err("Stopping the watcher and Airflow …")
            watcher.stop()
            leftover = running.stop()
            _echo_err(f"Warning: processes still running after stop: {leftover}" if leftover else "Stopped.")


def _show_beat(beat) -> None:
    if beat.kind == "step":
        click.echo(f"\n▶ {beat.text}")
        for where in beat.look:
            click.echo(f"    look: {where}")
    elif beat.kind == "message":
        lines = beat.text.splitlines()
        click.echo(f"  ✉ Slack inbox: {lines[0]}")
        for line in lines[1:]:
            click.echo(f"      {line}")
    elif beat.kind == "note":
        _echo_err(f"  note: {beat.text}")
    else:
        click.echo(f"  · {beat.text}")


def _save_profile(name: str, running) -> str | None:
    """Save a profile for the running Airflow; its name, or None (said why) when it could not be saved."""
    user, password = running.admin
    try:
        save_profile(profiles_path(), name, {"url": running.url, "username": user, "password": password})
    except AfkitError as exc:
        _echo_err(f"No {name!r} profile ({exc}); use  afkit --url {running.url} --username {user}")
        return None
    click.echo(f"Profile {name!r} saved in {profiles_path()}.")
    return name


def _repo_dags() -> Path | None:
    from toolkit.devserver import demo as demo_lib

    return demo_lib.repo_dags_folder()


def _echo_err(message: str) -> None:
    with contextlib.suppress(OSError):  # the terminal or pipe may be gone already
        click.echo(message, err=True)
