"""``afkit demo``: boot the embedded demo Airflow in a project-local directory and keep it running."""

from __future__ import annotations

import contextlib
import signal
import time
from pathlib import Path

import click

from toolkit.config import ConnectionSettings, profiles_path, save_profile
from toolkit.errors import AfkitError, BadInput


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
    """
    try:
        from toolkit.launcher import AirflowSpec, LaunchError, port_in_use, start_airflow
    except ImportError as exc:  # pragma: no cover - depends on how afkit was installed
        raise BadInput(f"afkit demo needs Airflow: install afkit with its 'airflow' extra ({exc})") from None
    from toolkit import demo as demo_lib
    from toolkit.airflow import AirflowClient

    dags_folder = dags_folder or demo_lib.repo_dags_folder()
    if dags_folder is None:
        raise BadInput("no DAGs folder: run afkit demo from a clone of the afkit repository, or pass --dags")
    if port_in_use(port):
        raise BadInput(f"port {port} is already in use (another demo?); stop it or pass --port")
    click.echo(f"Starting Airflow in {home.resolve()} (database: {database}) …")
    started = time.monotonic()
    stop = {"now": False}
    for signum in (signal.SIGTERM, signal.SIGHUP):  # a closed terminal stops the demo cleanly too
        signal.signal(signum, lambda *_: stop.update(now=True))
    try:
        running = start_airflow(AirflowSpec(home=home, dags_folder=dags_folder, port=port, database=database))
    except LaunchError as exc:
        raise AfkitError(str(exc)) from None
    try:
        user, password = running.admin
        click.echo(f"Airflow is healthy after {time.monotonic() - started:.0f}s.")
        save_profile(profiles_path(), "demo", {"url": running.url, "username": user, "password": password})
        settings = ConnectionSettings(url=running.url, username=user, password=password)
        with AirflowClient(settings) as client:
            demo_lib.configure(client)
            if not no_seed:
                created = demo_lib.seed_history(client)
                if created:
                    click.echo("Seeding history: " + ", ".join(f"backfill {b.id} of {b.dag_id}" for b in created))
                try:
                    dropped = demo_lib.last_good_drop(client)
                    click.echo(f"{demo_lib.GOES_LATE}: last update {dropped:%H:%M:%S} UTC and its partner is down; "
                               "watch its SLA go at risk in 1 minute and late in 3:  afkit --profile demo sla status")
                except AfkitError as exc:  # the demo runs on without it: the SLA then goes late from no data at all
                    click.echo(f"Warning: could not record the last drop of {demo_lib.GOES_LATE} ({exc}); its SLA "
                               "goes late 3 minutes after the asset appeared instead.", err=True)
        click.echo(
            f"\n  Airflow UI   {running.url}\n  user         {user}\n  password     {password}\n"
            f"  viewer user  viewer / {running.passwords['viewer']}\n\n"
            f"  Profile 'demo' saved in {profiles_path()}; try:  afkit --profile demo status\n\n"
            "Press Ctrl-C to stop."
        )
        while not stop["now"]:
            running.check_alive()
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        # Stop first: the terminal (or a pipe such as `| tee`) may already be gone, and printing must not prevent it.
        with contextlib.suppress(OSError):
            click.echo("Stopping Airflow …", err=True)
        leftover = running.stop()
        with contextlib.suppress(OSError):
            click.echo(f"Warning: processes still running after stop: {leftover}" if leftover else "Stopped.", err=True)
