"""``afkit demo``: boot the embedded demo Airflow in a project-local directory and keep it running.

The demo supervises its components: one that exits is reported in one line naming its log and started again (a few
times; then the demo stops with the component's log tail). SIGINT, SIGTERM and SIGHUP stop it, even when it was
started in the background with ``nohup … &`` (which leaves SIGINT ignored).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from pathlib import Path

import click

from toolkit.config import ConnectionSettings, profiles_path, save_profile
from toolkit.errors import AfkitError, AirflowServerError, BadInput
from toolkit.core.humanize import format_duration


@click.command()
@click.option("--home", type=click.Path(file_okay=False, path_type=Path), default=Path(".afkit-demo"), show_default=True,
              help="AIRFLOW_HOME of the demo; reused when it exists.")
@click.option("--port", type=int, default=28080, show_default=True, help="Loopback port of the api-server (UI).")
@click.option("--database", type=click.Choice(["sqlite", "postgres", "auto"]), default="sqlite", show_default=True,
              help="auto: PostgreSQL when initdb is on the PATH.")
@click.option("--dags", "dags_folder", type=click.Path(file_okay=False, exists=True, path_type=Path),
              help="DAGs folder (default: the repository's dags/).")
@click.option("--no-seed", is_flag=True, help="Do not create history with backfills.")
def demo(home: Path, port: int, database: str, dags_folder: Path | None, no_seed: bool) -> None:
    """Boot Airflow 3 with the afkit plugin and the example DAGs; runs until Ctrl-C.

    Saves a profile named "demo" so that `afkit --profile demo status` works from another terminal.
    SIGTERM stops it too (also in the background). A component that exits is restarted and reported; a line says
    when the seed history is complete.
    """
    try:
        from toolkit.devserver.launcher import AirflowSpec, LaunchError, StopSignals, port_in_use, start_airflow
    except ImportError as exc:  # pragma: no cover - depends on how afkit was installed
        raise BadInput(f"afkit demo needs Airflow: install afkit with its 'airflow' extra ({exc})") from None

    dags_folder = dags_folder or _repo_dags()
    if dags_folder is None:
        raise BadInput("no DAGs folder: run afkit demo from a clone of the afkit repository, or pass --dags")
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
    click.echo(f"Starting Airflow in {home.resolve()} (database: {database}) …")
    started = time.monotonic()
    with StopSignals() as signals:  # a closed terminal (SIGHUP) stops the demo cleanly too
        try:
            running = start_airflow(AirflowSpec(home=home, dags_folder=dags_folder, port=port, database=database))
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


def _repo_dags() -> Path | None:
    from toolkit.devserver import demo as demo_lib

    return demo_lib.repo_dags_folder()


def _echo_err(message: str) -> None:
    with contextlib.suppress(OSError):  # the terminal or pipe may be gone already
        click.echo(message, err=True)
