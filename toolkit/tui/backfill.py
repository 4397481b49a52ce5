"""One DAG's partitions, a plan for the selected ones, its launch and live progress.

Every step goes through the app's :class:`~toolkit.tui.source.Source`, which calls the same functions as
``afkit backfill``: the partition states come from Airflow's own dry run, the plan from ``make_plan`` (verified against
the dry run), the launch from the journaled ``launch`` (so ``afkit backfill status/resume`` see it too). The screen
only renders and dispatches; network work runs in thread workers.
"""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, Footer, Header, Input, Label, Static

from toolkit.core import partition_grid as pg
from toolkit.errors import AfkitError
from toolkit.core.plan_options import build_options
from toolkit.core.planning import DEFAULT_MAX_ACTIVE_RUNS, ORDERS, REPROCESS_BEHAVIOURS, Plan
from toolkit.render import render_plan, render_progress
from toolkit.core.timeparse import parse_instant
from toolkit.tui.collector import calm_garbage_collector
from toolkit.tui.grid import PartitionGrid, legend
from toolkit.tui.hints import HINTS
from toolkit.tui.source import Source
from toolkit.tui.threads import OneRead, to_ui

DEFAULT_RANGE = ("-30d", "now")


class ConfirmLaunch(ModalScreen[bool]):
    """Restates what will be created before anything is."""

    DEFAULT_CSS = """
    ConfirmLaunch { align: center middle; }
    ConfirmLaunch #confirm { width: 80; height: auto; border: round $warning; padding: 1 2; background: $panel; }
    ConfirmLaunch Horizontal { height: auto; margin-top: 1; }
    """

    BINDINGS = [Binding("escape,n", "dismiss(False)", "No"), Binding("y", "dismiss(True)", "Yes, launch")]

    def __init__(self, plan: Plan) -> None:
        super().__init__()
        self.plan = plan

    def compose(self) -> ComposeResult:
        runs = sum(d.run_count for d in self.plan.dags)
        lines = [f"Create {len(self.plan.steps)} backfill(s) with {runs} run(s) on {self.plan.airflow_url}?", ""]
        lines += [f"  {d.dag_id}: {d.run_count} run(s), {d.concurrency} at a time" for d in self.plan.dags]
        lines += [f"  reprocess {self.plan.options.reprocess}, {self.plan.options.order} first"]
        with Vertical(id="confirm"):
            yield Static("\n".join(lines))
            with Horizontal():
                yield Button("Launch (y)", id="yes", variant="warning")
                yield Button("Cancel (n)", id="no")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")


class ConfirmCancel(ModalScreen[bool]):
    """Says which partitions a cancel will leave failed before anything is cancelled."""

    DEFAULT_CSS = """
    ConfirmCancel { align: center middle; }
    ConfirmCancel #confirm { width: 90; height: auto; border: round $error; padding: 1 2; background: $panel; }
    """

    BINDINGS = [Binding("escape,n", "dismiss(False)", "No"), Binding("y", "dismiss(True)", "Yes, cancel")]

    def __init__(self, warning: str) -> None:
        super().__init__()
        self.warning = warning

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm"):
            yield Static(f"Cancel the backfill?\n\n{self.warning[0].upper()}{self.warning[1:]}.\n\ny cancel · n keep it")


class SavePlan(ModalScreen[str | None]):
    """Asks where to write the plan file (a directory gets ``afkit-plan-<id>.json``)."""

    DEFAULT_CSS = """
    SavePlan { align: center middle; }
    SavePlan #save { width: 80; height: auto; border: round $accent; padding: 1 2; background: $panel; }
    """

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel")]

    def __init__(self, plan: Plan) -> None:
        super().__init__()
        self.plan = plan

    def compose(self) -> ComposeResult:
        with Vertical(id="save"):
            yield Static(f"Save plan {self.plan.plan_id} to (Enter to save, Escape to cancel):")
            yield Input(value=f"afkit-plan-{self.plan.plan_id}.json", id="save-path")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)


class BackfillScreen(Screen[None]):
    """Pick partitions on the grid, plan them, launch the plan, follow it."""

    CSS = """
    #range { height: 3; }
    #range Input { width: 24; }
    #range Label { padding: 1 1 0 1; }
    #options { height: 1; padding: 0 1; }
    #selection { height: 1; padding: 0 1; }
    #legend { height: 1; padding: 0 1; }
    #grid { height: auto; max-height: 50%; border: round $primary-background; }
    #grid:focus { border: round $accent; }
    #plan-pane { height: 1fr; border: round $primary-background; overflow-x: auto; }
    #plan-pane:focus { border: round $accent; }
    #plan-text, #progress-text { padding: 0 1; width: auto; }
    """
    BINDINGS = [
        Binding("f5,enter", "plan", "Plan"),
        Binding("e", "cycle_reprocess", "Reprocess"),
        Binding("o", "toggle_order", "Order"),
        Binding("w", "toggle_downstream", "Downstream"),
        Binding("s", "save", "Save plan"),
        Binding("l", "launch", "Launch"),
        Binding("space", "pause_or_resume", "Pause/resume"),
        Binding("x", "cancel_backfill", "Cancel backfill"),
        Binding("escape", "app.pop_screen", "Back"),
    ]

    def __init__(self, source: Source, dag_id: str, start: str = DEFAULT_RANGE[0], end: str = DEFAULT_RANGE[1],
                 now: datetime | None = None) -> None:
        super().__init__()
        self.source, self.dag_id = source, dag_id
        self._range = (start, end)
        self._now = now  # fixed in snapshot tests; the clock otherwise
        self.reprocess, self.order, self.downstream = "none", "oldest", False
        self.plan: Plan | None = None
        self.launched = False
        self.paused = False
        self.progress: list = []
        self.notes: list[str] = []  # what the launch said: warnings and the governor's pauses and resumes
        self._shown_range: tuple[str, str] | None = None  # the from/to the grid shows, as typed
        self._progress_reads = itertools.count(1)  # each progress read is numbered when it starts …
        self._progress_shown = 0  # … and one that started before the last one shown is dropped
        self._progress_ticks, self._partition_ticks = OneRead(), OneRead()  # a launch's timers, one read at a time

    def now(self) -> datetime:
        return self._now or datetime.now(timezone.utc)

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="range"):
            yield Label(f"{self.dag_id}  from")
            yield Input(value=self._range[0], id="from")
            yield Label("to")
            yield Input(value=self._range[1], id="to")
        yield Static("", id="options")
        yield Static("", id="selection")
        yield PartitionGrid(id="grid")
        with VerticalScroll(id="plan-pane"):
            yield Static("Select partitions (shift+arrows, f failed, m missing, a all), then Enter to plan.",
                         id="plan-text")
            yield Static("", id="progress-text")
        yield Static(legend(), id="legend")
        yield Footer(compact=True)  # every key fits at 140 columns (issue 13: cut at 160 before)

    def on_mount(self) -> None:
        self._show_options()
        self.load_partitions()

    # -- partitions ----------------------------------------------------------------------------------------------------

    def _to_ui(self, callback, *args, **kwargs):
        """Run ``callback`` on the event loop from a worker thread, unless the screen has gone meanwhile (the user
        left it, or quit, while the worker waited on Airflow): its widgets are gone and there is nothing to show."""
        return to_ui(self, callback, *args, **kwargs)

    def _range_inputs(self) -> tuple[str, str]:
        return self.query_one("#from", Input).value, self.query_one("#to", Input).value

    def _bounds(self, asked: tuple[str, str] | None = None) -> tuple[datetime, datetime]:
        now = self.now()
        start_text, end_text = asked or self._range_inputs()
        return parse_instant(start_text, now, option="from"), parse_instant(end_text, now, option="to")

    def load_partitions(self) -> None:
        """Reads the range's partitions (on the event loop: the range is read from the inputs here, never from the
        worker, whose screen may be gone by the time it runs)."""
        if self.is_attached:
            self._read_partitions(self._range_inputs())

    @work(thread=True, exclusive=True, group="partitions")
    def _read_partitions(self, asked: tuple[str, str]) -> None:
        """A new range (or the first read) shows a loading indicator over the grid, as Airflow's dry run of a long
        range takes a while; the periodic re-reads while following a launch update the grid in place."""
        with self._partition_ticks.reading():
            announce = asked != self._shown_range
            if announce:
                self._to_ui(self._loading, True, asked)
            try:
                start, end = self._bounds(asked)
                rows = self.source.partitions(self.dag_id, start, end)
                cells = [pg.Cell.from_row(r) for r in rows]
                layout = pg.layout(cells)  # here, off the event loop: 86,400 partitions take a while to lay out
            except AfkitError as exc:
                self._to_ui(self.app.notify, exc.with_hint(HINTS), title="Partitions", severity="error", timeout=8)
                return
            finally:
                if announce:
                    self._to_ui(self._loading, False, asked)
            self._to_ui(self._show_partitions, cells, layout, asked)

    def _loading(self, loading: bool, asked: tuple[str, str]) -> None:
        if not self.is_attached:
            return
        grid = self.query_one(PartitionGrid)
        grid.loading = loading
        if loading:
            self.query_one("#selection", Static).update(
                f"loading the partitions from {asked[0]} to {asked[1]} (Airflow's dry run) …")
        else:
            grid.post_message(PartitionGrid.SelectionChanged(grid, grid.summary, grid.cursor_cell))

    def _show_partitions(self, cells: list[pg.Cell], layout: pg.GridLayout, asked: tuple[str, str]) -> None:
        if not self.is_attached:
            return
        grid = self.query_one(PartitionGrid)
        grid.set_cells(cells, layout)
        self._shown_range = asked
        self.call_after_refresh(calm_garbage_collector)  # thousands of cells: keep them out of full collections
        if not self.launched:
            grid.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.load_partitions()

    @on(PartitionGrid.SelectionChanged)
    def _selection_changed(self, event: PartitionGrid.SelectionChanged) -> None:
        where = f"  ·  cursor {event.cursor.key} ({event.cursor.state})" if event.cursor else ""
        self.query_one("#selection", Static).update(event.summary + where)
        grid = event.grid
        if self.reprocess == "none" and any(grid.cells[i].state == "failed" for i in grid.selection.chosen):
            # Selecting failed partitions means running them again, which reprocess "none" would skip.
            self.reprocess = "failed"
            self._show_options()
            self.app.notify("Failed partitions selected: reprocess set to 'failed' so they run again (e cycles).",
                            title="Backfill", timeout=5)

    # -- options -------------------------------------------------------------------------------------------------------

    def _show_options(self) -> None:
        self.query_one("#options", Static).update(
            f"reprocess [b]{self.reprocess}[/] (e)  ·  order [b]{self.order} first[/] (o)  ·  "
            f"downstream [b]{'on' if self.downstream else 'off'}[/] (w)")

    def _options_changed(self) -> None:
        self._show_options()
        if self.plan is not None and not self.launched:
            self.action_plan()  # the plan on screen always matches the options shown

    def action_cycle_reprocess(self) -> None:
        self.reprocess = REPROCESS_BEHAVIOURS[(REPROCESS_BEHAVIOURS.index(self.reprocess) + 1) % 3]
        self._options_changed()

    def action_toggle_order(self) -> None:
        self.order = ORDERS[(ORDERS.index(self.order) + 1) % len(ORDERS)]
        self._options_changed()

    def action_toggle_downstream(self) -> None:
        self.downstream = not self.downstream
        self._options_changed()

    # -- plan ----------------------------------------------------------------------------------------------------------

    def action_plan(self) -> None:
        """Plan what is selected; the widgets are read here, on the event loop, and the plan made in a worker."""
        grid = self.query_one(PartitionGrid)
        self._plan(self._range_inputs(), pg.chosen_range(grid.cells, grid.selection))

    @work(thread=True, exclusive=True, group="plan")
    def _plan(self, asked: tuple[str, str], chosen) -> None:
        try:
            now = self.now()
            start, end = self._bounds(asked)
            options = build_options(start.isoformat(), end.isoformat(), None, self.downstream, self.reprocess,
                                    self.order, DEFAULT_MAX_ACTIVE_RUNS, now, configured=self.source.policy())
            if chosen is not None:
                options = replace(options, from_date=chosen.start or options.from_date,
                                  to_date=chosen.end or options.to_date, partitions=chosen.partitions)
            plan = self.source.plan(self.dag_id, options, now)
        except AfkitError as exc:
            self._to_ui(self.app.notify, exc.with_hint(HINTS), title="Plan", severity="error", timeout=8)
            return
        self._to_ui(self._show_plan, plan)

    def _show_plan(self, plan: Plan) -> None:
        self.plan = plan
        self.query_one("#plan-text", Static).update(
            Text(render_plan(plan, HINTS) + "\n\nl launch · s save the plan file"))

    def action_save(self) -> None:
        if self.plan is None:
            self.app.notify("Plan first (Enter).", severity="warning")
            return
        plan = self.plan

        def chosen(path: str | None) -> None:
            if path:
                self._save(plan, Path(path))

        self.app.push_screen(SavePlan(plan), chosen)

    @work(thread=True, group="save")
    def _save(self, plan: Plan, path: Path) -> None:
        try:
            written = self.source.save(plan, path)
        except AfkitError as exc:
            self._to_ui(self.app.notify, exc.with_hint(HINTS), title="Save plan", severity="error", timeout=8)
            return
        self._to_ui(self.app.notify, f"Plan saved to {written} (afkit backfill launch {written})",
                                  title="Save plan")

    # -- launch and progress ---------------------------------------------------------------------------------------------

    def action_launch(self) -> None:
        if self.plan is None:
            self.app.notify("Plan first (Enter).", severity="warning")
            return
        if self.launched:
            self.app.notify("This plan is already launched.", severity="warning")
            return

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.launched = True
                self._launch()

        self.app.push_screen(ConfirmLaunch(self.plan), confirmed)

    @work(thread=True, exclusive=True, group="launch")
    def _launch(self) -> None:
        """Runs until the plan completes; leaving the screen only detaches (the CLI can resume the journal)."""
        assert self.plan is not None
        self._to_ui(self.set_interval, 2.0, lambda: self._progress_ticks.tick(self.refresh_progress))
        self._to_ui(self.set_interval, 10.0, lambda: self._partition_ticks.tick(self.load_partitions))
        try:
            self.source.launch(self.plan, should_stop=lambda: not self.is_attached, on_note=self._note)
        except AfkitError as exc:
            self.launched = False
            self._to_ui(self.app.notify, exc.with_hint(HINTS), title="Launch", severity="error", timeout=10)
            return
        self.refresh_progress()
        self._to_ui(self.load_partitions)

    def _note(self, text: str) -> None:
        """A launch warning or a governor action, from the launch's worker thread."""
        self.notes.append(text)
        self._to_ui(self.app.notify, text, title="Backfill", timeout=8)

    @work(thread=True, group="progress")
    def refresh_progress(self) -> None:
        if self.plan is None:
            return
        read = next(self._progress_reads)
        try:
            with self._progress_ticks.reading():
                progress = self.source.progress(self.plan)
        except AfkitError as exc:
            self._to_ui(self.app.notify, exc.with_hint(HINTS), title="Progress", severity="error")
            return
        self._to_ui(self._show_progress, progress, read)

    def _show_progress(self, progress: list, read: int) -> None:
        """Reads overlap (a timer and an action both ask); a read older than the one on screen is stale."""
        if read < self._progress_shown:
            return
        self._progress_shown = read
        self.progress = progress
        self.paused = any(p.status == "paused" for p in progress)
        failed = sum(p.failed for p in progress)
        text = Text("\n" + render_progress(progress))
        if failed:
            text.append(f"\n{failed} run(s) failed", style="bold red")
        text.append("\n\nspace pause/resume · x cancel")
        self.query_one("#progress-text", Static).update(text)

    @work(thread=True, exclusive=True, group="act")
    def _act(self, action: str) -> None:
        assert self.plan is not None
        try:
            done = self.source.act(self.plan, action)
        except AfkitError as exc:
            self._to_ui(self.app.notify, exc.with_hint(HINTS), title=action, severity="error")
            return
        self._to_ui(self.app.notify, done if ":" in done else f"{done}: done", title="Backfill")
        self.refresh_progress()

    def action_pause_or_resume(self) -> None:
        if self.launched:
            self._act("pause_or_resume")  # the source decides from Airflow's state, not from what is on screen

    def action_cancel_backfill(self) -> None:
        if self.launched:
            self._confirm_cancel()

    @work(thread=True, exclusive=True, group="act")
    def _confirm_cancel(self) -> None:
        """Asks first when the cancel would fail queued runs; cancels straight away otherwise."""
        assert self.plan is not None
        try:
            warning = self.source.cancel_warning(self.plan)
        except AfkitError as exc:
            self._to_ui(self.app.notify, exc.with_hint(HINTS), title="cancel", severity="error")
            return
        if warning is None:
            self._to_ui(self._act, "cancel")
            return

        def confirmed(yes: bool | None) -> None:
            if yes:
                self._act("cancel")

        self._to_ui(self.app.push_screen, ConfirmCancel(warning), confirmed)
