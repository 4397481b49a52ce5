"""The terminal app's screens with fixed data: snapshots (fixed terminal size) and keyboard behaviour.

The data comes from ``tests/tui_fixtures.FixedSource`` (no network, no clock). What the app does against a real
Airflow is tested in ``tests/integration/test_tui.py``. Update the pictures after an intended change with
``./dev test tests/unit/test_tui_screens.py --snapshot-update`` and look at them (``snapshot_report.html``).
"""

from __future__ import annotations

import asyncio
import functools
import json

import pytest

from tests.tui_fixtures import NOW, FixedSource
from toolkit.planfile import load_plan
from toolkit.tui.app import AfkitApp, HelpScreen
from toolkit.tui.backfill import BackfillScreen, ConfirmLaunch
from toolkit.tui.grid import PartitionGrid

SIZE = (140, 42)


def sync(test):
    """Runs an async pilot test in its own event loop (the suite has no async plugin)."""

    @functools.wraps(test)
    def run(*args, **kwargs):
        return asyncio.run(test(*args, **kwargs))

    return run


@pytest.fixture(autouse=True)
def _pool_policy(tmp_path, monkeypatch):
    """A fixed afkit.toml: the warehouse pool keeps 2 slots for production (shown by the plan and the gauges)."""
    config = tmp_path / "afkit.toml"
    config.write_text("[pools.warehouse]\nreserve = 2\n")
    monkeypatch.setenv("AFKIT_CONFIG", str(config))


def app_with(days: int = 120) -> AfkitApp:
    return AfkitApp(FixedSource(days), refresh_seconds=3600)


def open_backfill(start: str = "-120d"):
    async def run_before(pilot) -> None:
        await pilot.pause()
        pilot.app.push_screen(BackfillScreen(pilot.app.source, "daily_revenue", start=start, now=NOW))
        await pilot.pause()
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()

    return run_before


# -- snapshots -----------------------------------------------------------------------------------------------------


def test_snapshot_dag_list(snap_compare):
    assert snap_compare(app_with(), terminal_size=SIZE)


@pytest.mark.parametrize("key", ["f", "c", "p"])
def test_snapshot_freshness_cadence_and_pools_panes(snap_compare, key):
    assert snap_compare(app_with(), press=[key], terminal_size=SIZE)


def test_snapshot_help(snap_compare):
    assert snap_compare(app_with(), press=["question_mark"], terminal_size=SIZE)


def test_snapshot_partition_grid_with_a_range_selected_and_its_plan(snap_compare):
    assert snap_compare(app_with(), press=["shift+left", "shift+left", "shift+up", "enter", "_"],
                        run_before=open_backfill(), terminal_size=SIZE)


def test_snapshot_launch_confirmation(snap_compare):
    assert snap_compare(app_with(), press=["f", "enter", "_", "l"], run_before=open_backfill(), terminal_size=SIZE)


def test_snapshot_ten_year_grid_scrolled_to_the_selection(snap_compare):
    assert snap_compare(app_with(3650), press=["f"], run_before=open_backfill("-3660d"), terminal_size=SIZE)


# -- keyboard behaviour ----------------------------------------------------------------------------------------------


async def settle(app: AfkitApp, pilot) -> None:
    """Let the workers a key started finish and their results reach the screen."""
    await app.workers.wait_for_complete()
    await pilot.pause()


async def _backfill_screen(app: AfkitApp, pilot) -> BackfillScreen:
    await open_backfill()(pilot)
    screen = app.screen
    assert isinstance(screen, BackfillScreen)
    return screen


@sync
async def test_select_failed_switches_reprocess_and_the_plan_reruns_exactly_them(tmp_path):
    app = app_with()
    async with app.run_test(size=SIZE) as pilot:
        screen = await _backfill_screen(app, pilot)
        grid = screen.query_one(PartitionGrid)
        assert len(grid.cells) == 119 and grid.has_focus
        await pilot.press("f")
        failed = sorted(grid.cells[i].key for i in grid.selection.chosen)
        assert failed and all(grid.cells[i].state == "failed" for i in grid.selection.chosen)
        assert screen.reprocess == "failed"
        assert str(screen.query_one("#selection").render()).startswith(f"{len(failed)} of 119 selected")
        await pilot.press("enter")
        await settle(app, pilot)
        dag = screen.plan.dags[0]
        assert sorted(p.label for p in dag.partitions if p.action == "rerun") == failed
        assert dag.count("create") == 0 and screen.plan.options.reprocess == "failed"
        await pilot.press("o")  # a toggle re-plans with the new option
        await settle(app, pilot)
        assert screen.plan.options.order == "newest"


@sync
async def test_save_writes_a_plan_file_the_cli_can_launch(tmp_path):
    app = app_with()
    async with app.run_test(size=SIZE) as pilot:
        screen = await _backfill_screen(app, pilot)
        await pilot.press("m", "enter")
        await settle(app, pilot)
        await pilot.press("s")
        await pilot.pause()
        field = app.screen.query_one("#save-path")
        field.value = str(tmp_path / "plans")
        (tmp_path / "plans").mkdir()
        await pilot.press("enter")
        await settle(app, pilot)
        written = tmp_path / "plans" / f"afkit-plan-{screen.plan.plan_id}.json"
        assert app.source.saved == [written]
        assert load_plan(written).plan_id == screen.plan.plan_id
        assert "password" not in json.dumps(json.loads(written.read_text())).lower()


@sync
async def test_save_to_an_unwritable_place_says_so_and_keeps_the_plan(tmp_path):
    app = app_with()
    blocker = tmp_path / "file"
    blocker.write_text("x")
    async with app.run_test(size=SIZE) as pilot:
        screen = await _backfill_screen(app, pilot)
        await pilot.press("a", "enter")
        await settle(app, pilot)
        await pilot.press("s")
        await pilot.pause()
        app.screen.query_one("#save-path").value = str(blocker / "sub" / "plan.json")
        await pilot.press("enter")
        await settle(app, pilot)
        messages = [n.message for n in app._notifications]
        assert any(m.startswith(f"cannot write the plan file {blocker / 'sub' / 'plan.json'}") for m in messages)
        assert app.source.saved == [] and screen.plan is not None


@sync
async def test_launch_needs_confirmation_then_space_pauses_and_resumes():
    app = app_with()
    async with app.run_test(size=SIZE) as pilot:
        screen = await _backfill_screen(app, pilot)
        await pilot.press("l")  # nothing planned yet
        assert not isinstance(app.screen, ConfirmLaunch)
        await pilot.press("f", "enter")
        await settle(app, pilot)
        await pilot.press("l")
        assert isinstance(app.screen, ConfirmLaunch)
        await pilot.press("n")
        assert app.source.actions == [] and not screen.launched
        await pilot.press("l", "y")
        await settle(app, pilot)
        assert app.source.actions == [f"launch {screen.plan.plan_id}"]
        assert "failed" in str(screen.query_one("#progress-text").render())
        await pilot.press("space")
        await app.workers.wait_for_complete()
        assert app.source.actions[-1] == "pause"
        await pilot.press("space")
        await app.workers.wait_for_complete()
        assert app.source.actions[-1] == "resume"
        await pilot.press("x")
        await app.workers.wait_for_complete()
        assert app.source.actions[-1] == "cancel"


@sync
async def test_pane_keys_do_not_leak_from_the_backfill_screen_and_escape_goes_back():
    app = app_with()
    async with app.run_test(size=SIZE) as pilot:
        screen = await _backfill_screen(app, pilot)
        screen.query_one("#plan-pane").focus()
        await pilot.press("c")  # the Cadence pane key must not act on the main screen underneath
        assert app.screen is screen
        await pilot.press("escape")
        assert not isinstance(app.screen, BackfillScreen)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)


@sync
async def test_command_palette_lists_an_entry_for_every_action():
    app = app_with()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        main = [c.title for c in app.get_system_commands(app.screen)]
        for title in ("Refresh now", "Filter DAGs", "Show Freshness SLAs", "Show Pools", "Backfill daily_revenue",
                      "Help"):
            assert title in main
        screen = await _backfill_screen(app, pilot)
        titles = {c.title: c for c in app.get_system_commands(screen)}
        for title in ("Plan the selection", "Launch the plan", "Save the plan file", "Select failed partitions",
                      "Select missing partitions", "Cycle reprocess (none, failed, completed)",
                      "Toggle downstream DAGs", "Pause or resume the backfill", "Cancel the backfill"):
            assert title in titles
        titles["Select missing partitions"].callback()
        grid = screen.query_one(PartitionGrid)
        assert grid.selection.chosen and all(grid.cells[i].state == "missing" for i in grid.selection.chosen)


@sync
async def test_reloading_the_partitions_keeps_the_selection_and_the_cursor():
    app = app_with()
    async with app.run_test(size=SIZE) as pilot:
        screen = await _backfill_screen(app, pilot)
        grid = screen.query_one(PartitionGrid)
        await pilot.press("left", "left", "f")
        chosen = {grid.cells[i].key for i in grid.selection.chosen}
        cursor = grid.cells[grid.selection.cursor].key
        app.source.days = 150  # the range now holds 31 older partitions: every index moves
        screen.query_one("#from").value = "-150d"
        screen.load_partitions()
        await settle(app, pilot)
        assert len(grid.cells) == 149
        assert {grid.cells[i].key for i in grid.selection.chosen} == chosen
        assert grid.cells[grid.selection.cursor].key == cursor


@sync
async def test_a_bad_date_is_named_in_a_notification_and_the_grid_is_kept():
    app = app_with()
    async with app.run_test(size=SIZE) as pilot:
        screen = await _backfill_screen(app, pilot)
        grid = screen.query_one(PartitionGrid)
        before = list(grid.cells)
        screen.query_one("#from").value = "2026-11-01T06:00"  # no zone: refused, as --from refuses it
        screen.query_one("#from").focus()
        await pilot.press("enter")
        await settle(app, pilot)
        messages = [n.message for n in app._notifications]
        assert any("2026-11-01T06:00" in m and "zone" in m for m in messages), messages
        assert grid.cells == before and screen.plan is None
