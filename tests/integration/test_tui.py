"""The terminal app driven by Textual's pilot against the suite's real Airflow: panes fill from the REST API, the
DAG filter narrows the list, help lists the keys, and a wrong password is shown in the CLI's words, not a traceback."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest
from textual.widgets import DataTable, Static, TabbedContent

from toolkit.tui.app import HelpScreen, create_app

from .conftest import admin_settings

pytestmark = pytest.mark.integration


def column(table: DataTable, index: int) -> list[str]:
    return [str(table.get_row_at(i)[index]) for i in range(table.row_count)]


async def until(pilot, predicate, timeout: float = 60) -> None:
    for _ in range(int(timeout / 0.2)):
        if predicate():
            return
        await pilot.pause(0.2)
    raise AssertionError("the app did not get there in time")


def test_panes_fill_filter_and_help(airflow):
    async def scenario() -> None:
        app = create_app(admin_settings(airflow), refresh_seconds=600)
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
        app = create_app(settings, refresh_seconds=600)
        async with app.run_test(size=(120, 40)) as pilot:
            await until(pilot, lambda: app.snapshot.errors)
            assert any("rejected" in e.lower() or "password" in e.lower() for e in app.snapshot.errors), \
                app.snapshot.errors
            assert "wrong" not in " ".join(app.snapshot.errors)
            notes = [n.message for n in app._notifications]
            assert any(e in notes for e in app.snapshot.errors)
            assert app.query_one("#dags-table", DataTable).row_count == 0

    asyncio.run(scenario())
