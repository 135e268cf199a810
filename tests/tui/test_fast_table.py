"""FastTable draws a page of one-line rows itself: it must draw exactly what Textual's DataTable draws."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import App, ComposeResult
from textual.geometry import Region
from textual.widgets import DataTable

from tui.widgets.paged_table import FastTable, PagedTable, Row
from tui.widgets.result_list import ResultList

ROWS: list[list[Text | str]] = [
    [Text("欧阳秀英", style="bold"), "女", "1951-03-08", Text("松桃县 盘信镇 大塘村", no_wrap=True), "拼音"],
    [Text("Wu", style="bold"), "男", "1962-11-30", Text.assemble(("⚠", "bold red"), " 12:05"), "身份证"],
    [Text("[bold]as typed", overflow="ellipsis"), "女", "", Text("a village"), "电话"],
    ["plain", "男", "2001-01-01", "", "姓名"],
]


class Pair(App[None]):
    """A FastTable beside a DataTable of the same size and rows."""

    CSS = "DataTable { width: 50; height: 8; }"

    def compose(self) -> ComposeResult:
        yield FastTable(cursor_type="row", zebra_stripes=True, id="fast")
        yield DataTable(cursor_type="row", zebra_stripes=True, id="plain")


def _fill(table: DataTable[Any]) -> None:
    table.add_column("姓名", width=6)  # narrower than a name: it is cut
    table.add_columns("性别", "出生", "村", "匹配")
    for i, cells in enumerate(ROWS):
        table.add_row(*cells, key=str(i))
    table.move_cursor(row=1)


def _lines(table: DataTable[Any]) -> list[list[tuple[str, Any]]]:
    lines = table.render_lines(Region(0, 0, table.size.width, table.size.height))
    return [[(segment.text, segment.style) for segment in strip] for strip in lines]


async def test_fast_table_draws_what_data_table_draws() -> None:
    app = Pair()
    async with app.run_test(size=(60, 20)) as pilot:
        fast, plain = app.query_one("#fast", DataTable), app.query_one("#plain", DataTable)
        app.set_focus(None)
        _fill(fast)
        _fill(plain)
        await pilot.pause()
        assert fast.size == plain.size
        drawn = _lines(fast)
        assert drawn == _lines(plain)
        text = ["".join(t for t, _ in line) for line in drawn]
        assert "欧阳秀 " in text[1]  # cut to its column as DataTable cuts it
        assert "⚠ 12:05" in text[2]
        assert "[bold…" in text[3]
        for table in (fast, plain):  # focused, with the cursor moved by a key: the focus and cursor styles
            table.focus()
            await pilot.press("down")
            await pilot.pause()
            drawn = _lines(table)
        assert _lines(fast) != _lines(plain)  # only one has the focus now
        plain.blur()
        fast.focus()
        await pilot.pause()
        assert _lines(fast) == drawn


class Paged(App[None]):
    """A PagedTable alone."""

    def compose(self) -> ComposeResult:
        yield PagedTable(id="paged", page_size=5)


async def test_a_paged_table_shows_a_text_cell_as_typed_not_as_markup() -> None:
    app = Paged()
    async with app.run_test(size=(60, 10)) as pilot:
        paged = app.query_one(PagedTable)
        paged.set_rows(["name", "village"], [("r-1", ["[b]Wu[/b]", "[red]松桃[/]"])])
        await pilot.pause()
        drawn = "".join(text for line in _lines(paged.table) for text, _ in line)
        assert "[b]Wu[/b]" in drawn
        assert "[red]松桃[/]" in drawn


async def test_a_paged_table_shows_new_column_titles_of_the_same_number() -> None:
    app = Paged()
    async with app.run_test(size=(60, 10)) as pilot:
        paged = app.query_one(PagedTable)
        paged.set_rows(["name", "village"], [("r-1", ["Wu", "Songtao"])])
        await pilot.pause()
        paged.set_rows(["姓名", "村"], [("r-1", ["吴", "松桃"])])  # the language changed: the same columns, retitled
        await pilot.pause()
        drawn = "".join(text for line in _lines(paged.table) for text, _ in line)
        assert "姓名" in drawn
        assert "松桃" in drawn
        assert "village" not in drawn


class TwoLists(App[None]):
    """Two result lists of the same size."""

    CSS = "ResultList { height: 8; }"

    def compose(self) -> ComposeResult:
        yield ResultList(id="kept")
        yield ResultList(id="fresh")


def _drawn(shown: ResultList) -> list[list[tuple[str, Any, Any]]]:
    """Each line's segments: text, style, and mouse metadata (as a value: a style made from it has a random id)."""
    lines = shown.render_lines(Region(0, 0, shown.size.width, shown.size.height))
    return [
        [(s.text, s.style and s.style.clear_meta_and_links(), s.style and s.style.meta) for s in strip]
        for strip in lines
    ]


def _result_rows(*names: str) -> list[Row]:
    return [(f"r-{n}", [Text(n, style="bold"), "女", f"…{i:06d}"]) for i, n in enumerate(names)]


async def test_a_result_list_redrawn_in_place_draws_what_a_fresh_one_draws() -> None:
    """A new answer redraws only the lines that changed: what is left of the one before must not show through."""
    app = TwoLists()
    async with app.run_test(size=(60, 20)) as pilot:
        kept, fresh = app.query_one("#kept", ResultList), app.query_one("#fresh", ResultList)
        app.set_focus(None)  # neither has the focus (its tint)
        columns = ["姓名", "性别", "身份证"]
        kept.show(columns, _result_rows("欧阳秀英", "吴", "龙秀英", "张三", "李四"))
        await pilot.pause()
        plain = _drawn(kept)
        kept.action_move(3)
        await pilot.pause()
        moved = _drawn(kept)
        assert [y for y, line in enumerate(moved) if line != plain[y]] == [1, 4]  # the cursor's row before and now
        for shown in (kept, fresh):  # fewer rows, one the same, one restyled, the cursor back on the first
            shown.show(columns, [*_result_rows("欧阳秀英"), ("r-吴", [Text("吴", style="italic"), "女", "…000001"])])
            await pilot.pause()
        assert _drawn(kept) == _drawn(fresh)
        assert "张三" not in "".join(text for line in _drawn(kept) for text, _, _ in line)
        for shown in (kept, fresh):
            shown.show(["name", "sex", "ID"], shown.rows)  # retitled (F2): the header and the widths change
            await pilot.pause()
        kept.action_move(1)
        fresh.cursor = 1
        fresh.refresh()
        await pilot.pause()
        assert _drawn(kept) == _drawn(fresh)
        first = _result_rows("欧阳秀英", "吴", "龙秀英", "张三", "李四")
        kept.show(columns, first)  # the first answer again: its rows' lines as drawn then, the cursor moved since
        await pilot.pause()
        kept.focus()  # the focus's colours: not the lines drawn without it
        await pilot.pause()
        focused = _drawn(kept)
        kept.blur()
        fresh.show(columns, first)
        fresh.focus()
        await pilot.pause()
        assert focused == _drawn(fresh)
        assert focused[1] != _drawn(kept)[1]  # the cursor's row, with and without the focus
