"""Regenerate the README's screenshots, ``docs/images/tui.svg`` and ``docs/images/afkit-page.png``, from a real Airflow.

It boots Airflow 3.3 with ``toolkit.devserver.launcher`` as ``afkit demo`` does (the example DAGs in ``dags/``, SQLite,
a free loopback port, a temporary AIRFLOW_HOME) and sets it up with the demo's own steps (``toolkit.devserver.demo``:
pools, Variable, unpaused DAGs, the seed backfills, the partner's last good FX drop). When the seed history is complete
and ``partner.fx_rates`` has gone late (3 minutes after that drop), it starts one more real backfill (four weeks of
``daily_revenue``) so that there is an active backfill to show, and once a few of its runs are done it writes:

- ``tui.svg``: the main screen of ``afkit tui`` (the DAGs pane) at 120x36, by Textual's ``export_screenshot``;
- ``afkit-page.png``: the afkit page inside Airflow's UI in light mode, 1280 px wide and 800 px tall or a little more
  to end below the pools table, by Debian's headless Chromium driven by Playwright, logged in with the browser test's
  helpers (``tests/integration/test_browser.py``).

It fails when a generated secret (a password, the JWT secret, the Fernet key) shows in the SVG or in the page's text,
and stops every process it started, also on Ctrl-C and on error (then it keeps Airflow's logs in a folder it names).
Takes about 5 minutes. Needs the dev virtualenv (``./dev setup``) and ``chromium``:
    .venv/bin/python docs/images/capture.py
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "docs" / "images"
sys.path.insert(0, str(REPO))  # the browser test's helpers: tests/ of this checkout

from toolkit.airflow import AirflowClient  # noqa: E402
from toolkit.config import ConnectionSettings  # noqa: E402
from toolkit.devserver import demo  # noqa: E402
from toolkit.devserver.launcher import AirflowSpec, RunningAirflow, StopSignals, start_airflow  # noqa: E402
from toolkit.errors import AirflowServerError  # noqa: E402
from toolkit.services.freshness import sla_board  # noqa: E402

TUI_SIZE = (120, 36)
PAGE_SIZE = {"width": 1280, "height": 800}
SHOWN_BACKFILL = ("daily_revenue", 31, 4)  # DAG, first and last day back from today


def wait_for(what: str, ready, running: RunningAirflow, timeout: float = 420, every: float = 5):
    """Poll ``ready`` until it returns something true, restarting (and reporting) any component that exited."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if found := ready():
                return found
        except AirflowServerError:  # a busy SQLite answering HTTP 503: ask again
            pass
        for restart in running.supervise():
            print(f"Airflow {restart}", flush=True)
        if time.monotonic() > deadline:
            raise RuntimeError(f"gave up waiting for {what} after {timeout:.0f}s")
        time.sleep(every)


def retried(call, attempts: int = 10):
    """SQLite answers a backfill's creation with HTTP 503 "database is locked" while runs write; nothing was made."""
    for attempt in range(attempts):
        try:
            return call()
        except AirflowServerError:
            if attempt == attempts - 1:
                raise
            time.sleep(3)


def set_up(client: AirflowClient, running: RunningAirflow) -> None:
    """The demo's history and late SLA, then an active backfill with a few runs done."""
    demo.configure(client)
    retried(lambda: demo.seed_history(client))  # it skips the DAGs that have their seed backfill already
    demo.last_good_drop(client)
    seeds = demo.SeedProgress(pending={b.id for b in demo.active_seed_backfills(client)}, started=time.monotonic())
    wait_for("the seed backfills", lambda: seeds.check(client) or seeds.done, running, timeout=600)
    wait_for(f"{demo.GOES_LATE} to go late", lambda: sla_board(client).count("late"), running)
    dag_id, first, last = SHOWN_BACKFILL
    today = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    made = retried(lambda: client.backfills.create(dag_id, today - timedelta(days=first),
                                                   today - timedelta(days=last), max_active_runs=2))
    wait_for(f"runs of backfill {made.id}", lambda: any(b["id"] == made.id and b["success"] >= 3
                                                        for b in client.plugins.backfills()), running, every=2)


async def tui_svg(settings: ConnectionSettings) -> str:
    from toolkit.tui.app import create_app

    app = create_app(settings, refresh_seconds=600)
    async with app.run_test(size=TUI_SIZE) as pilot:
        for _ in range(60):  # one refresh that read everything, the late SLA included
            await pilot.pause(2)
            snap = app.snapshot
            if snap.dags and snap.board and snap.board.count("late") and not snap.errors:
                break
            await pilot.press("r")
        else:
            raise RuntimeError(f"the TUI never showed a complete refresh: {app.snapshot.errors}")
        app.clear_notifications()  # toasts of an earlier, failed refresh (none is expected)
        await pilot.press("d")  # the focus in the DAG table, its cursor on the first row
        await pilot.pause(0.5)
        return app.export_screenshot(title="afkit tui")


def page_png(running: RunningAirflow) -> tuple[bytes, str]:
    """The screenshot and the text of Airflow's page and of the afkit page in it."""
    from playwright.sync_api import sync_playwright
    from tests.integration.test_browser import CHROMIUM, CHROMIUM_ARGS, afkit_frame, log_in

    if CHROMIUM is None:
        raise RuntimeError("chromium is not installed: apt-get install chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            context, page = log_in(browser, running, "light")
            page.set_viewport_size(PAGE_SIZE)
            frame = afkit_frame(page)
            # As tall as it takes to end below the pools (about 880 px), not with their table's head alone.
            top = page.locator("iframe[src*='/afkit/ui/']").bounding_box()["y"]
            bottom = frame.locator("#pools").evaluate("e => e.getBoundingClientRect().bottom")
            page.set_viewport_size({**PAGE_SIZE, "height": max(PAGE_SIZE["height"], round(top + bottom + 16))})
            for needed in ("#count-late", "#count-backfills"):
                if frame.locator(needed).inner_text() in ("0", "–"):
                    raise RuntimeError(f"the page shows {needed} = 0")
            if not frame.locator("#problem").is_hidden():
                raise RuntimeError(f"the page shows a problem: {frame.locator('#problem').inner_text()}")
            page.wait_for_timeout(500)
            png = page.screenshot()
            return png, page.locator("body").inner_text() + frame.locator("body").inner_text()
        finally:
            browser.close()


def main() -> int:
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="afkit-capture-") as tmp, StopSignals() as signals:
        home = Path(tmp) / "home"
        # The TUI reads afkit.toml and keeps state as afkit does: in the temporary home, not the user's.
        os.environ.update(AIRFLOW_HOME=str(home), AFKIT_STATE_URL=f"sqlite:///{tmp}/afkit-state.db")
        print(f"Booting Airflow in {home} …", flush=True)
        running = start_airflow(AirflowSpec(home=home, dags_folder=demo.repo_dags_folder(), database="sqlite"))
        try:
            user, password = running.admin
            settings = ConnectionSettings(url=running.url, username=user, password=password)
            print(f"Airflow is up at {running.url}; seeding and waiting for the late SLA …", flush=True)
            with AirflowClient(settings) as client:
                set_up(client, running)
            svg = asyncio.run(tui_svg(settings))
            png, page_text = page_png(running)
            state = json.loads((home / "afkit-launcher.json").read_text())
            hidden = [*state["passwords"].values(), state["jwt_secret"], state["secret_key"], state["fernet_key"]]
            for name, text in (("tui.svg", svg), ("the afkit page", page_text)):
                if any(secret in text for secret in hidden):
                    raise RuntimeError(f"a generated secret shows in {name}: nothing written")
            (OUT / "tui.svg").write_text(svg)
            (OUT / "afkit-page.png").write_bytes(png)  # about 120 KB: Pillow's optimize saves nothing
        except Exception:
            kept = Path(tempfile.mkdtemp(prefix="afkit-capture-logs-"))
            shutil.copytree(home / "logs", kept, dirs_exist_ok=True)
            print(f"Failed; Airflow's logs are kept in {kept}", file=sys.stderr)
            raise
        finally:
            signals.cleaning_up()
            print("Stopping Airflow …", flush=True)
            leftover = running.stop()
    for name in ("tui.svg", "afkit-page.png"):
        print(f"wrote {OUT / name} ({(OUT / name).stat().st_size / 1024:.0f} KB)")
    print(f"done in {time.monotonic() - started:.0f}s")
    if leftover:
        print(f"processes still running after the stop: {leftover}", file=sys.stderr)
    return 1 if leftover else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM: what it started is stopped already
        sys.exit("interrupted; Airflow is stopped")
