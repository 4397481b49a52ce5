"""The partition grid widget: one coloured cell per partition, keyboard selection, drawn line by line.

Only the visible rows are drawn (Textual's line API), so a ten-year daily grid redraws as fast as a one-month one. The
layout and the selection are the pure ``toolkit.core.partition_grid``; this widget only paints them and maps keys.
"""

from __future__ import annotations

from typing import Sequence

from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding
from textual.geometry import Region, Size, Spacing
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from toolkit.core import partition_grid as pg
from toolkit.core.partition_grid import Cell, Selection

GLYPH = {"success": "■", "failed": "■", "running": "▶", "queued": "◆", "missing": "·"}
COLOUR = {"success": "green", "failed": "red", "running": "yellow", "queued": "grey62", "missing": "grey50"}
SELECTED_BACKGROUND = "#264f78"


def legend() -> str:
    """The key to the colours, as Rich markup."""
    return "  ".join(f"[{COLOUR[s]}]{GLYPH[s]}[/] {s}" for s in pg.STATES) + "  [on #264f78]  [/] selected"


class PartitionGrid(ScrollView, can_focus=True):
    """Partitions of one DAG over a range, coloured by the state of their latest run."""

    DEFAULT_CSS = """
    PartitionGrid { height: 1fr; min-height: 5; }
    PartitionGrid:focus { background-tint: $foreground 3%; }
    """
    BINDINGS = [
        Binding("left", "move('left')", "←", show=False),
        Binding("right", "move('right')", "→", show=False),
        Binding("up", "move('up')", "↑", show=False),
        Binding("down", "move('down')", "↓", show=False),
        Binding("shift+left", "move('left', True)", "Select ←", show=False),
        Binding("shift+right", "move('right', True)", "Select →", show=False),
        Binding("shift+up", "move('up', True)", "Select ↑", show=False),
        Binding("shift+down", "move('down', True)", "Select ↓", show=False),
        # Not in the footer (it would not fit beside the screen's keys at 160 columns): the grid's border names them
        # while it has the focus, and the help screen lists them.
        Binding("t", "toggle", "Toggle cell", show=False),
        Binding("f", "select_states('failed')", "Select failed", show=False),
        Binding("m", "select_states('missing')", "Select missing", show=False),
        Binding("a", "select_all", "Select all", show=False),
        Binding("u", "clear", "Clear selection", show=False),
    ]
    FOCUSED_TITLE = "partitions · arrows move · shift+arrows select · t toggle · f failed · m missing · a all · u clear"
    BLURRED_TITLE = "partitions · [b]not focused[/b]: Tab or click here for the grid keys"

    class SelectionChanged(Message):
        """The selection or the cursor moved; ``summary`` is the count to show."""

        def __init__(self, grid: PartitionGrid, summary: str, cursor: Cell | None) -> None:
            super().__init__()
            self.grid, self.summary, self.cursor = grid, summary, cursor

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.cells: list[Cell] = []
        self.grid = pg.layout([])
        self.selection = Selection()
        self._styles: dict[tuple[str, bool, bool], Style] = {}

    # -- focus: the border says whether the grid keys reach the grid ---------------------------------------------

    def on_mount(self) -> None:
        self.border_title = self.FOCUSED_TITLE if self.has_focus else self.BLURRED_TITLE

    def on_focus(self) -> None:
        self.border_title = self.FOCUSED_TITLE

    def on_blur(self) -> None:
        self.border_title = self.BLURRED_TITLE

    # -- data --------------------------------------------------------------------------------------------------------

    def set_cells(self, cells: Sequence[Cell], layout: pg.GridLayout | None = None) -> None:
        """New partitions (and their layout, when computed already off the event loop); a selection of keys that
        still exist survives a reload (refreshes keep the selection)."""
        old_keys = {self.cells[i].key for i in self.selection.chosen} if self.cells else set()
        cursor_key = self.cells[self.selection.cursor].key if self.cells else None
        self.cells = list(cells)
        self.grid = layout if layout is not None else pg.layout(self.cells)
        index = {c.key: i for i, c in enumerate(self.cells)}
        self.selection = Selection(cursor=index.get(cursor_key, max(0, len(self.cells) - 1)),
                                   chosen=frozenset(index[k] for k in old_keys if k in index))
        width = self.grid.label_width + 2 * self.grid.columns
        self.virtual_size = Size(width, len(self.grid.rows) + 1)
        self.refresh()
        self._changed()

    def set_selection(self, selection: Selection) -> None:
        self.selection = selection
        self.refresh()
        self._scroll_to_cursor()
        self._changed()

    @property
    def summary(self) -> str:
        return pg.summary(self.cells, self.selection)

    @property
    def cursor_cell(self) -> Cell | None:
        return self.cells[self.selection.cursor] if self.cells else None

    def _changed(self) -> None:
        self.post_message(self.SelectionChanged(self, self.summary, self.cursor_cell))

    def _scroll_to_cursor(self) -> None:
        if not self.cells:
            return
        row, column = self.grid.position[self.selection.cursor]
        # The header line and the labels are pinned (render_line): the cell must be visible beside them.
        self.scroll_to_region(Region(self.grid.label_width + 2 * column, row + 1, 2, 1), animate=False, immediate=True,
                              spacing=Spacing(1, 0, 0, self.grid.label_width))

    # -- keys --------------------------------------------------------------------------------------------------------

    def action_move(self, direction: str, extend: bool = False) -> None:
        self.set_selection(pg.move(self.grid, self.selection, direction, extend=extend))

    def action_toggle(self) -> None:
        if self.cells:
            self.set_selection(pg.toggle(self.selection))

    def action_select_states(self, state: str) -> None:
        self.set_selection(pg.select_states(self.cells, self.selection, [state]))

    def action_select_all(self) -> None:
        self.set_selection(pg.select_all(self.cells, self.selection))

    def action_clear(self) -> None:
        self.set_selection(pg.clear(self.selection))

    # -- drawing -----------------------------------------------------------------------------------------------------

    def _style(self, state: str, selected: bool, cursor: bool) -> Style:
        key = (state, selected, cursor)
        style = self._styles.get(key)
        if style is None:
            style = Style(color=COLOUR[state], bgcolor=SELECTED_BACKGROUND if selected else None)
            if cursor:
                style = Style(color="black", bgcolor="white", bold=True)
            self._styles[key] = style
        return style

    def row_segments(self, row_index: int) -> list[Segment]:
        """One grid row as segments (public so the benchmark can time a full redraw without a terminal)."""
        return [self._label(row_index)] + self._cells(row_index)

    def _label(self, row_index: int) -> Segment:
        return Segment(self.grid.rows[row_index].label.ljust(self.grid.label_width), Style(dim=True))

    def _cells(self, row_index: int) -> list[Segment]:
        row = self.grid.rows[row_index]
        chosen, cursor = self.selection.chosen, self.selection.cursor
        segments = []
        blank = Segment("  ")
        for index in row.slots:
            if index is None:
                segments.append(blank)
                continue
            state = self.cells[index].state
            segments.append(Segment(GLYPH[state] + " ", self._style(state, index in chosen, index == cursor)))
        return segments

    def render_line(self, y: int) -> Strip:
        """The column header stays on the first line and the row labels on the left however the grid is scrolled:
        a cell is always read with its row and column."""
        scroll_x, scroll_y = self.scroll_offset
        width = self.scrollable_content_region.width
        label_width = self.grid.label_width
        row = scroll_y + y - 1
        if y == 0:
            label, cells = Segment(" " * label_width), [Segment(self.grid.header, Style(dim=True))]
        elif 0 <= row < len(self.grid.rows):
            label, cells = self._label(row), self._cells(row)
        else:
            return Strip([]).extend_cell_length(width, self.rich_style)
        strip = Strip.join([Strip([label]), Strip(cells).crop(scroll_x, scroll_x + max(0, width - label_width))])
        return strip.crop(0, width).extend_cell_length(width, self.rich_style)
