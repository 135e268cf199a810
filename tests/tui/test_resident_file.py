"""A resident's file: one device measurement is one row of its readings."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from tests.tui.conftest import Daemon
from tests.tui.helpers import sign_in, until, visible_text
from tests.tui.test_day import add_reading, open_file
from tui.app import ClinicApp
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
