"""A table that shows one page at a time: 5,000 readings stay a list in memory, never 5,000 table rows.

Rows may hold plain strings (a list of thousands is cheaper made so, and may be made in a thread): the
cells of the page shown are turned into literal Text as the page is put in the table.

A DataTable's first render costs about 75 µs per row (measured on the reference 2-core machine), so only the rows of the
page on screen are ever added. PageUp/PageDown (and [ ]) turn pages; Enter chooses a row.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import ClassVar, cast

from rich.console import Console
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual._segment_tools import line_crop
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.color import Color
from textual.containers import Vertical
from textual.coordinate import Coordinate
from textual.geometry import Region
from textual.message import Message
from textual.strip import Strip
from textual.widgets import DataTable, Static
from textual.widgets.data_table import Column, RowKey

from tui.i18n import fill

Row = tuple[str, Sequence[Text | str]]  # (key, cells)


class FastTable(DataTable[Text | str]):
    """A DataTable that draws a row of one-line Text cells itself, in one go, without Rich's general layout.

    DataTable draws every line through ``render_line``, which works out the widget's style again (walking its
    ancestors), and every cell through ``console.render_lines(Styled(Padding(cell)))``, which wraps, measures and
    crops a one-line cell as if it could be a paragraph, each cell looked up and cached on its own: a page of 20
    search results took 40-70 ms to draw on a loaded 2-core machine, most of a keypress's time. This draws a row
    of plain one-line Text (the header too) at once: what is the same for every line of a frame (the widget's
    style, the column widths, a row kind's style, the cursor's) is worked out once per frame, and each cell is cut
    to its column and padded, giving the same characters, styles and mouse metadata. Anything else (a row taller
    than one line, row labels, fixed rows or columns, a cell that is not a one-line left-aligned Text) goes
    DataTable's way. The lines are kept in DataTable's own line cache, which it empties on every change.
    Measuring the new rows' columns takes the short way too: a one-line Text is as wide as its cells.
    """

    _frame: _Frame | None = None
    _ordered: tuple[object, int, list[Column]] | None = None  # the columns in order, for the locations they came from

    @property
    def ordered_columns(self) -> list[Column]:
        """The columns in order, worked out again only when they change.

        DataTable sorts every column anew on each call, and it calls this some five times a row it adds or
        measures: a quarter of filling a page of 20 search results. Columns are only added (to the same
        locations) or cleared (new locations), so the locations and their number say when the order changed."""
        locations = self._column_locations
        kept = self._ordered
        if kept is None or kept[0] is not locations or kept[1] != len(locations):
            kept = self._ordered = (locations, len(locations), DataTable.ordered_columns.fget(self))  # type: ignore[attr-defined]
        return kept[2]

    def render_lines(self, crop: Region) -> list[Strip]:
        self._frame = None  # worked out again at the frame's first line (DataTable sets the pseudo-classes first)
        try:
            return super().render_lines(crop)
        finally:
            self._frame = None

    def render_line(self, y: int) -> Strip:
        frame = self._frame or self._new_frame()
        if frame is None:
            return super().render_line(y)
        if y >= self.header_height or not self.show_header:
            y += frame.scroll_y
        try:
            row_key, _ = self._get_offsets(y)  # the fast way draws only rows of one line
        except LookupError:
            return Strip.blank(frame.width, frame.base)
        cursor, hover = self.cursor_coordinate, self.hover_coordinate
        cache_key = (
            y,
            frame.scroll_x,
            frame.scroll_x + frame.width,
            frame.width,
            cursor,
            hover,
            frame.base,
            self.cursor_type,
            self._show_hover_cursor,
            self._update_count,
            self._pseudo_class_state,
        )
        cached = self._line_cache.get(cache_key)
        if cached is not None:
            return cached
        row_index = -1 if row_key is self._header_row_key else self._row_locations.get(row_key)
        segments = None if row_index is None else self._draw_row(frame, row_index, cursor, hover)
        if segments is None:  # this row is not one line of plain Text: DataTable draws it (and caches it)
            return self._render_line(y, frame.scroll_x, frame.scroll_x + frame.width, frame.base)
        if frame.scroll_x:
            segments = line_crop(segments, frame.scroll_x, frame.scroll_x + frame.width, frame.width)
        strip = Strip(segments).adjust_cell_length(frame.width, frame.base).simplify()
        self._line_cache[cache_key] = strip
        return strip

    def _new_frame(self) -> _Frame | None:
        """What every line of this frame shares, or None when the table needs DataTable's general drawing."""
        if self.fixed_rows or self.fixed_columns or (self._labelled_row_exists and self.show_row_labels):
            return None
        if self.show_header and self.header_height != 1:
            return None
        columns = self.ordered_columns
        widths = [column.get_render_width(self) for column in columns]
        scroll_x, scroll_y = self.scroll_offset
        self._frame = _Frame(
            base=self.rich_style,
            width=self.size.width,
            scroll_x=scroll_x,
            scroll_y=scroll_y,
            widths=widths,
            blank=max(0, self.size.width - sum(widths)),
            console=self.app.console,
            row_styles={},
            cell_styles={},
        )
        return self._frame

    def _draw_row(self, frame: _Frame, row_index: int, cursor: Coordinate, hover: Coordinate) -> list[Segment] | None:
        """One line of a row: each cell cut to its column and padded, then the blank to the table's right edge."""
        if row_index >= 0:
            row = self.rows.get(self._row_locations.get_key(row_index))  # type: ignore[arg-type]
            if row is None or row.height != 1:
                return None
        cells = self._get_row_renderables(row_index).cells
        if len(cells) != len(frame.widths) or not all(_one_line(cell) for cell in cells):
            return None
        row_style = frame.row_styles.get(row_index if row_index < 0 else row_index % 2)
        if row_style is None:
            row_style = frame.row_styles[row_index if row_index < 0 else row_index % 2] = self._get_row_style(
                row_index, frame.base
            )
        highlight, cursor_type = self._should_highlight, self.cursor_type
        segments: list[Segment] = []
        for column_index, (cell, width) in enumerate(zip(cells, frame.widths, strict=True)):
            at = Coordinate(row_index, column_index)
            styles = self._cell_styles(
                frame, row_index == -1, highlight(cursor, at, cursor_type), highlight(hover, at, cursor_type)
            )
            segments += self._draw_cell(
                frame, cast(Text, cell), width, row_style + cell_meta(row_index, column_index) + styles[0], styles[1]
            )
        segments.append(
            Segment(" " * frame.blank, self._extend_style(row_index, row_style, hover))
        )  # even empty, as DataTable
        return segments

    def _cell_styles(self, frame: _Frame, header: bool, cursor: bool, hover: bool) -> tuple[Style, Style]:
        """A cell's cursor (or hover) style and the style laid over its text, once per kind of cell a frame."""
        styles = frame.cell_styles.get((header, cursor, hover))
        if styles is None:
            styles = frame.cell_styles[header, cursor, hover] = self._get_styles_to_render_cell(
                header,
                False,
                False,
                hover,
                cursor,
                self.show_cursor,
                self._show_hover_cursor,
                self.cursor_foreground_priority == "css",
                self.cursor_background_priority == "css",
            )
        return styles

    def _draw_cell(self, frame: _Frame, cell: Text, width: int, pre: Style, post: Style) -> list[Segment]:
        """One cell of ``width`` cells: the padding, the Text cut to what is left (… where it says so), spaces."""
        pad = min(self.cell_padding, width // 2)
        inner = width - 2 * pad
        text = cell
        if cell.cell_len > inner:
            text = cell.copy()
            text.truncate(inner, overflow=cell.overflow or "fold")
        console = frame.console
        own = console.get_style(text.style, default="")
        room = inner - text.cell_len
        if not text._spans and not own:  # most cells: one segment, padding and all
            line = f"{' ' * pad}{text.plain}{' ' * max(room, 0)}{' ' * pad}"
            return [Segment(line, pre + post)] if line else []
        parts = [Segment(" " * pad)] if pad else []
        parts += Segment.apply_style(text.render(console, end=""), own)
        if room > 0:
            parts.append(Segment(" " * room))
        if pad:
            parts.append(Segment(" " * pad))
        return list(Segment.apply_style([s for s in parts if s.text], pre, post))

    def _extend_style(self, row_index: int, row_style: Style, hover_location: Coordinate) -> Style:
        """The style of the blank to the right of the last column (DataTable's, for a row cursor)."""
        if self.cursor_type == "row":
            extend, _ = self._get_styles_to_render_cell(
                row_index == -1,
                False,
                False,
                self._should_highlight(hover_location, Coordinate(row_index or 0, 0), self.cursor_type),
                row_index == self.cursor_coordinate.row,
                self.show_cursor,
                self._show_hover_cursor,
                False,
                False,
            )
            style = row_style + extend
        elif row_style.bgcolor is not None:
            faded = Color.from_rich_color(row_style.bgcolor).blend(self.background_colors[1], factor=0.25)
            style = Style.from_color(color=row_style.color, bgcolor=faded.rich_color)
        else:
            style = Style.from_color(row_style.color, row_style.bgcolor)
        return style + Style.from_meta({"row": row_index, "column": 0, "out_of_bounds": True})

    def _update_dimensions(self, new_rows: Iterable[RowKey]) -> None:
        general = []
        for row_key in new_rows:
            index, row = self._row_locations.get(row_key), self.rows.get(row_key)
            if index is None or row is None:
                continue
            cells = self._get_row_renderables(index).cells
            if row.label is not None or row.auto_height or not all(_one_line(cell) for cell in cells):
                general.append(row_key)
                continue
            for column, cell in zip(self.ordered_columns, cells, strict=False):
                column.content_width = max(column.content_width, cast(Text, cell).cell_len)
        super()._update_dimensions(general)  # and the table's new size


@dataclass
class _Frame:
    """What the lines of one frame of a FastTable share."""

    base: Style
    width: int
    scroll_x: int
    scroll_y: int
    widths: list[int]  # each column's, in order
    blank: int  # cells right of the last column
    console: Console
    row_styles: dict[int, Style]  # header (-1), even and odd rows
    cell_styles: dict[tuple[bool, bool, bool], tuple[Style, Style]]  # (header, cursor, hover)


_METAS: dict[tuple[int, int], Style] = {}


def cell_meta(row: int, column: int) -> Style:
    """A cell's mouse metadata (which row and column a click is on), made once: each takes a marshal."""
    style = _METAS.get((row, column))
    if style is None:
        if len(_METAS) > 4096:
            _METAS.clear()
        style = _METAS[row, column] = Style.from_meta({"row": row, "column": column})
    return style


def _plain(cell: Text | str) -> Text:
    """A cell as Text, its characters as they are: DataTable reads a str cell as markup (a 20-row page of search
    results spent 3-4 ms of a keypress parsing it on a loaded machine, and a name with "[" in it would be misread)."""
    return Text(cell, end="") if isinstance(cell, str) else cell


def _one_line(cell: object) -> bool:
    """A Text of one line, aligned left: drawn and measured without Rich's general layout."""
    return isinstance(cell, Text) and cell.justify in (None, "default", "left") and "\n" not in cell.plain


class PagedTable(Vertical):
    """Rows in pages, with "page 2 / 250 · 5,000 rows" under them."""

    DEFAULT_CLASSES = "paged"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("pagedown,right_square_bracket", "page(1)", "key.next_page", show=False),
        Binding("pageup,left_square_bracket", "page(-1)", "key.previous_page", show=False),
    ]

    class Chosen(Message):
        """A row was chosen (Enter or a click)."""

        def __init__(self, table: PagedTable, key: str) -> None:
            super().__init__()
            self.table = table
            self.key = key

        @property
        def control(self) -> PagedTable:
            """The table the row belongs to."""
            return self.table

    class Highlighted(Message):
        """The cursor moved to a row."""

        def __init__(self, table: PagedTable, key: str) -> None:
            super().__init__()
            self.table = table
            self.key = key

        @property
        def control(self) -> PagedTable:
            """The table the row belongs to."""
            return self.table

    def __init__(self, *, page_size: int = 12, fit: bool = True, id: str | None = None) -> None:
        super().__init__(id=id)
        self.page_size = page_size
        self.fit = fit
        self.page = 0
        self.rows: list[Row] = []
        self.columns: list[str] = []
        self.empty_text = ""
        self.page_text = "{page}/{pages} · {rows}"
        self._line = Text()  # what the page line shows

    def compose(self) -> ComposeResult:
        table = FastTable(cursor_type="row", zebra_stripes=True)
        yield table
        yield Static(classes="page-line")

    @property
    def table(self) -> DataTable[Text | str]:
        """The DataTable showing the page."""
        return self.query_one(DataTable)

    @property
    def pages(self) -> int:
        """How many pages."""
        return max(1, -(-len(self.rows) // self.page_size))

    def set_rows(self, columns: list[str], rows: list[Row], *, keep_page: bool = False) -> None:
        """Replace the rows (and the column titles, already translated).

        With ``keep_page`` the cursor of a focused table stays on the row it was on (rows pushed in
        above it move the page, never the highlighted row); a row that went away leaves the cursor at
        its place. A table without the focus shows its first rows, the cursor on the top one.
        """
        focused = self.table.has_focus
        held = self.current_key if keep_page and focused else None
        if not focused:
            self.page = 0
            self.table.move_cursor(row=0)
        self.columns, self.rows = columns, rows
        if not keep_page:
            self.page = 0
        at = next((i for i, (key, _) in enumerate(rows) if key == held), None) if held is not None else None
        if at is not None:
            self.page = at // self.page_size
        self.page = min(self.page, self.pages - 1)
        self._show(None if at is None else at % self.page_size)

    def _show(self, row: int | None = None) -> None:
        table = self.table
        cursor = table.cursor_row if row is None else row
        same_columns = [str(c.label) for c in table.columns.values()] == self.columns
        table.clear(columns=not same_columns)  # the titles stay when they are the same (a search keypress)
        if not same_columns:
            table.add_columns(*self.columns)
        start = self.page * self.page_size
        for key, cells in self.rows[start : start + self.page_size]:
            table.add_row(*map(_plain, cells), key=key)
        if table.row_count:
            table.move_cursor(row=min(max(cursor, 0), table.row_count - 1))
        if not self.rows:
            self._page_line(Text(self.empty_text, style="dim"))
        else:
            self._page_line(Text(fill(self.page_text, page=self.page + 1, pages=self.pages, rows=len(self.rows))))

    def _page_line(self, text: Text) -> None:
        """The line under the rows, updated only when it says something else: each update lays the screen out."""
        if text != self._line:
            self._line = text
            self.query_one(".page-line", Static).update(text)

    def move_to(self, key: str) -> None:
        """Put the cursor on the row with this key, turning to its page (nothing if there is none)."""
        at = next((i for i, (row_key, _) in enumerate(self.rows) if row_key == key), None)
        if at is not None:
            self.page = at // self.page_size
            self._show(at % self.page_size)

    def on_resize(self) -> None:
        """With ``fit``, a page is as many rows as the table has room for."""
        if not self.fit or self.size.height < 4:
            return
        rows = self.size.height - 2  # the column titles and the page line
        if rows != self.page_size:
            first = self.page * self.page_size
            self.page_size = rows
            self.page = first // rows
            if self.rows:
                self._show()

    def action_page(self, step: int) -> None:
        """Turn a page."""
        page = min(max(self.page + step, 0), self.pages - 1)
        if page != self.page:
            self.page = page
            self._show()

    @property
    def current_key(self) -> str | None:
        """The key of the row under the cursor."""
        table = self.table
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return str(key) if key is not None else None

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.row_key.value is not None:
            self.post_message(self.Chosen(self, str(event.row_key.value)))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        if event.row_key.value is not None:
            self.post_message(self.Highlighted(self, str(event.row_key.value)))
