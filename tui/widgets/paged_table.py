"""A table that shows one page at a time: 5,000 readings stay a list in memory, never 5,000 table rows.

A DataTable's first render costs about 75 µs per row (measured on the reference 2-core machine), so only the rows of the
page on screen are ever added. PageUp/PageDown (and [ ]) turn pages; Enter chooses a row.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import ClassVar, cast

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.color import Color
from textual.containers import Vertical
from textual.coordinate import Coordinate
from textual.geometry import Region
from textual.message import Message
from textual.strip import Strip
from textual.widgets import DataTable, Static
from textual.widgets.data_table import RowKey

from tui.i18n import fill

Row = tuple[str, Sequence[Text | str]]  # (key, cells)


class FastTable(DataTable[Text | str]):
    """A DataTable that draws a one-line cell of plain Text itself, without Rich's general layout.

    DataTable hands every cell to ``console.render_lines(Styled(Padding(cell)))``, which wraps, measures and
    crops a one-line cell as if it could be a paragraph: about 1 ms a cell on a loaded 2-core machine, so the
    120 cells of a page of search results took 110-230 ms to draw after every keypress. Cutting the Text to
    the column's width and padding it gives the same characters and styles in a tenth of the time; anything
    else (a row taller than one line, a cell that is not Text, a wrapped or justified Text) goes the general
    way. The render cache is DataTable's own (the result is stored under the same key). Measuring the new rows'
    columns takes the same short way: a one-line Text is as wide as its cells.
    """

    _frame_styles: dict[tuple[int, Style], Style]

    def render_lines(self, crop: Region) -> list[Strip]:
        self._frame_styles = {}  # a row's style is the same for every row of its kind while one frame is drawn
        return super().render_lines(crop)

    def _get_row_style(self, row_index: int, base_style: Style) -> Style:
        kind = -1 if row_index == -1 else -2 if row_index < self.fixed_rows else row_index % 2
        memo: dict[tuple[int, Style], Style] = getattr(self, "_frame_styles", {})
        style = memo.get((kind, base_style))
        if style is None:
            style = memo[kind, base_style] = super()._get_row_style(row_index, base_style)
        return style

    def _render_line_in_row(
        self,
        row_key: RowKey,
        line_no: int,
        base_style: Style,
        cursor_location: Coordinate,
        hover_location: Coordinate,
    ) -> tuple[list[list[Segment]], list[list[Segment]]]:
        """DataTable's own, less the header style it works out for every line and uses only for row labels and fixed
        columns (this table has neither)."""
        if (self._labelled_row_exists and self.show_row_labels) or self.fixed_columns:
            return super()._render_line_in_row(row_key, line_no, base_style, cursor_location, hover_location)
        cursor_type = self.cursor_type
        cache_key = (
            row_key,
            line_no,
            base_style,
            cursor_location,
            hover_location,
            cursor_type,
            self.show_cursor,
            self._show_hover_cursor,
            self._update_count,
            self._pseudo_class_state,
        )
        cached = self._row_render_cache.get(cache_key)
        if cached is not None:
            return cached
        row_index = self._row_locations.get(row_key)
        row_index = -1 if row_index is None else row_index
        row_style = self._get_row_style(row_index, base_style)
        highlight = self._should_highlight
        line = [
            self._render_cell(
                row_index,
                column_index,
                row_style,
                column.get_render_width(self),
                cursor=highlight(cursor_location, Coordinate(row_index, column_index), cursor_type),
                hover=highlight(hover_location, Coordinate(row_index, column_index), cursor_type),
            )[line_no]
            for column_index, column in enumerate(self.ordered_columns)
        ]
        line.append(
            [
                Segment(
                    " " * max(0, self.size.width - self._table_width()),
                    self._extend_style(row_index, row_style, hover_location),
                )
            ]
        )
        pair: tuple[list[list[Segment]], list[list[Segment]]] = ([], line)
        self._row_render_cache[cache_key] = pair
        return pair

    def _table_width(self) -> int:
        return sum(column.get_render_width(self) for column in self.ordered_columns) + self._row_label_column_width

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

    def _render_cell(
        self,
        row_index: int,
        column_index: int,
        base_style: Style,
        width: int,
        cursor: bool = False,
        hover: bool = False,
    ) -> list[list[Segment]]:
        cell = self._one_line_cell(row_index, column_index)
        row_key = self._header_row_key if row_index == -1 else self._row_locations.get_key(row_index)
        column_key = self._column_locations.get_key(column_index)
        if cell is None or row_key is None or column_key is None:
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        key = (
            row_key,
            column_key,
            base_style,
            cursor,
            hover,
            self._show_hover_cursor,
            self._update_count,
            self._pseudo_class_state,
        )
        cached = self._cell_render_cache.get(key)
        if cached is None:
            cached = self._cell_render_cache[key] = [
                self._draw(cell, row_index, column_index, base_style, width, cursor, hover)
            ]
        return cached

    def _one_line_cell(self, row_index: int, column_index: int) -> Text | None:
        """The cell's Text when it can be drawn the short way (a one-line row of a plain, left-aligned Text)."""
        if column_index < 0 or self.fixed_rows or self.fixed_columns:
            return None
        if row_index >= 0:
            row = self.rows.get(self._row_locations.get_key(row_index))  # type: ignore[arg-type]
            if row is None or row.height != 1:
                return None
        elif self.header_height != 1:
            return None
        cells = self._get_row_renderables(row_index).cells
        cell = cells[column_index] if column_index < len(cells) else None
        return cell if isinstance(cell, Text) and _one_line(cell) else None

    def _draw(
        self, cell: Text, row_index: int, column_index: int, base: Style, width: int, cursor: bool, hover: bool
    ) -> list[Segment]:
        """One line of ``width`` cells: the padding, the Text cut to what is left (… where it says so), spaces."""
        component, post = self._get_styles_to_render_cell(
            row_index == -1,
            False,
            False,
            hover,
            cursor,
            self.show_cursor,
            self._show_hover_cursor,
            self.cursor_foreground_priority == "css",
            self.cursor_background_priority == "css",
        )
        pre = base + Style.from_meta({"row": row_index, "column": column_index}) + component
        pad = min(self.cell_padding, width // 2)
        inner = width - 2 * pad
        text = cell.copy()
        text.truncate(inner, overflow=cell.overflow or "fold")
        console = self.app.console
        segments = list(Segment.apply_style(text.render(console, end=""), console.get_style(text.style, default="")))
        room = inner - text.cell_len
        segments = [Segment(" " * pad), *segments, *([Segment(" " * room)] if room > 0 else []), Segment(" " * pad)]
        return list(Segment.apply_style([s for s in segments if s.text], pre, post))


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
            table.add_row(*cells, key=key)
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
