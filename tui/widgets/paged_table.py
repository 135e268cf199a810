"""A table that shows one page at a time: 5,000 readings stay a list in memory, never 5,000 table rows.

A DataTable's first render costs about 75 µs per row (measured on the reference 2-core machine), so only the rows of the
page on screen are ever added. PageUp/PageDown (and [ ]) turn pages; Enter chooses a row.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import DataTable, Static

from tui.i18n import fill

Row = tuple[str, Sequence[Text | str]]  # (key, cells)


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
        table: DataTable[Text | str] = DataTable(cursor_type="row", zebra_stripes=True)
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
