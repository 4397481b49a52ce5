"""Plan, confirm, launch and follow a backfill of one DAG from the terminal app.

Every step calls the same functions as ``afkit backfill``: ``make_plan`` for the plan, ``launch`` (journaled in the
state database, so the CLI can follow or resume it too), ``plan_progress`` and ``act_on_plan`` for pause, resume and
cancel. The screens only render and dispatch; network work runs in thread workers.
"""

from __future__ import annotations

from datetime import datetime, timezone

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, Footer, Header, Input, Label, Static

from toolkit import backfills
from toolkit.airflow import AirflowClient
from toolkit.errors import AfkitError
from toolkit.plan_options import build_options
from toolkit.planning import Plan
from toolkit.render import render_plan, render_progress
from toolkit.state import StateStore


class ConfirmLaunch(ModalScreen[bool]):
    """Restates what will be created before anything is."""

    BINDINGS = [Binding("escape,n", "dismiss(False)", "No"), Binding("y", "dismiss(True)", "Yes, launch")]

    def __init__(self, plan: Plan) -> None:
        super().__init__()
        self.plan = plan

    def compose(self) -> ComposeResult:
        runs = sum(d.run_count for d in self.plan.dags)
        lines = [f"Create {len(self.plan.steps)} backfill(s) with {runs} run(s) on {self.plan.airflow_url}?", ""]
        lines += [f"  {d.dag_id}: {d.run_count} run(s), {d.concurrency} at a time" for d in self.plan.dags]
        with Vertical(id="confirm"):
            yield Static("\n".join(lines))
            with Horizontal():
                yield Button("Launch (y)", id="yes", variant="warning")
                yield Button("Cancel (n)", id="no")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")


class BackfillScreen(Screen[None]):
    """One DAG: a range, its plan, then the launched backfill's live progress."""

    CSS = """
    #range { height: 3; }
    #range Input { width: 30; }
    #plan-text { padding: 0 1; }
    ConfirmLaunch { align: center middle; }
    #confirm { width: 80; height: auto; border: round $warning; padding: 1 2; background: $panel; }
    """
    BINDINGS = [
        Binding("f5", "plan", "Plan (or Enter in a date)"),
        Binding("l", "launch", "Launch"),
        Binding("space", "pause_or_resume", "Pause/resume"),
        Binding("x", "cancel_backfill", "Cancel backfill"),
        Binding("escape", "app.pop_screen", "Back"),
    ]

    def __init__(self, client: AirflowClient, dag_id: str, store: StateStore | None = None) -> None:
        super().__init__()
        self.client, self.dag_id = client, dag_id
        self.store = store or StateStore()
        self.plan: Plan | None = None
        self.launched = False
        self.paused = False

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="range"):
            yield Label(f" {self.dag_id}  from ")
            yield Input(value="-3d", id="from")
            yield Label(" to ")
            yield Input(value="now", id="to")
        with VerticalScroll():
            yield Static("Set the range, then press Enter (or F5) to plan.", id="plan-text")
            yield Static("", id="progress-text")
        yield Footer()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.action_plan()

    @work(thread=True, exclusive=True, group="plan")
    def action_plan(self) -> None:
        start, end = self.query_one("#from", Input).value, self.query_one("#to", Input).value
        try:
            now = datetime.now(timezone.utc)
            options = build_options(start, end, None, False, "none", "oldest", 2, now)
            plan = backfills.make_plan(self.client, [self.dag_id], options, now)
        except AfkitError as exc:
            self.app.call_from_thread(self.app.notify, str(exc), title="Plan", severity="error", timeout=8)
            return
        self.app.call_from_thread(self._show_plan, plan)

    def _show_plan(self, plan: Plan) -> None:
        self.plan = plan
        self.query_one("#plan-text", Static).update(render_plan(plan) + "\n\nPress l to launch.")
        self.query_one(VerticalScroll).focus()  # out of the date inputs, so the keys below act

    def action_launch(self) -> None:
        if self.plan is None:
            self.app.notify("Plan first (Enter in a date, or F5).", severity="warning")
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
        """Runs until the plan completes, as ``launch --follow`` does: later steps are created when earlier ones
        finish and the journal records completion. Leaving the screen only detaches; the CLI can resume."""
        assert self.plan is not None
        self.app.call_from_thread(self.set_interval, 2.0, self.refresh_progress)
        try:
            backfills.launch(self.client, self.store, self.plan, until="completed",
                             should_stop=lambda: not self.is_attached)
        except AfkitError as exc:
            self.launched = False
            self.app.call_from_thread(self.app.notify, str(exc), title="Launch", severity="error", timeout=10)
            return
        self.refresh_progress()

    @work(thread=True, exclusive=True, group="progress")
    def refresh_progress(self) -> None:
        if self.plan is None:
            return
        try:
            progress = backfills.plan_progress(self.client, self.store, self.plan)
        except AfkitError as exc:
            self.app.call_from_thread(self.app.notify, str(exc), title="Progress", severity="error")
            return
        self.app.call_from_thread(self._show_progress, progress)

    def _show_progress(self, progress: list[backfills.DagProgress]) -> None:
        self.progress = progress
        self.paused = any(p.status == "paused" for p in progress)
        failed = sum(p.failed for p in progress)
        text = render_progress(progress) + (f"\n[bold red]{failed} run(s) failed[/]" if failed else "")
        self.query_one("#progress-text", Static).update("\n" + text + "\n\nspace pause/resume · x cancel")

    @work(thread=True, exclusive=True, group="act")
    def _act(self, action: str) -> None:
        assert self.plan is not None
        try:
            backfills.act_on_plan(self.client, self.store, self.plan, action)
        except AfkitError as exc:
            self.app.call_from_thread(self.app.notify, str(exc), title=action, severity="error")
            return
        self.app.call_from_thread(self.app.notify, f"{action}: done", title="Backfill")
        self.refresh_progress()

    def action_pause_or_resume(self) -> None:
        if self.launched:
            self._act("resume" if self.paused else "pause")

    def action_cancel_backfill(self) -> None:
        if self.launched:
            self._act("cancel")
