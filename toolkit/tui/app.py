"""The Textual app: DAGs, freshness SLAs, cadences and pools on one screen, refreshed in the background.

All network work runs in thread workers, so a slow or dead Airflow never freezes the interface; failures appear as
notifications worded exactly as the CLI words them (they are the same ``toolkit.errors``), and the next refresh
simply tries again, which is how the app reconnects when Airflow comes back. One factory, :func:`create_app`, serves
``afkit tui`` and the tests; what the app reads and does goes through a :class:`~toolkit.tui.source.Source`.
"""

from __future__ import annotations

from typing import Iterable

from rich.text import Text
from textual import work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Footer, Header, Input, Static, TabbedContent, TabPane

from toolkit.core.humanize import format_duration
from toolkit.config import ConnectionSettings
from toolkit.models import Dag
from toolkit.render import sparkline
from toolkit.core.throttle import PoolOccupancy
from toolkit.tui.collector import calm_garbage_collector
from toolkit.tui.grid import COLOUR, GLYPH, PartitionGrid
from toolkit.tui.source import AirflowSource, Snapshot, Source
from toolkit.tui.threads import OneRead, to_ui

REFRESH_SECONDS = 15.0
STATUS_STYLE = {"late": "bold red", "at_risk": "bold yellow", "fresh": "green", "unknown": "dim"}
MAIN_SCREEN_ACTIONS = {"show_tab", "filter_dags", "refresh"}
GAUGE_WIDTH = 30


def trigger_kind(dag: Dag) -> str:
    """What starts the DAG's runs: ``asset`` events, ``manual`` triggers only (``schedule=None``: Airflow's timetable
    summary is "None", its description "Never, external triggers only"), or the ``time`` of a schedule."""
    if dag.asset_triggered:
        return "asset"
    summary = (dag.timetable_summary or "").strip()
    if summary in ("", "None") or (dag.timetable_description or "").startswith("Never"):
        return "manual"
    return "time"


def run_states(states: list[str]) -> Text:
    """A DAG's latest runs, oldest left, as coloured cells (the grid's colours)."""
    text = Text()
    for state in reversed(states):
        known = state if state in COLOUR else "running"
        text.append(GLYPH[known] + " ", style=COLOUR[known])
    return text


def gauge(pool: PoolOccupancy, width: int = GAUGE_WIDTH) -> Text:
    """Production (blue) and backfill (magenta) occupancy, free slots, and the reserve kept for production (the
    yellow part on the right: free slots backfills may not take)."""
    if pool.slots < 0:
        return Text("unlimited", style="dim")
    if pool.slots == 0:
        return Text("no slots", style="dim")
    scale = min(1.0, width / pool.slots)
    cells = max(1, round(pool.slots * scale))
    production = round(pool.production * scale)
    backfill = round(pool.backfill * scale)
    reserve_from = cells - round(pool.reserve * scale)
    text = Text()
    for i in range(cells):
        if i < production:
            text.append("█", style="dodger_blue2")
        elif i < production + backfill:
            text.append("█", style="bold red" if pool.over_budget else "magenta")
        elif i >= reserve_from:
            text.append("▒", style="yellow")
        else:
            text.append("░", style="grey50")
    return text


def inbox_text(inbox: dict) -> Text:
    """The demo inbox as the page shows it: threads newest first, each message's title, lines and mentions."""
    text = Text()
    text.append("Demo Slack inbox", style="bold")
    text.append(" — what afkit watch posted to the demo's local Slack; outside the demo alerts go to Slack.\n",
                style="dim")
    if not inbox["threads"]:
        text.append("\nNo message yet.", style="dim")

    def message(m: dict, reply: bool) -> None:
        text.append(f"\n{'    ↳ ' if reply else ''}{m['title']}", style="bold")
        if m["mentions"]:
            text.append("  " + " ".join(m["mentions"]), style="cyan")
        for line in m["lines"]:
            text.append(f"\n{'      ' if reply else ''}  {line}")

    for thread in inbox["threads"]:
        text.append("\n")
        message(thread, False)
        for reply in thread["replies"]:
            message(reply, True)
    return text


class HelpScreen(ModalScreen[None]):
    """Every key, in one place."""

    BINDINGS = [Binding("escape,q,question_mark", "app.pop_screen", "Close")]

    def compose(self) -> ComposeResult:
        from toolkit.tui.backfill import BackfillScreen

        def keys(bindings: list[Binding]) -> str:
            return "\n".join(f"  {self.app.get_key_display(b):<22} {b.description}" for b in bindings
                             if b.description)

        text = ("[b]Everywhere[/b]\n" + keys(AfkitApp.BINDINGS) + "\n  ctrl+p                 command palette"
                + "\n\n[b]Backfill screen (Enter on a DAG)[/b]\n" + keys(BackfillScreen.BINDINGS)
                + "\n\n[b]Partition grid[/b]\n  arrows                 move\n  shift+arrows           select a range\n"
                + keys([b for b in PartitionGrid.BINDINGS if not b.key.startswith(("left", "right", "up", "down",
                                                                                    "shift+"))])
                + "\n\n  escape                 close this help")
        yield Vertical(Static(text), id="help")


class AfkitApp(App[None]):
    TITLE = "afkit"
    CSS = """
    #help { width: 72; height: auto; max-height: 90%; border: round $accent; padding: 1 2; background: $panel;
            overflow-y: auto; }
    HelpScreen { align: center middle; }
    #dag-filter { dock: top; }
    """
    BINDINGS = [
        Binding("r", "refresh", "Refresh now"),
        Binding("slash", "filter_dags", "Filter DAGs"),
        Binding("d", "show_tab('dags')", "DAGs"),
        Binding("f", "show_tab('freshness')", "Freshness"),
        Binding("c", "show_tab('cadence')", "Cadence"),
        Binding("p", "show_tab('pools')", "Pools"),
        Binding("i", "show_tab('inbox')", "Demo inbox"),
        Binding("question_mark", "help", "Help"),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(self, source: Source, refresh_seconds: float = REFRESH_SECONDS) -> None:
        super().__init__()
        self.source = source
        self._refresh_seconds = refresh_seconds
        self._refreshes = OneRead()  # the timer's refreshes never pile up behind a slow Airflow
        self.snapshot = Snapshot()
        self._refreshed = False  # until the first read of Airflow arrives, the app does not know it is the demo
        self._dag_filter = ""

    # -- layout ------------------------------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header()
        with TabbedContent(initial="dags"):
            with TabPane("DAGs", id="dags"):
                yield Input(placeholder="filter DAGs (press / ), Enter to apply", id="dag-filter")
                yield DataTable(id="dags-table", cursor_type="row", zebra_stripes=True)
            with TabPane("Freshness", id="freshness"):
                yield DataTable(id="freshness-table", cursor_type="row", zebra_stripes=True)
            with TabPane("Cadence", id="cadence"):
                yield DataTable(id="cadence-table", cursor_type="row", zebra_stripes=True)
            with TabPane("Pools", id="pools"):
                yield DataTable(id="pools-table", cursor_type="row", zebra_stripes=True)
                yield Static("[dodger_blue2]█[/] production  [magenta]█[/] backfill  [grey50]░[/] free  "
                             "[yellow]▒[/] free but reserved for production", id="pools-legend")
            with TabPane("Demo inbox", id="inbox"):
                with VerticalScroll(id="inbox-table"):  # the pane's focus target, like the tables of the others
                    yield Static("", id="inbox-text")
        yield Static("connecting …", id="status-line")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#dags-table", DataTable).add_columns("DAG", "schedule", "paused", "owners", "pools",
                                                             "last runs", "trigger")
        self.query_one("#freshness-table", DataTable).add_columns("status", "asset", "SLA", "lag", "owners",
                                                                  "why / culprit")
        self.query_one("#cadence-table", DataTable).add_columns("asset", "every", "pattern", "change", "intervals")
        self.query_one("#pools-table", DataTable).add_columns("pool", "occupancy", "slots", "production",
                                                              "backfill", "waiting", "free", "reserve", "budget",
                                                              "backfill share")
        self.query_one(TabbedContent).hide_tab("inbox")  # shown once the plugin says this is the demo
        self.action_refresh()
        self.set_interval(self._refresh_seconds, lambda: self._refreshes.tick(self.action_refresh))
        self.call_after_refresh(calm_garbage_collector)

    # -- data ----------------------------------------------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="refresh")
    def action_refresh(self) -> None:
        with self._refreshes.reading():
            to_ui(self, self.show_snapshot, self.source.snapshot())

    def show_snapshot(self, snapshot: Snapshot) -> None:
        """Keep what the last good read showed for any part that failed this time."""
        old = self.snapshot
        self._refreshed = True
        self.snapshot = Snapshot(
            dags=snapshot.dags if snapshot.dags is not None else old.dags,
            recent_runs=snapshot.recent_runs if snapshot.recent_runs is not None else old.recent_runs,
            dag_pools=snapshot.dag_pools or old.dag_pools,
            board=snapshot.board if snapshot.board is not None else old.board,
            cadences=snapshot.cadences if snapshot.cadences is not None else old.cadences,
            pools=snapshot.pools if snapshot.pools is not None else old.pools,
            inbox=snapshot.inbox if snapshot.inbox is not None else old.inbox,
            errors=snapshot.errors, taken_at=snapshot.taken_at,
        )
        self._render_tables()
        for error in snapshot.errors:
            self.notify(error, title="Airflow", severity="error", timeout=8)
        line = f"refreshed {snapshot.taken_at:%H:%M:%S} UTC"
        if self.snapshot.board is not None:
            board = self.snapshot.board
            line += f" · SLAs: {board.count('late')} late, {board.count('at_risk')} at risk"
        if snapshot.errors:
            line += " · last refresh failed, showing what was read before"
        self.query_one("#status-line", Static).update(line)

    def _render_tables(self) -> None:
        snap = self.snapshot
        if snap.dags is not None:
            recent = snap.recent_runs or {}
            self._fill("#dags-table", [
                (d.dag_id, d.timetable_summary or "-", "yes" if d.is_paused else "no", ", ".join(d.owners) or "-",
                 ", ".join(snap.dag_pools.get(d.dag_id, [])) or "-", run_states(recent.get(d.dag_id, [])),
                 trigger_kind(d))
                for d in snap.dags if self._dag_filter.lower() in d.dag_id.lower()])
        if snap.board is not None:
            self._fill("#freshness-table", [
                (f"[{STATUS_STYLE.get(s.status, '')}]{s.status.replace('_', ' ')}[/]", s.sla.asset, s.sla.name,
                 format_duration(s.lag) if s.lag is not None else "-", ", ".join(s.sla.owners), s.culprit or s.reason)
                for s in snap.board.statuses])
        if snap.cadences is not None:
            self._fill("#cadence-table", [
                (r.asset, format_duration(r.model.typical_interval) if r.model.typical_interval else "-",
                 r.model.pattern,
                 f"[bold yellow]{format_duration(r.change.before)} → {format_duration(r.change.after)}[/]"
                 if r.change else "-", sparkline(r.model.intervals, 30))
                for r in snap.cadences])
        if snap.pools is not None:
            self._fill("#pools-table", [
                (o.pool, gauge(o), "unlimited" if o.slots < 0 else str(o.slots), str(o.production),
                 f"[bold red]{o.backfill}[/]" if o.over_budget else str(o.backfill), str(o.waiting),
                 "-" if o.slots < 0 else str(o.free), str(o.reserve), o.error or str(o.budget),
                 f"{o.backfill_share:.0%}")
                for o in snap.pools])

        if snap.inbox is not None and snap.inbox.get("enabled"):
            self.query_one(TabbedContent).show_tab("inbox")
            self.query_one("#inbox-text", Static).update(inbox_text(snap.inbox))

    def _fill(self, selector: str, rows: list[tuple]) -> None:
        """Replace a table's rows, keeping the cursor where it was (refreshes must not lose the selection)."""
        table = self.query_one(selector, DataTable)
        cursor = table.cursor_row
        table.clear()
        for row in rows:
            table.add_row(*row, key=str(row[0]) if selector != "#freshness-table" else f"{row[1]}|{row[2]}")
        if rows:
            table.move_cursor(row=min(cursor, len(rows) - 1))

    # -- actions -------------------------------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Pane keys belong to the main screen; on the backfill screen the same letters select partitions."""
        if action in MAIN_SCREEN_ACTIONS and self.screen is not self.screen_stack[0]:
            return False
        return True

    def action_show_tab(self, tab: str, focus: str | None = None) -> None:
        """Switch pane and put the focus in it (its table by default): a focused widget left in the old pane would
        pull the old pane back."""
        if tab == "inbox" and not (self.snapshot.inbox or {}).get("enabled"):
            self.notify("The demo inbox exists only in afkit demo; elsewhere alerts go to Slack." if self._refreshed
                        else "Still reading Airflow: the demo inbox shows once the first refresh arrives.", timeout=4)
            return
        self.set_focus(None)
        self.query_one(TabbedContent).active = tab
        self.call_after_refresh(self.query_one(focus or f"#{tab}-table").focus)

    def action_filter_dags(self) -> None:
        self.action_show_tab("dags", focus="#dag-filter")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id != "dag-filter":
            return
        self._dag_filter = event.value.strip()
        self._render_tables()
        self.query_one("#dags-table", DataTable).focus()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        """Enter on a DAG opens its backfill screen (partitions, plan, launch, follow)."""
        if event.data_table.id != "dags-table" or event.row_key.value is None:
            return
        self.open_backfill(str(event.row_key.value))

    def open_backfill(self, dag_id: str) -> None:
        from toolkit.tui.backfill import BackfillScreen

        self.push_screen(BackfillScreen(self.source, dag_id))

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """A command palette entry (ctrl+p) for every action of the screen it is opened from."""
        yield from super().get_system_commands(screen)
        from toolkit.tui.backfill import BackfillScreen

        if isinstance(screen, BackfillScreen):
            grid = screen.query_one(PartitionGrid)
            yield SystemCommand("Plan the selection", "Plan the selected partitions (Enter)", screen.action_plan)
            yield SystemCommand("Launch the plan", "Confirm, then create the backfills (l)", screen.action_launch)
            yield SystemCommand("Save the plan file", "Write the plan for afkit backfill launch (s)",
                                screen.action_save)
            yield SystemCommand("Pause or resume the backfill", "space", screen.action_pause_or_resume)
            yield SystemCommand("Cancel the backfill", "x", screen.action_cancel_backfill)
            yield SystemCommand("Select failed partitions", "f", lambda: grid.action_select_states("failed"))
            yield SystemCommand("Select missing partitions", "m", lambda: grid.action_select_states("missing"))
            yield SystemCommand("Select all partitions", "a", grid.action_select_all)
            yield SystemCommand("Clear the selection", "u", grid.action_clear)
            yield SystemCommand("Cycle reprocess (none, failed, completed)", "e", screen.action_cycle_reprocess)
            yield SystemCommand("Toggle order (oldest or newest first)", "o", screen.action_toggle_order)
            yield SystemCommand("Toggle downstream DAGs", "w", screen.action_toggle_downstream)
            yield SystemCommand("Back to the DAG list", "escape", self.pop_screen)
            return
        yield SystemCommand("Refresh now", "Read Airflow again (r)", self.action_refresh)
        yield SystemCommand("Filter DAGs", "/", self.action_filter_dags)
        tabs = [("dags", "DAGs"), ("freshness", "Freshness SLAs"), ("cadence", "Cadence changes"), ("pools", "Pools")]
        if (self.snapshot.inbox or {}).get("enabled"):
            tabs.append(("inbox", "Demo inbox"))
        for tab, title in tabs:
            yield SystemCommand(f"Show {title}", f"The {title} pane ({tab[0]})",
                                lambda tab=tab: self.action_show_tab(tab))
        for dag in self.snapshot.dags or []:
            yield SystemCommand(f"Backfill {dag.dag_id}", "Open its partitions, plan and launch",
                                lambda dag_id=dag.dag_id: self.open_backfill(dag_id), discover=False)
        yield SystemCommand("Help", "Every key (?)", self.action_help)

    def on_unmount(self) -> None:
        self.source.close()


def create_app(settings: ConnectionSettings, refresh_seconds: float = REFRESH_SECONDS) -> AfkitApp:
    """The one way to build the app: ``afkit tui`` and the tests both use it."""
    return AfkitApp(AirflowSource(settings), refresh_seconds)
