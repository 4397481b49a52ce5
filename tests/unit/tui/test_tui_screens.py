"""The terminal app's screens with fixed data: snapshots (fixed terminal size) and keyboard behaviour.

The data comes from ``tests/tui_fixtures.FixedSource`` (no network, no clock). What the app does against a real
Airflow is tested in ``tests/integration/test_tui.py``. Update the pictures after an intended change with
``./dev test tests/unit/tui/test_tui_screens.py --snapshot-update`` and look at them (``snapshot_report.html``).
"""

from __future__ import annotations

import asyncio
import functools
import json
import threading
import time

import pytest
from textual.widgets import Footer, Static, TabbedContent
from textual.widgets._footer import FooterKey

from tests.tui_fixtures import FIVE_MINUTE_DAG, NOW, FixedSource, demo_inbox, keep_notifications, notifications
from toolkit.models import Dag
from toolkit.files import load_plan
from toolkit.tui import app as app_module
from toolkit.tui.app import AfkitApp, HelpScreen, trigger_kind
from toolkit.tui.backfill import BackfillScreen, ConfirmCancel, ConfirmLaunch
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
    return keep_notifications(AfkitApp(FixedSource(days), refresh_seconds=3600))


async def first_refresh(pilot) -> None:
    """Wait for the app's first read of its source to be shown: a key pressed or a screen taken before it races the
    refresh worker (the inbox key, for one, is refused until the app knows it is the demo)."""
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def open_backfill(start: str = "-120d", dag_id: str = "daily_revenue", keys: tuple[str, ...] = ()):
    async def run_before(pilot) -> None:
        await pilot.pause()
        pilot.app.push_screen(BackfillScreen(pilot.app.source, dag_id, start=start, now=NOW))
        await pilot.pause()
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        if keys:
            await pilot.press(*keys)
            await pilot.app.workers.wait_for_complete()
            await pilot.pause()

    return run_before


# -- snapshots -----------------------------------------------------------------------------------------------------


def test_snapshot_dag_list(snap_compare):
    assert snap_compare(app_with(), run_before=first_refresh, terminal_size=SIZE)


@pytest.mark.parametrize("key", ["f", "c", "p"])
def test_snapshot_freshness_cadence_and_pools_panes(snap_compare, key):
    assert snap_compare(app_with(), press=[key], run_before=first_refresh, terminal_size=SIZE)


def test_snapshot_demo_inbox_pane(snap_compare):
    """In the demo the plugin serves the Slack inbox: its pane shows the threads, replies indented, owners named."""
    app = app_with()
    app.source.inbox = demo_inbox()
    assert snap_compare(app, press=["i"], run_before=first_refresh, terminal_size=SIZE)


def test_the_inbox_key_before_the_first_refresh_says_it_is_still_reading():
    async def scenario():
        app = app_with()
        app.source.inbox = demo_inbox()
        held = threading.Event()
        answer = app.source.snapshot
        app.source.snapshot = lambda: (held.wait(timeout=60), answer())[1]
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("i")
            await pilot.pause()
            assert app.query_one(TabbedContent).active == "dags"
            assert any("Still reading Airflow" in n for n in notifications(app))
            held.set()
            await pilot.app.workers.wait_for_complete()
            await pilot.pause()
            await pilot.press("i")
            await pilot.pause()
            assert app.query_one(TabbedContent).active == "inbox"

    asyncio.run(scenario())


def test_the_inbox_pane_is_hidden_outside_the_demo():
    async def scenario():
        app = app_with()
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            await pilot.press("i")
            await pilot.pause()
            assert app.query_one(TabbedContent).active == "dags"
            assert any("only in afkit demo" in n for n in notifications(app))

    asyncio.run(scenario())


def test_snapshot_help(snap_compare):
    assert snap_compare(app_with(), press=["question_mark"], run_before=first_refresh, terminal_size=SIZE)


def test_snapshot_partition_grid_with_a_range_selected_and_its_plan(snap_compare):
    assert snap_compare(app_with(), press=["shift+left", "shift+left", "shift+up", "enter", "_"],
                        run_before=open_backfill(), terminal_size=SIZE)


def test_snapshot_launch_confirmation(snap_compare):
    assert snap_compare(app_with(), press=["f", "enter", "_", "l"], run_before=open_backfill(), terminal_size=SIZE)


def test_snapshot_ten_year_grid_scrolled_to_the_selection(snap_compare):
    assert snap_compare(app_with(3650), press=["f"], run_before=open_backfill("-3660d"), terminal_size=SIZE)


WIDE = (160, 42)  # the width issue 13 found the footer cut at


def test_snapshot_backfill_screen_at_160_columns_every_footer_key_fits(snap_compare):
    assert snap_compare(app_with(), run_before=open_backfill(), terminal_size=WIDE)


def test_snapshot_five_minute_dag_one_row_per_hour_labelled_with_the_hour(snap_compare):
    """Issue 13: a 5-minute DAG's rows were labelled ``2026-11-01T1`` (cut): now one row per hour, minute columns."""
    assert snap_compare(app_with(), press=["shift+up"], run_before=open_backfill("-2d", FIVE_MINUTE_DAG),
                        terminal_size=WIDE)


def test_snapshot_loading_indicator_while_the_partitions_load(snap_compare):
    app = app_with()
    app.animation_level = "none"  # the indicator's dots move; without animation it is a still "Loading..."
    app.source.hold_partitions = threading.Event()  # released when the app closes

    async def run_before(pilot) -> None:
        await pilot.pause()
        app.push_screen(BackfillScreen(app.source, "daily_revenue", start="-120d", now=NOW))
        await pilot.pause()
        await wait_for(lambda: app.source.reading_partitions.is_set() and app.screen.query_one(PartitionGrid).loading,
                       pilot)

    assert snap_compare(app, run_before=run_before, terminal_size=SIZE)


def test_snapshot_after_tab_the_grid_says_it_has_not_the_focus(snap_compare):
    assert snap_compare(app_with(), press=["tab"], run_before=open_backfill(), terminal_size=SIZE)


# -- keyboard behaviour ----------------------------------------------------------------------------------------------


async def wait_for(condition, pilot, timeout: float = 10.0) -> None:
    """Bounded polling: the condition must hold within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await pilot.pause(0.02)


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
        messages = notifications(app)
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
        await settle(app, pilot)
        assert app.source.actions[-1] == "cancel"


@sync
async def test_cancel_that_would_fail_queued_runs_asks_first():
    app = app_with()
    app.source.warning = "cancelling marks 2 queued run(s) failed: 2026-09-01, 2026-09-02"
    async with app.run_test(size=SIZE) as pilot:
        screen = await _backfill_screen(app, pilot)
        await pilot.press("f", "enter")
        await settle(app, pilot)
        await pilot.press("l", "y")
        await settle(app, pilot)
        await pilot.press("x")
        await settle(app, pilot)
        assert isinstance(app.screen, ConfirmCancel)
        assert "Cancelling marks 2 queued run(s) failed: 2026-09-01" in str(app.screen.query_one(Static).render())
        await pilot.press("n")
        await settle(app, pilot)
        assert app.screen is screen and "cancel" not in app.source.actions
        await pilot.press("x")
        await settle(app, pilot)
        await pilot.press("y")
        await settle(app, pilot)
        await settle(app, pilot)
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
        messages = notifications(app)
        assert any("2026-11-01T06:00" in m and "zone" in m for m in messages), messages
        assert grid.cells == before and screen.plan is None


def footer_keys_outside(app: AfkitApp) -> list[str]:
    """Footer entries not wholly on screen (cut or scrolled away)."""
    width = app.size.width
    footer = app.screen.query_one(Footer)
    return [f"{key.key} {key.description}" for key in footer.query(FooterKey)
            if key.region.right > width or key.region.width == 0]


@pytest.mark.parametrize("size", [WIDE, SIZE], ids=["160", "140"])
@sync
async def test_every_footer_entry_fits_on_both_screens_before_and_after_a_launch(size):
    app = app_with()
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        assert footer_keys_outside(app) == []
        screen = await _backfill_screen(app, pilot)
        shown = [key.description for key in screen.query_one(Footer).query(FooterKey)]
        assert {"Plan", "Launch", "Pause/resume", "Back", "Help"} <= set(shown), shown
        assert footer_keys_outside(app) == []
        await pilot.press("f", "enter")
        await settle(app, pilot)
        await pilot.press("l", "y")
        await settle(app, pilot)
        assert screen.launched and footer_keys_outside(app) == []
        await pilot.press("tab")  # another widget's keys in the footer
        await pilot.pause()
        assert footer_keys_outside(app) == []


@sync
async def test_the_grid_keys_are_listed_in_help_though_not_in_the_footer():
    app = app_with()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        text = str(app.screen.query_one("#help Static").render())
        for description in ("Toggle cell", "Select failed", "Select missing", "Select all", "Clear selection"):
            assert description in text


@sync
async def test_after_tab_the_grid_says_where_the_focus_is_and_shift_tab_brings_its_keys_back():
    app = app_with()
    async with app.run_test(size=SIZE) as pilot:
        screen = await _backfill_screen(app, pilot)
        grid = screen.query_one(PartitionGrid)
        assert grid.has_focus and "arrows move" in grid.border_title
        await pilot.press("tab")
        await pilot.pause()
        assert not grid.has_focus and "not focused" in grid.border_title
        assert app.focused is screen.query_one("#plan-pane")
        await pilot.press("shift+tab")
        await pilot.pause()
        assert grid.has_focus and "arrows move" in grid.border_title
        await pilot.press("f")
        assert grid.selection.chosen


@sync
async def test_the_loading_indicator_shows_while_partitions_load_and_goes_when_they_are_shown():
    app = app_with()
    app.source.hold_partitions = threading.Event()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        app.push_screen(BackfillScreen(app.source, "daily_revenue", start="-120d", now=NOW))
        await wait_for(lambda: app.source.reading_partitions.is_set(), pilot)
        screen = app.screen
        grid = screen.query_one(PartitionGrid)
        await wait_for(lambda: grid.loading, pilot)
        assert str(screen.query_one("#selection").render()).startswith("loading the partitions from -120d to now")
        app.source.hold_partitions.set()
        await settle(app, pilot)
        assert not grid.loading and len(grid.cells) == 119
        assert str(screen.query_one("#selection").render()).startswith("0 of 119 selected")
        app.source.reading_partitions.clear()
        screen.load_partitions()  # the same range again (the periodic re-read while following): no indicator
        await wait_for(lambda: app.source.reading_partitions.is_set(), pilot)
        assert not grid.loading
        await settle(app, pilot)


@sync
async def test_86400_five_minute_partitions_load_and_lay_out_one_row_per_hour():
    app = AfkitApp(FixedSource(five_minute_partitions=86_400), refresh_seconds=3600)
    async with app.run_test(size=WIDE) as pilot:
        screen = await _backfill_screen_of(app, pilot, FIVE_MINUTE_DAG, "-301d")
        grid = screen.query_one(PartitionGrid)
        assert len(grid.cells) == 86_400 and grid.grid.kind == "minutes" and grid.grid.columns == 12
        assert not grid.loading and grid.has_focus


async def _backfill_screen_of(app: AfkitApp, pilot, dag_id: str, start: str) -> BackfillScreen:
    await open_backfill(start, dag_id)(pilot)
    assert isinstance(app.screen, BackfillScreen)
    return app.screen


@pytest.mark.parametrize(("summary", "description", "backfillable", "kind"), [
    ("None", "Never, external triggers only", True, "manual"),  # schedule=None, as Airflow 3.3 reports it
    (None, None, True, "manual"),
    ("@daily", "At 00:00", True, "time"),
    ("*/5 * * * *", None, True, "time"),
    ("Asset", "Triggered by assets", False, "asset"),
])
def test_the_trigger_column_says_manual_for_schedule_none(summary, description, backfillable, kind):
    dag = Dag("d", False, timetable_summary=summary, timetable_description=description,
              is_backfillable=backfillable)
    assert trigger_kind(dag) == kind


def test_a_refresh_that_returns_while_the_app_quits_is_dropped():
    """Quitting while a refresh waits on Airflow: the read comes back after the app began to close its screens, and
    showing it then would query widgets that are gone (CI saw ``NoMatches('#dags-table')`` fail the app's exit)."""
    handled = threading.Event()

    class HoldsTheExit(Static):
        """Keeps the app's shutdown inside its screen teardown until the late read was handed to the loop."""

        async def on_unmount(self) -> None:
            await asyncio.to_thread(handled.wait, 30)

    async def scenario():
        app = app_with()
        answer = app.source.snapshot
        shown = []
        real_show = app.show_snapshot
        app.show_snapshot = lambda snapshot: (shown.append(snapshot), real_show(snapshot))
        reads = iter(["first"])

        def read_until_the_app_quits():
            if next(reads, None):
                return answer()
            deadline = time.monotonic() + 30
            while app.is_running and time.monotonic() < deadline:  # the second read returns once the app closes
                time.sleep(0.01)
            return answer()

        app.source.snapshot = read_until_the_app_quits
        real_to_ui = app_module.to_ui

        def to_ui_then_release(*args, **kwargs):
            try:
                return real_to_ui(*args, **kwargs)
            finally:
                handled.set()

        app_module.to_ui = to_ui_then_release
        try:
            async with app.run_test(size=SIZE) as pilot:
                await first_refresh(pilot)
                assert len(shown) == 1
                handled.clear()
                await app.mount(HoldsTheExit())
                app.action_refresh()
                await pilot.pause()
        finally:
            app_module.to_ui = real_to_ui
        assert handled.is_set()
        assert len(shown) == 1  # the late read was not shown, and the app's exit raised nothing

    asyncio.run(scenario())


def test_partitions_read_after_the_user_left_the_backfill_screen_are_dropped(monkeypatch):
    """Escape while Airflow's dry run is still being read: the answer arrives for a screen that is gone and is neither
    shown nor an error."""
    from toolkit.tui import backfill as backfill_module

    left, handed_over = threading.Event(), threading.Event()
    shown, errors = [], []

    def show(*args):
        shown.append(args)

    real_to_ui = backfill_module.to_ui

    def to_ui_noting_the_last_step(node, callback, *args, **kwargs):
        try:
            return real_to_ui(node, callback, *args, **kwargs)
        except Exception as exc:  # the screen's worker is cancelled by now: nothing else would see it
            errors.append(exc)
            raise
        finally:
            if callback is show:
                handed_over.set()

    monkeypatch.setattr(backfill_module, "to_ui", to_ui_noting_the_last_step)

    async def scenario():
        app = app_with()
        real_partitions = app.source.partitions
        app.source.partitions = lambda *args: (left.wait(timeout=30), real_partitions(*args))[1]
        async with app.run_test(size=SIZE) as pilot:
            await first_refresh(pilot)
            screen = BackfillScreen(app.source, "daily_revenue", start="-120d", now=NOW)
            screen._show_partitions = show
            app.push_screen(screen)
            await pilot.pause()
            await pilot.press("escape")
            await pilot.pause()
            assert not screen.is_attached
            left.set()
            assert await asyncio.to_thread(handed_over.wait, 30)
            await pilot.pause()
            assert shown == [] and errors == [] and app.screen is app.screen_stack[0]

    asyncio.run(scenario())
