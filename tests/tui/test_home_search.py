"""Home's search as you type: the results replace the lists of the day with their answer, and only the newest key's."""

from __future__ import annotations

import asyncio
import gc
import weakref
from typing import Any

from textual.widgets import Input

from tests.tui.fake_api import LOOKUP_MATCH, FakeApi
from tests.tui.helpers import screen_name, sign_in, until, visible_text
from tui.app import ClinicApp
from tui.widgets.result_list import ResultList


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


async def signed_in_and_searched(pilot: Any, letter: str) -> Any:
    """Sign in, type one letter on home, and wait for its results: home."""
    await sign_in(pilot)
    home = pilot.app.screen
    await pilot.press(letter)
    await until(pilot, lambda: home.matched_text == letter)
    return home


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
        assert home.query_one("#lists").display  # the letter's answer has not come: home as it was
        api.held[0].set()
        await pilot.pause(0.2)
        assert home.query_one("#lists").display  # the answer came for a box now empty: dropped
        assert home.matched_text == ""

        search.value = "lxy"
        await until(pilot, lambda: len(api.held) == 2)
        api.held[1].set()
        await until(pilot, lambda: home.matched_text == "lxy")
        assert not home.query_one("#lists").display  # the results, uncovered
        assert "龙秀英" in visible_text(app)


def frames_of(app: ClinicApp) -> list[tuple[str, str]]:
    """Every frame the app paints from now on, as (the text in the box, the text whose results home shows)."""
    frames: list[tuple[str, str]] = []
    display = app._display

    def painted(screen: Any, update: Any) -> None:
        display(screen, update)
        home: Any = app.screen
        if update is not None and hasattr(home, "matched_text"):
            frames.append((home.query_one("#search", Input).value, home.matched_text))

    app._display = painted  # type: ignore[method-assign]
    return frames


async def test_a_letter_and_its_results_are_painted_in_one_frame() -> None:
    app = ClinicApp(FakeApi())
    async with app.run_test(size=(100, 30)) as pilot:
        await sign_in(pilot)
        home: Any = app.screen
        await until(pilot, lambda: bool(home.summary))
        await pilot.pause(0.1)
        frames = frames_of(app)
        await pilot.press("l")
        await until(pilot, lambda: home.matched_text == "l")
        await pilot.pause(0.1)
        assert frames, "nothing painted after the letter"
        assert frames[0] == ("l", "l"), f"the letter was painted before its results: {frames}"


async def test_a_letter_whose_answer_is_slow_is_still_painted_at_once() -> None:
    api = HeldLookups()
    app = ClinicApp(api)
    async with app.run_test(size=(100, 30)) as pilot:
        await sign_in(pilot)
        home: Any = app.screen
        await until(pilot, lambda: bool(home.summary))
        frames = frames_of(app)
        await pilot.press("l")
        await until(pilot, lambda: len(api.held) == 1)
        await pilot.pause(0.3)  # the hold lasts 50 ms
        assert ("l", "") in frames, f"the letter waited for a daemon that did not answer: {frames}"
        api.held[0].set()
        await until(pilot, lambda: home.matched_text == "l")
        await pilot.pause(0.1)
        assert frames[-1] == ("l", "l")
        assert "龙秀英" in visible_text(app)


async def test_tab_from_the_empty_box_skips_the_results_under_the_lists() -> None:
    app = ClinicApp(FakeApi())
    async with app.run_test(size=(100, 30)) as pilot:
        await sign_in(pilot)
        home: Any = app.screen
        await until(pilot, lambda: bool(home.summary))
        await pilot.press("tab")
        assert app.focused is not None
        assert app.focused.parent is home.query_one("#today")
        await pilot.press("escape", "l")
        await until(pilot, lambda: home.matched_text == "l")
        await pilot.press("down")
        assert app.focused is not None
        assert app.focused.parent is home.query_one("#results")


class TwoMatches(FakeApi):
    """Every search finds two residents."""

    async def call(self, method: str, params: dict[str, Any] | None = None) -> Any:
        if method == "resident.lookup":
            return {"matches": [LOOKUP_MATCH, {**LOOKUP_MATCH, "id": "r-2", "name": "龙秀兰"}]}
        return await super().call(method, params)


async def test_down_to_the_second_result_and_enter_opens_that_resident() -> None:
    app = ClinicApp(TwoMatches())
    async with app.run_test(size=(100, 30)) as pilot:
        await signed_in_and_searched(pilot, "l")
        await pilot.press("down", "down")  # into the results, then to the second row
        assert isinstance(app.focused, ResultList)
        assert app.focused.current_key == "r-2"
        await pilot.press("up", "down", "enter")
        await until(pilot, lambda: type(app.screen).__name__ == "ResidentScreen")
        assert app.screen.resident_id == "r-2"


async def test_page_down_in_the_results_at_80_by_24_reaches_the_last_of_twenty() -> None:
    app = ClinicApp(Twenty())
    async with app.run_test(size=(80, 24)) as pilot:
        await signed_in_and_searched(pilot, "l")
        await pilot.press("down", "pagedown", "pagedown", "pagedown")
        assert isinstance(app.focused, ResultList)
        assert app.focused.current_key == "r-19"
        assert "…080019" in visible_text(app)


class Twenty(FakeApi):
    """Every search finds twenty residents, more than home shows at 80x24."""

    async def call(self, method: str, params: dict[str, Any] | None = None) -> Any:
        if method == "resident.lookup":
            return {
                "matches": [
                    {**LOOKUP_MATCH, "id": f"r-{i}", "id_number": f"5222291951030800{i:02d}"} for i in range(20)
                ]
            }
        return await super().call(method, params)


async def test_home_is_left_out_of_garbage_collection_and_freed_after_a_lock() -> None:
    """A full collection walked all the app held and fell into a keypress (50-120 ms): what home holds is frozen
    once home is up, and a lock and a sign-in let go of the home screen of the session before."""
    app = ClinicApp(FakeApi())
    async with app.run_test(size=(100, 30)) as pilot:
        await sign_in(pilot)
        first = weakref.ref(app.screen)
        await until(pilot, lambda: not any(o is first() for o in gc.get_objects()))  # frozen: not walked
        await pilot.press("ctrl+l")
        await until(pilot, lambda: screen_name(pilot) == "LockScreen")
        await pilot.press("enter")
        await until(pilot, lambda: screen_name(pilot) == "SignInScreen")
        await pilot.press(*"246810", "enter")  # the PIN box has the focus, the user's name filled in
        await until(pilot, lambda: screen_name(pilot) == "HomeScreen")
        await until(pilot, lambda: first() is None)  # the old home, frozen with its session, is collected
        home: Any = app.screen
        await pilot.press("l")
        await until(pilot, lambda: home.matched_text == "l")
        assert "龙秀英" in visible_text(app)


class Varying(FakeApi):
    """A search finds one, two or three residents, as its text is long."""

    async def call(self, method: str, params: dict[str, Any] | None = None) -> Any:
        if method == "resident.lookup":
            n = 1 + len((params or {}).get("text", "")) % 3
            return {
                "matches": [{**LOOKUP_MATCH, "id": f"r-{i}", "id_number": f"5222291951030800{i:02d}"} for i in range(n)]
            }
        return await super().call(method, params)


async def test_a_search_longer_than_the_box_scrolls_to_its_end_and_lays_nothing_out() -> None:
    """Each letter laid the whole of home out: the box's text width, the line under the results saying how many
    were found. Both have a fixed size: they lay nothing out, and the box still scrolls to its end."""
    app = ClinicApp(Varying())
    async with app.run_test(size=(80, 24)) as pilot:
        home = await signed_in_and_searched(pilot, "l")
        await pilot.pause(0.1)
        layouts: list[object] = []
        refresh_layout = home._refresh_layout

        def counted(*args: Any, **kwargs: Any) -> None:
            layouts.append(args)
            refresh_layout(*args, **kwargs)

        home._refresh_layout = counted
        await pilot.press(*"xyabcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyzEND")
        await until(pilot, lambda: home.matched_text.endswith("END"))
        await pilot.pause(0.1)
        assert "xyzEND" in visible_text(app)  # the box scrolled to the cursor
        assert "共 1 条" in visible_text(app)  # 60 characters searched (the box sends no more): one found
        assert layouts == []
