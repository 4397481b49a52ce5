"""The Textual app: DAGs, freshness SLAs, cadences and pools on one screen, refreshed in the background.

All network work runs in thread workers, so a slow or dead Airflow never freezes the interface; failures appear as
notifications worded exactly as the CLI words them (they are the same ``toolkit.errors``), and the next refresh
simply tries again, which is how the app reconnects when Airflow comes back. One factory, :func:`create_app`, serves
``afkit tui`` and the tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable

from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Footer, Header, Input, Static, TabbedContent, TabPane

from toolkit.airflow import AirflowClient
from toolkit.cadence import human_interval
from toolkit.cadence_impact import CadenceReport
from toolkit.cadence_scan import cadence_reports
from toolkit.config import ConnectionSettings
from toolkit.errors import AfkitError
from toolkit.freshness import human
from toolkit.models import Dag, Pool
from toolkit.render import sparkline
from toolkit.sla_board import SLABoard
from toolkit.sla_status import sla_board

REFRESH_SECONDS = 15.0
STATUS_STYLE = {"late": "bold red", "at_risk": "bold yellow", "fresh": "green", "unknown": "dim"}


@dataclass
class Snapshot:
    """Everything one refresh read; each part may be missing when its request failed."""

    dags: list[Dag] | None = None
    board: SLABoard | None = None
    cadences: list[CadenceReport] | None = None
    pools: list[Pool] | None = None
    errors: list[str] = field(default_factory=list)
    taken_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))


def read_snapshot(client: AirflowClient) -> Snapshot:
    """One pass over the REST API; an error in one part does not hide the others."""
    snapshot = Snapshot()
    for name, read in (("dags", client.dags.list), ("pools", client.pools.list),
                       ("board", lambda: sla_board(client)),
                       ("cadences", lambda: cadence_reports(client, with_impact=False))):
        try:
            setattr(snapshot, name, read())
        except AfkitError as exc:
            if str(exc) not in snapshot.errors:
                snapshot.errors.append(str(exc))
    return snapshot


class HelpScreen(ModalScreen[None]):
    """Every key, in one place."""

    BINDINGS = [Binding("escape,q,question_mark", "app.pop_screen", "Close")]

    def compose(self) -> ComposeResult:
        keys = "\n".join(f"  {b.key:<14} {b.description}" for b in AfkitApp.BINDINGS if b.description)
        yield Vertical(Static("[b]afkit keys[/b]\n\n" + keys + "\n\n  escape         close this help"), id="help")


class AfkitApp(App[None]):
    TITLE = "afkit"
    CSS = """
    #help { width: 60; height: auto; border: round $accent; padding: 1 2; background: $panel; }
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
        Binding("question_mark", "help", "Help"),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(self, client_factory: Callable[[], AirflowClient], refresh_seconds: float = REFRESH_SECONDS) -> None:
        super().__init__()
        self._client_factory = client_factory
        self._client: AirflowClient | None = None
        self._refresh_seconds = refresh_seconds
        self.snapshot = Snapshot()
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
        yield Static("connecting …", id="status-line")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#dags-table", DataTable).add_columns("DAG", "schedule", "paused", "owners", "trigger")
        self.query_one("#freshness-table", DataTable).add_columns("status", "asset", "SLA", "lag", "owners",
                                                                  "why / culprit")
        self.query_one("#cadence-table", DataTable).add_columns("asset", "every", "pattern", "change", "intervals")
        self.query_one("#pools-table", DataTable).add_columns("pool", "slots", "running", "queued", "open")
        self.action_refresh()
        self.set_interval(self._refresh_seconds, self.action_refresh)

    # -- data ----------------------------------------------------------------------------------------------------------

    def _get_client(self) -> AirflowClient:
        if self._client is None:
            self._client = self._client_factory()
        return self._client

    @work(thread=True, exclusive=True, group="refresh")
    def action_refresh(self) -> None:
        try:
            snapshot = read_snapshot(self._get_client())
        except AfkitError as exc:  # the client itself could not be built
            snapshot = Snapshot(errors=[str(exc)])
        self.call_from_thread(self.show_snapshot, snapshot)

    def show_snapshot(self, snapshot: Snapshot) -> None:
        """Keep what the last good read showed for any part that failed this time."""
        old = self.snapshot
        self.snapshot = Snapshot(
            dags=snapshot.dags if snapshot.dags is not None else old.dags,
            board=snapshot.board if snapshot.board is not None else old.board,
            cadences=snapshot.cadences if snapshot.cadences is not None else old.cadences,
            pools=snapshot.pools if snapshot.pools is not None else old.pools,
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
            self._fill("#dags-table", [
                (d.dag_id, d.timetable_summary or "-", "yes" if d.is_paused else "no", ", ".join(d.owners) or "-",
                 "asset" if d.asset_triggered else "time")
                for d in snap.dags if self._dag_filter.lower() in d.dag_id.lower()])
        if snap.board is not None:
            self._fill("#freshness-table", [
                (f"[{STATUS_STYLE.get(s.status, '')}]{s.status.replace('_', ' ')}[/]", s.sla.asset, s.sla.name,
                 human(s.lag) if s.lag is not None else "-", ", ".join(s.sla.owners), s.culprit or s.reason)
                for s in snap.board.statuses])
        if snap.cadences is not None:
            self._fill("#cadence-table", [
                (r.asset, human_interval(r.model.typical_interval) if r.model.typical_interval else "-",
                 r.model.pattern,
                 f"[bold yellow]{human_interval(r.change.before)} → {human_interval(r.change.after)}[/]"
                 if r.change else "-", sparkline(r.model.intervals, 30))
                for r in snap.cadences])
        if snap.pools is not None:
            self._fill("#pools-table", [(p.name, str(p.slots), str(p.running_slots), str(p.queued_slots),
                                         str(p.open_slots)) for p in snap.pools])

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

    def action_show_tab(self, tab: str, focus: str | None = None) -> None:
        """Switch pane and put the focus in it (its table by default): a focused widget left in the old pane would
        pull the old pane back."""
        self.set_focus(None)
        self.query_one(TabbedContent).active = tab
        self.call_after_refresh(self.query_one(focus or f"#{tab}-table").focus)

    def action_filter_dags(self) -> None:
        self.action_show_tab("dags", focus="#dag-filter")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self._dag_filter = event.value.strip()
        self._render_tables()
        self.query_one("#dags-table", DataTable).focus()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        """Enter on a DAG opens its backfill screen (plan, launch, follow)."""
        if event.data_table.id != "dags-table" or event.row_key.value is None:
            return
        from toolkit.tui.backfill import BackfillScreen

        self.push_screen(BackfillScreen(self._get_client(), str(event.row_key.value)))

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def on_unmount(self) -> None:
        if self._client is not None:
            self._client.close()


def create_app(settings: ConnectionSettings, refresh_seconds: float = REFRESH_SECONDS) -> AfkitApp:
    """The one way to build the app: ``afkit tui`` and the tests both use it."""
    return AfkitApp(lambda: AirflowClient(settings), refresh_seconds)
