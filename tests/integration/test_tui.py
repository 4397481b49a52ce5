"""The terminal app driven by Textual's pilot against the suite's real Airflow: panes fill from the REST API, the
DAG filter narrows the list, help lists the keys, and a wrong password is shown in the CLI's words, not a traceback."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import Callable

import pytest
from textual.widgets import DataTable, Static, TabbedContent

from tests.tui_fixtures import keep_notifications, notifications
from toolkit.tui.app import HelpScreen, create_app

from .conftest import admin_settings

pytestmark = pytest.mark.integration


def column(table: DataTable, index: int) -> list[str]:
    return [str(table.get_row_at(i)[index]) for i in range(table.row_count)]


async def until(pilot, predicate, timeout: float = 60, what: str | Callable[[], str] = "the app to get there") -> None:
    """Bounded polling of the app; ``what`` (or what it returns, at the time of failing) names the condition."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if predicate():
            return
        await pilot.pause(0.2)
    raise AssertionError(f"waited {timeout:.0f}s for {what() if callable(what) else what}")


def test_panes_fill_filter_and_help(airflow, client):
    async def scenario() -> None:
        app = keep_notifications(create_app(admin_settings(airflow), refresh_seconds=600))
        async with app.run_test(size=(160, 45)) as pilot:
            dags = app.query_one("#dags-table", DataTable)
            await until(pilot, lambda: "daily_revenue" in column(dags, 0))
            assert "asset" in [str(c) for c in dags.get_row(dags.coordinate_to_cell_key((
                column(dags, 0).index("daily_finance_close"), 0)).row_key)]
            await pilot.press("slash", *"pulse", "enter")
            await until(pilot, lambda: column(dags, 0) and all("pulse" in d for d in column(dags, 0)))
            await pilot.press("f")
            await pilot.pause()
            assert app.query_one(TabbedContent).active == "freshness"
            freshness = app.query_one("#freshness-table", DataTable)
            await until(pilot, lambda: "test.stale" in column(freshness, 1))
            for _ in range(30):  # test.stale is late 2 s after its asset appears; "r" refreshes without waiting
                stale = column(freshness, 1).index("test.stale")
                if "late" in str(freshness.get_row_at(stale)[0]):
                    break
                await pilot.press("r")
                await pilot.pause(2)
            assert "late" in str(freshness.get_row_at(stale)[0]) and "#tests" in str(freshness.get_row_at(stale)[4])
            await pilot.press("p")
            await pilot.pause()
            assert app.query_one(TabbedContent).active == "pools"
            pools = app.query_one("#pools-table", DataTable)
            assert {"default_pool", "warehouse"} <= set(column(pools, 0))
            slots = {p.name: p.slots for p in client.pools.list()}
            for name, shown in zip(column(pools, 0), column(pools, 2)):  # each gauge's row states the pool's slots
                assert shown == str(slots[name])
            assert app.snapshot.dag_pools.get("afkit_bulk") == ["shared"]  # the DAG pane's pools, from its tasks
            await pilot.press("question_mark")
            await pilot.pause()
            assert isinstance(app.screen, HelpScreen)
            assert "Filter DAGs" in str(app.screen.query_one(Static).render())
            await pilot.press("escape")
            await pilot.pause()
            assert not isinstance(app.screen, HelpScreen)
            assert "refreshed" in str(app.query_one("#status-line", Static).render())

    asyncio.run(scenario())


def test_wrong_password_is_a_notification_with_the_cli_wording(airflow):
    async def scenario() -> None:
        settings = dataclasses.replace(admin_settings(airflow), password="wrong")
        app = keep_notifications(create_app(settings, refresh_seconds=600))
        async with app.run_test(size=(120, 40)) as pilot:
            await until(pilot, lambda: app.snapshot.errors)
            assert any("rejected" in e.lower() or "password" in e.lower() for e in app.snapshot.errors), \
                app.snapshot.errors
            assert "wrong" not in " ".join(app.snapshot.errors)
            assert any(e in notifications(app) for e in app.snapshot.errors), notifications(app)
            assert app.query_one("#dags-table", DataTable).row_count == 0

    asyncio.run(scenario())


def test_grid_select_plan_confirm_launch_pause_resume_and_follow_to_completion(airflow, client, monkeypatch,
                                                                             tmp_path):
    """Pick a DAG, load its partitions, select a range with shift+arrows, plan, confirm, launch; pause and resume from
    the keyboard; the progress reaches done and the grid shows the new runs' states from Airflow."""
    from toolkit.tui.backfill import BackfillScreen, ConfirmLaunch
    from toolkit.tui.grid import PartitionGrid

    monkeypatch.setenv("AFKIT_STATE_URL", f"sqlite:///{tmp_path / 'state.db'}")
    client.dags.set_paused("afkit_quick", False)

    async def scenario() -> None:
        app = keep_notifications(create_app(admin_settings(airflow), refresh_seconds=600))
        async with app.run_test(size=(160, 45)) as pilot:
            dags = app.query_one("#dags-table", DataTable)
            await until(pilot, lambda: "afkit_quick" in column(dags, 0))
            dags.focus()
            dags.move_cursor(row=column(dags, 0).index("afkit_quick"))
            await pilot.press("enter")
            await until(pilot, lambda: isinstance(app.screen, BackfillScreen))
            screen = app.screen
            grid = screen.query_one(PartitionGrid)
            screen.query_one("#from").value = "2026-10-01"
            screen.query_one("#to").value = "2026-10-12"
            screen.query_one("#to").focus()
            await pilot.press("enter")  # loads the partitions of the range from Airflow
            await until(pilot, lambda: len(grid.cells) == 12 or notifications(app))
            assert [c.key[:10] for c in grid.cells] == [f"2026-10-{d:02}" for d in range(1, 13)]
            assert {c.state for c in grid.cells} == {"missing"} and grid.has_focus
            for _ in range(7):  # the cursor starts on the newest partition (12th): back to the 5th …
                await pilot.press("left")
            for _ in range(5):  # … and select through the 10th
                await pilot.press("shift+right")
            assert "6 of 12 selected: 6 missing" in str(screen.query_one("#selection").render())
            await pilot.press("enter")
            await until(pilot, lambda: screen.plan is not None or notifications(app))
            assert screen.plan is not None, notifications(app)
            dag = screen.plan.dags[0]
            assert [p.label[:10] for p in dag.partitions] == [f"2026-10-{d:02}" for d in range(5, 11)]
            assert dag.run_count == 6 and len(dag.steps) == 1
            assert "afkit_quick" in str(screen.query_one("#plan-text").render())
            await pilot.press("l")
            await until(pilot, lambda: isinstance(app.screen, ConfirmLaunch))
            assert "Create 1 backfill(s) with 6 run(s)" in str(app.screen.query_one(Static).render())
            await pilot.press("y")
            await until(pilot, lambda: getattr(screen, "progress", None) and screen.progress[0].backfill_ids)
            (backfill_id,) = screen.progress[0].backfill_ids
            await pilot.press("space")
            await until(pilot, lambda: client.backfills.get(backfill_id).is_paused)
            await until(pilot, lambda: screen.paused)  # the progress shows it too
            await pilot.press("space")
            await until(pilot, lambda: not client.backfills.get(backfill_id).is_paused)
            await until(pilot, lambda: screen.progress[0].status == "completed", timeout=240)
            assert screen.progress[0].done == 6
            assert "6/6 done" in str(screen.query_one("#progress-text").render())
            await until(pilot, lambda: sum(c.state == "success" for c in grid.cells) == 6, timeout=30)
            states = {c.key[:10]: c.state for c in grid.cells}
            assert states["2026-10-04"] == states["2026-10-11"] == "missing" and states["2026-10-07"] == "success"

    asyncio.run(scenario())


def test_the_app_keeps_its_data_through_an_outage_and_reconnects(airflow):
    """The api-server goes away: the app says so in the CLI's words, keeps what it showed, and refreshes again by
    itself once Airflow is back."""

    async def scenario() -> None:
        app = keep_notifications(create_app(admin_settings(airflow), refresh_seconds=2))
        async with app.run_test(size=(160, 45)) as pilot:
            dags = app.query_one("#dags-table", DataTable)
            await until(pilot, lambda: "afkit_quick" in column(dags, 0), what="the first refresh")
            shown = column(dags, 0)
            airflow.stop_component("api-server")
            try:
                await until(pilot, lambda: app.snapshot.errors, timeout=60, what="a refresh to fail")
                assert any(e.startswith(f"cannot reach Airflow at {airflow.url}") for e in app.snapshot.errors)
                assert any("cannot reach Airflow" in n for n in notifications(app)), notifications(app)
                assert column(dags, 0) == shown  # the last good data stays on screen
                assert "last refresh failed" in str(app.query_one("#status-line", Static).render())
            finally:
                airflow.start_component("api-server")
                await asyncio.to_thread(airflow.wait_healthy, 120)
            await until(pilot, lambda: not app.snapshot.errors, timeout=60,
                        what=lambda: f"a refresh to succeed again (errors now: {app.snapshot.errors})")
            assert "last refresh failed" not in str(app.query_one("#status-line", Static).render())
            assert column(dags, 0) == shown

    asyncio.run(scenario())


def test_a_launch_from_the_terminal_app_is_governed_like_launch_follow(airflow, client, monkeypatch, tmp_path):
    """The same gated scenario as the CLI's governor test, launched from the backfill screen: the governor pauses the
    backfill while production waits and resumes it once production cleared, and the screen says so."""
    from toolkit.devserver import demo
    from toolkit.state import StateStore
    from toolkit.tui.backfill import BackfillScreen, ConfirmLaunch
    from toolkit.tui.grid import PartitionGrid

    from .conftest import raw_get, raw_send

    config = tmp_path / "afkit.toml"
    config.write_text("[pools.gated_tui]\nreserve = 1\n[governor]\npoll_seconds = 2\nresume_after_seconds = 6\n")
    monkeypatch.setenv("AFKIT_CONFIG", str(config))
    monkeypatch.setenv("AFKIT_STATE_URL", f"sqlite:///{tmp_path / 'state.db'}")
    client.pools.ensure("gated_tui", 3, "the terminal-app governor test's own pool")
    demo.wait_for_dags(client, ("afkit_tui_gated_bulk", "afkit_tui_gated_prod"))
    for dag_id in ("afkit_tui_gated_bulk", "afkit_tui_gated_prod"):
        client.dags.set_paused(dag_id, False)
    gate = airflow.spec.home / "afkit-test-gates" / "tui"
    gate.parent.mkdir(exist_ok=True)

    def backfill_slots() -> int:
        tis = raw_get(airflow, "/api/v2/dags/afkit_tui_gated_bulk/dagRuns/~/taskInstances?state=running"
                               "&state=queued&limit=100")["task_instances"]
        return sum(t["pool_slots"] for t in tis if t["dag_run_id"].startswith("backfill__"))

    async def scenario() -> None:
        app = keep_notifications(create_app(admin_settings(airflow), refresh_seconds=600))
        async with app.run_test(size=(160, 45)) as pilot:
            screen = BackfillScreen(app.source, "afkit_tui_gated_bulk", start="2026-02-01", end="2026-02-04")
            app.push_screen(screen)
            await until(pilot, lambda: app.screen is screen and screen.query(PartitionGrid))
            grid = screen.query_one(PartitionGrid)
            await until(pilot, lambda: len(grid.cells) == 4 or notifications(app))
            assert len(grid.cells) == 4, notifications(app)
            await pilot.press("enter")
            await until(pilot, lambda: screen.plan is not None or notifications(app))
            assert screen.plan is not None and screen.plan.dags[0].concurrency == 2  # 3 slots, 1 reserved
            await pilot.press("l")
            await until(pilot, lambda: isinstance(app.screen, ConfirmLaunch))
            await pilot.press("y")
            await until(pilot, lambda: getattr(screen, "progress", None) and screen.progress[0].backfill_ids)
            (backfill_id,) = screen.progress[0].backfill_ids
            await until(pilot, lambda: backfill_slots() == 2, timeout=180)  # both runs hold their slot at the gate
            raw_send(airflow, "POST", "/api/v2/dags/afkit_tui_gated_prod/dagRuns", {"logical_date": None, "conf": {}})
            await until(pilot, lambda: client.backfills.get(backfill_id).is_paused, timeout=120)
            actions = StateStore().actions(backfill_id)
            assert actions and actions[0]["action"] == "pause"
            assert "production task(s) wait for pool 'gated_tui'" in actions[0]["reason"]
            await until(pilot, lambda: any(n.startswith(f"governor: pause backfill {backfill_id}") for n in screen.notes))
            gate.touch()
            await until(pilot, lambda: not client.backfills.get(backfill_id).is_paused, timeout=180)
            await until(pilot, lambda: screen.progress and screen.progress[0].status == "completed", timeout=240)
            assert any(n.startswith(f"governor: resume backfill {backfill_id}") for n in screen.notes)

    try:
        asyncio.run(scenario())
    finally:
        gate.parent.mkdir(exist_ok=True)
        gate.touch()
        client.dags.set_paused("afkit_tui_gated_prod", True)
