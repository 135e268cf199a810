"""Home's search results: a fixed-size list that draws its column titles and rows itself, a cursor on one row.

A keypress's results used to go into a DataTable: clearing it, adding twenty rows (each measured, its columns'
order worked out again) and drawing them through DataTable's general machinery took 13-40 ms of a keypress on a
loaded 2-core machine. The results are never more than a page of one-line rows, so this widget keeps them as a
list, works out the column widths once per answer, and draws a line as a few segments. Its size never depends
on its rows: new results are a ``refresh()`` of the lines that show something else (not its blank lines, nor
its header when the columns keep their widths), never a layout of the screen.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Region
from textual.message import Message
from textual.strip import Strip
from textual.widget import Widget

from tui.widgets.paged_table import Row, cell_meta

PAD = 1  # cells each side of a cell, as a DataTable's
STRIPS_KEPT = 512  # rows' lines kept drawn: twenty-odd searches' pages


class ResultList(Widget, can_focus=True):
    """Column titles over one-line rows, with a highlighted cursor row; Enter (or a click) chooses it."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "result-list--header",
        "result-list--even-row",
        "result-list--odd-row",
        "result-list--cursor",
    }
    DEFAULT_CSS = """
    ResultList {
        background: $surface;
        color: $foreground;
        height: 1fr;
        &:focus {
            background-tint: $foreground 5%;
            & > .result-list--cursor {
                background: $block-cursor-background;
                color: $block-cursor-foreground;
                text-style: $block-cursor-text-style;
            }
            & > .result-list--header { background-tint: $foreground 5%; }
        }
        &:dark > .result-list--even-row { background: $surface-darken-1 40%; }
        & > .result-list--header { text-style: bold; background: $panel; color: $foreground; }
        & > .result-list--odd-row { }
        & > .result-list--even-row { background: $surface-lighten-1 50%; }
        & > .result-list--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "choose", "key.open", show=False),
        Binding("up", "move(-1)", show=False),
        Binding("down", "move(1)", show=False),
        Binding("home", "move(-1000)", show=False),
        Binding("end", "move(1000)", show=False),
        Binding("pagedown,right_square_bracket", "page(1)", show=False),
        Binding("pageup,left_square_bracket", "page(-1)", show=False),
    ]

    class Chosen(Message):
        """A row was chosen (Enter or a click)."""

        def __init__(self, results: ResultList, key: str) -> None:
            super().__init__()
            self.results = results
            self.key = key

        @property
        def control(self) -> ResultList:
            """The list the row belongs to."""
            return self.results

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.columns: list[str] = []
        self.rows: list[Row] = []
        self.cursor = 0
        self._widths: list[int] = []
        self._cells: list[list[Text]] = []  # each row's cells as Text, worked out once per answer
        self._signs: list[tuple[object, ...]] = []  # each row's key and cells as values, to compare with a new answer
        self._styles: _Styles | None = None
        self._strips: dict[tuple[object, ...], Strip] = {}  # rows drawn, by what they showed and where (_row_strip)

    @property
    def current_key(self) -> str | None:
        """The key of the row under the cursor."""
        return self.rows[self.cursor][0] if self.rows else None

    def show(self, columns: list[str], rows: list[Row]) -> None:
        """New column titles and rows, the cursor on the first: the lines that changed are drawn, nothing laid out."""
        before = self._drawn()
        self.columns, self.rows, self.cursor = columns, rows, 0
        self._cells = [[Text(c, end="") if isinstance(c, str) else c for c in cells] for _, cells in rows]
        self._signs = [(key, *map(_sign, cells)) for (key, _), cells in zip(rows, self._cells, strict=True)]
        widths = [Text(title).cell_len for title in columns]
        for cells in self._cells:
            for i, cell in enumerate(cells[: len(widths)]):
                widths[i] = max(widths[i], cell.cell_len)
        self._widths = [w + 2 * PAD for w in widths]
        self._redraw(before)

    def _drawn(self) -> list[object]:
        """What each line shows: the header's titles and widths, a row's cells, widths and place (its row number is
        in its mouse metadata, its parity in its colour, the cursor on it or not), None for a blank line."""
        widths = tuple(self._widths)
        drawn: list[object] = [(tuple(self.columns), widths)]
        first = self._first()
        for row in range(first, first + max(self.size.height - 1, 0)):
            drawn.append((self._signs[row], widths, row, row == self.cursor) if row < len(self.rows) else None)
        return drawn

    def _redraw(self, before: list[object]) -> None:
        """Draw again only the lines that show something else than ``before`` (the rest keep their drawn strips):
        a new answer's blank lines under its rows, and its header when the columns keep their widths, are not
        drawn again, and a move of the cursor draws two lines."""
        after = self._drawn()
        if not self.size or len(after) != len(before):
            self.refresh()
            return
        width = self.size.width
        changed = [Region(0, y, width, 1) for y, (was, now) in enumerate(zip(before, after, strict=True)) if was != now]
        if changed:
            self.refresh(*changed)

    def action_move(self, step: int) -> None:
        """Move the cursor (Up, Down, Home, End), within the rows."""
        cursor = min(max(self.cursor + step, 0), max(len(self.rows) - 1, 0))
        if cursor != self.cursor:
            before = self._drawn()
            self.cursor = cursor
            self._redraw(before)

    def action_page(self, step: int) -> None:
        """PageDown/PageUp (and ] [, as in the other lists): the cursor moves by as many rows as are shown."""
        self.action_move(step * max(self.size.height - 1, 1))

    def action_choose(self) -> None:
        """Enter: the row under the cursor is chosen."""
        if self.rows:
            self.post_message(self.Chosen(self, self.rows[self.cursor][0]))

    def on_click(self, event: events.Click) -> None:
        """A click on a row moves the cursor there; on the cursor's row, chooses it (as a DataTable's does)."""
        row = event.y - 1 + self._first()
        if event.y < 1 or not 0 <= row < len(self.rows):
            return
        if row == self.cursor:
            self.action_choose()
        else:
            before = self._drawn()
            self.cursor = row
            self._redraw(before)

    def _first(self) -> int:
        """The first row shown: the cursor's row stays on screen when the rows are more than the lines."""
        lines = max(self.size.height - 1, 1)
        return max(0, self.cursor - lines + 1)

    def render_lines(self, crop: Region) -> list[Strip]:
        self._styles = None  # the styles of this frame, worked out at its first line (the focus may have changed)
        try:
            return super().render_lines(crop)
        finally:
            self._styles = None

    def _frame_styles(self) -> _Styles:
        """The widget's style and its rows', once per frame rather than once per line (each walks the ancestors)."""
        if self._styles is None:
            base = self.rich_style
            self._styles = _Styles(
                base=base,
                header=base + self.get_component_rich_style("result-list--header"),
                rows=(
                    base + self.get_component_rich_style("result-list--even-row"),
                    base + self.get_component_rich_style("result-list--odd-row"),
                ),
                cursor=self.get_component_rich_style("result-list--cursor"),
            )
        return self._styles

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        styles = self._frame_styles()
        if y == 0:
            if not self.columns:
                return Strip.blank(width, styles.base)
            return self._line(-1, [Text(c) for c in self.columns], styles.header, _PLAIN, width)
        row = y - 1 + self._first()
        if row >= len(self.rows):
            return Strip.blank(width, styles.base)
        return self._row_strip(row, styles, width)

    def _row_strip(self, row: int, styles: _Styles, width: int) -> Strip:
        """A row's line, drawn once for what it shows where it shows it: the same resident on the same row of a later
        answer (a search typed again, a letter taken back) and in the same colours is not drawn again."""
        on_cursor = row == self.cursor
        key = (self._signs[row], tuple(self._widths), row, on_cursor, width, styles)
        strip = self._strips.get(key)
        if strip is None:
            if len(self._strips) >= STRIPS_KEPT:
                self._strips.clear()
            cursor = styles.cursor if on_cursor else _PLAIN
            strip = self._strips[key] = self._line(row, self._cells[row], styles.rows[row % 2], cursor, width)
        return strip

    def _line(self, row: int, cells: list[Text], style: Style, cursor: Style, width: int) -> Strip:
        """One row: each cell cut to its column and padded, the rest of the line in the row's style.

        Each cell carries its row and column as mouse metadata, as a DataTable's do (a click says where it was),
        and the cursor's style goes over the cell's own (a bold name is drawn in the cursor's colours)."""
        console = self.app.console
        segments: list[Segment] = []
        for column, (cell, size) in enumerate(zip(cells, self._widths, strict=False)):
            inner = size - 2 * PAD
            text = cell
            if cell.cell_len > inner:
                text = cell.copy()
                text.truncate(inner, overflow=cell.overflow or "fold")
            pre = style + cell_meta(row, column)
            room = " " * (inner - text.cell_len + PAD)
            if not text._spans and not text.style:  # most cells: one segment, padding and all
                segments.append(Segment(f"{' ' * PAD}{text.plain}{room}", pre + cursor))
                continue
            parts = [Segment(" " * PAD)]
            parts += Segment.apply_style(text.render(console, end=""), console.get_style(text.style, default=""))
            parts.append(Segment(room))
            segments += Segment.apply_style([p for p in parts if p.text], pre, cursor)
        used = sum(self._widths[: len(cells)])
        end = Style.from_meta({"row": row, "column": 0, "out_of_bounds": True})
        segments.append(Segment(" " * max(width - used, 0), style + cursor + end))  # even empty, as DataTable
        strip = Strip(segments)  # one segment a cell, each with its own metadata: nothing for simplify() to join
        return strip.crop(0, width) if used > width else strip


_PLAIN = Style()


def _sign(cell: Text) -> object:
    """A cell as a value that equals another's when both are drawn the same (Text's == leaves out its style)."""
    if not cell._spans and not cell.style:
        return cell.plain
    return (cell.plain, cell.style, tuple(cell._spans), cell.overflow, cell.justify)


@dataclass(frozen=True)
class _Styles:
    """What the lines of one frame of a ResultList share."""

    base: Style
    header: Style
    rows: tuple[Style, Style]  # even, odd
    cursor: Style
