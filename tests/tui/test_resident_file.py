"""A resident's file: one device measurement is one row of its readings, and each tab is built when first shown."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from tests.tui.conftest import Daemon
from tests.tui.fake_api import FakeApi, _bp
from tests.tui.helpers import settled, sign_in, until, visible_text
from tests.tui.test_day import add_reading, open_file
from tui.app import ClinicApp
from tui.screens.resident import TABS
from tui.widgets.paged_table import PagedTable

MakeApp = Callable[..., ClinicApp]


async def test_an_oximeter_measurement_is_one_row_of_the_files_readings(make_app: MakeApp, daemon: Daemon) -> None:
    daemon.agent.refresh_index()
    person = daemon.agent.index.search("吴国华")[0].resident_id
    before, _ = daemon.agent.store.readings.for_resident(person)
    taken = datetime.now(UTC).replace(microsecond=0).isoformat()  # the newest of the file
    for code, value, unit in (("59408-5", "93", "%"), ("8867-4", "81", "/min")):  # as an oximeter's frame is stored
        await add_reading(daemon, resident=person, code=code, value=value, unit=unit, device="oximeter", taken_at=taken)
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await sign_in(pilot)
        await open_file(pilot, "wgh")
        screen: Any = app.screen
        assert screen.resident_id == person
        await pilot.press("2")
        await until(pilot, lambda: any(table.rows for table in screen.query("#t-readings").results(PagedTable)))
        rows = screen.query_one("#t-readings", PagedTable).rows
        assert len(rows) == len(before) + 1  # the two stored readings of one measurement, one row
        whole = [row for row in rows if "血氧 93 %" in str(row[1][1])]
        assert [str(row[1][1]) for row in whole] == ["血氧 93 % · 脉搏 81 次/分"]
        assert "血氧 93 % · 脉搏 81 次/分" in visible_text(app)
        await pilot.press("1")  # the summary's last reading is the whole measurement too
        await until(pilot, lambda: "最近读数" in visible_text(app))
        assert "血氧 93 % · 脉搏 81 次/分" in visible_text(app)


def fake_app(language: str = "zh") -> ClinicApp:
    return ClinicApp(FakeApi(), language=language, today=lambda: date(2026, 5, 20), status_seconds=3600)


async def open_fake_file(pilot: Any) -> Any:
    await pilot.press(*"doctor", "enter", *"246810", "enter")
    await until(pilot, lambda: type(pilot.app.screen).__name__ == "HomeScreen")
    await pilot.press(*"lxy")
    await until(pilot, lambda: bool(pilot.app.screen.matches))
    await pilot.press("enter")
    await until(pilot, lambda: type(pilot.app.screen).__name__ == "ResidentScreen" and bool(pilot.app.screen.file))
    await settled(pilot)
    return pilot.app.screen


def filled(screen: Any, tab: str) -> int:
    """The rows of a tab's table, on all its pages (-1 when the tab holds no table yet)."""
    tables = screen.query_one(f"#{tab}").query(PagedTable)
    return len(tables.first().rows) if tables else -1


async def test_the_file_builds_the_tab_in_view_and_each_other_tab_when_first_shown() -> None:
    app = fake_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_fake_file(pilot)
        assert screen.built == {"summary"}
        assert [filled(screen, tab) for tab in TABS[1:]] == [-1] * (len(TABS) - 1)  # nothing built behind it
        assert "青霉素" in visible_text(app)
        for key, tab, rows in (("2", "readings", 7), ("3", "allergy", 1), ("9", "history", 2), ("2", "readings", 7)):
            await pilot.press(key)
            await until(pilot, lambda tab=tab, rows=rows: filled(screen, tab) == rows)  # filled from what was read
            await settled(pilot)
            assert screen.focused is screen.query_one(f"#t-{tab}", PagedTable).table
        assert screen.built == {"summary", "readings", "allergy", "history"}
        await pilot.press("f2")  # the built tabs are drawn again in the other language, the others when shown
        await until(pilot, lambda: "Values" in visible_text(app))
        await pilot.press("4")
        await until(pilot, lambda: filled(screen, "condition") == 1 and "I10" in visible_text(app))
        assert "Diagnosed" in visible_text(app)


async def test_a_file_opened_at_a_tab_builds_that_tab_first() -> None:
    app = fake_app("en")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press(*"doctor", "enter", *"246810", "enter")
        await until(pilot, lambda: type(pilot.app.screen).__name__ == "HomeScreen" and bool(pilot.app.screen.summary))
        await settled(pilot)
        home: Any = app.screen
        await home.open_resident("r-1", tab="follow_up")
        await until(pilot, lambda: type(app.screen).__name__ == "ResidentScreen" and bool(app.screen.file))
        await settled(pilot)
        screen: Any = app.screen
        assert screen.built == {"follow_up"}
        assert filled(screen, "follow_up") == 1
        await pilot.press("1")
        await until(pilot, lambda: "summary" in screen.built)
        await until(pilot, lambda: "Last follow-up" in visible_text(app))


async def test_the_file_is_asked_for_before_its_screen_is_built(monkeypatch: Any) -> None:
    """The answer travels while the widgets are mounted, so the first frame of the file can hold it (issue 11)."""
    from tui.screens.resident import ResidentScreen
    from tui.widgets.key_hints import KeyHints

    app = fake_app()
    asked_by_mount: list[int] = []
    on_mount = ResidentScreen.on_mount

    def mounted(self: ResidentScreen) -> None:
        asked_by_mount.append(sum(1 for method, _ in app.api.calls if method == "resident.file"))  # type: ignore[attr-defined]
        on_mount(self)

    monkeypatch.setattr(ResidentScreen, "on_mount", mounted)
    hints: list[object] = []
    compose = KeyHints.compose

    def counted(self: KeyHints):  # type: ignore[no-untyped-def]
        if type(self.screen).__name__ == "ResidentScreen":
            hints.append(self._bindings_ready)
        return compose(self)

    monkeypatch.setattr(KeyHints, "compose", counted)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_fake_file(pilot)
        assert asked_by_mount == [1]
        assert screen.file["resident"]["name"] == "龙秀英"
        # The key hints are built once with their keys (Textual's footer rebuilt them on every change of the
        # bindings as the screen opened: three times, each laying the screen out again).
        assert hints.count(True) == 1


class LongFile(FakeApi):
    """A resident with 1,000 readings: the file's first answer holds the newest it asks for, the second every one."""

    async def call(self, method: str, params: dict[str, Any] | None = None) -> Any:
        found = await super().call(method, params)
        if method == "resident.file":
            every = [_bp(i, 120 + i % 60, 80, f"2026-05-{1 + i % 28:02d}") for i in range(1000)]
            found["readings"] = every[: (params or {}).get("readings") or len(every)]
        return found


async def test_a_long_list_of_readings_is_made_into_rows_beside_the_ui_and_put_in_the_table_a_page_at_a_time(
    monkeypatch: Any,
) -> None:
    """Rows for 5,000 readings took 0.6-0.8 s of the UI's time: the screen shows the newest at once (issue 11)."""
    from tui.screens import resident

    made: list[tuple[int, bool]] = []  # (rows, on the UI's thread)
    make = resident._reading_rows

    def recorded(readings: list[dict[str, Any]], t: Any) -> Any:
        made.append((len(readings), threading.current_thread() is threading.main_thread()))
        return make(readings, t)

    monkeypatch.setattr(resident, "_reading_rows", recorded)
    app = ClinicApp(LongFile(), language="zh", today=lambda: date(2026, 5, 20), status_seconds=3600)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press(*"doctor", "enter", *"246810", "enter")
        await until(pilot, lambda: type(app.screen).__name__ == "HomeScreen" and bool(app.screen.summary))
        home: Any = app.screen
        await home.open_resident("r-1", tab="readings")
        await until(pilot, lambda: type(app.screen).__name__ == "ResidentScreen")
        screen: Any = app.screen
        await until(pilot, lambda: filled(screen, "readings") == 1000)
        await settled(pilot)
        assert made == [(resident.FIRST_READINGS, True), (1000, False)]  # the newest at once, every one in a thread
        table = screen.query_one("#t-readings", PagedTable)
        assert 0 < table.table.row_count <= table.page_size  # the table holds one page, never 1,000 rows
        assert "1000" in visible_text(app).replace(",", "")  # the page line counts them all


async def test_a_click_on_a_tabs_title_shows_that_tab() -> None:
    app = fake_app("en")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_fake_file(pilot)
        bar = screen.query_one("#tab-bar")
        titles = {tab: first for first, _, tab in bar._places}
        await pilot.click("#tab-bar", offset=(titles["allergy"] + 2, 0))
        await until(pilot, lambda: screen.tab == "allergy" and filled(screen, "allergy") == 1)
        assert "青霉素" in visible_text(app)
        assert screen.focused is screen.query_one("#t-allergy", PagedTable).table
        await pilot.click("#tab-bar", offset=(titles["readings"] + 2, 1))  # the underline is no title
        await pilot.pause()
        assert screen.tab == "allergy"
