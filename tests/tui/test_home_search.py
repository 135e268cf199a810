"""Home's search as you type: the results replace the lists of the day with their answer, and only the newest key's."""

from __future__ import annotations

import asyncio
from typing import Any

from textual.widgets import Input

from tests.tui.fake_api import FakeApi
from tests.tui.helpers import sign_in, until, visible_text
from tui.app import ClinicApp


class HeldLookups(FakeApi):
    """Answers each search only when the test lets it go, the oldest first."""

    def __init__(self) -> None:
        super().__init__()
        self.held: list[asyncio.Event] = []

    async def call(self, method: str, params: dict[str, Any] | None = None) -> Any:
        if method == "resident.lookup":
            gate = asyncio.Event()
            self.held.append(gate)
            await gate.wait()
        return await super().call(method, params)  # held against the contract there


async def test_a_search_answered_after_the_box_was_emptied_leaves_the_lists_of_the_day() -> None:
    api = HeldLookups()
    app = ClinicApp(api)
    async with app.run_test(size=(100, 30)) as pilot:
        await sign_in(pilot)
        home: Any = app.screen
        await until(pilot, lambda: bool(home.summary))
        search = home.query_one("#search", Input)
        search.value = "l"  # a letter and a backspace in one burst: the letter's search starts after both
        search.value = ""
        await until(pilot, lambda: len(api.held) == 1)
        assert home.query_one("#dashboard").display  # the letter's answer has not come: home as it was
        assert not home.query_one("#results").display
        api.held[0].set()
        await pilot.pause(0.2)
        assert home.query_one("#dashboard").display  # the answer came for a box now empty: dropped
        assert not home.query_one("#results").display
        assert home.matched_text == ""

        search.value = "lxy"
        await until(pilot, lambda: len(api.held) == 2)
        api.held[1].set()
        await until(pilot, lambda: home.matched_text == "lxy")
        assert home.query_one("#results").display
        assert not home.query_one("#dashboard").display
        assert "龙秀英" in visible_text(app)
