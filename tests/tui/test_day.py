"""The village doctor's day, key by key: each task of issue 11's table is walked with the pilot and its keys
counted (a key is one press a person makes; typed letters count one each)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.widgets import Input, Select, SelectionList

from clinic_agent.model import EntryKind
from tests.tui.conftest import Daemon
from tests.tui.helpers import screen_name, sign_in, until, visible_text
from tui.app import ClinicApp

MakeApp = Callable[..., ClinicApp]


class Keys:
    """Presses keys through the pilot and counts them."""

    def __init__(self, pilot: Any) -> None:
        self.pilot = pilot
        self.count = 0

    async def __call__(self, *keys: str) -> None:
        self.count += len(keys)
        await self.pilot.press(*keys)


def resident_id(daemon: Daemon, name: str) -> str:
    daemon.agent.refresh_index()
    return daemon.agent.index.search(name)[0].resident_id


async def open_file(pilot: Any, query: str) -> None:
    await pilot.press(*query)
    await until(pilot, lambda: bool(pilot.app.screen.matches))
    await pilot.press("enter")
    await until(pilot, lambda: screen_name(pilot) == "ResidentScreen" and bool(pilot.app.screen.file))


async def test_every_form_opens_with_its_first_field_focused(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await sign_in(pilot)
        await open_file(pilot, "田玉梅")
        for tab, first in (("3", "i-code"), ("4", "i-code"), ("5", "i-category"), ("6", "i-relation"), ("8", "i-text")):
            await pilot.press(tab, "a")
            await until(pilot, lambda: screen_name(pilot) == "EntryFormScreen")
            focused = app.focused
            assert isinstance(focused, Input | Select | SelectionList), (tab, focused)
            assert focused.id == first
            await pilot.press("escape")
            await until(pilot, lambda: screen_name(pilot) == "ResidentScreen")
        await pilot.press("h")
        await until(pilot, lambda: screen_name(pilot) == "FollowUpScreen")
        assert app.focused is not None and app.focused.id == "i-sbp"  # noqa: PT018  (before the prefill arrives)


async def test_allergy_from_the_list_in_four_keys(make_app: MakeApp, daemon: Daemon) -> None:
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await sign_in(pilot)
        await open_file(pilot, "田玉梅")
        keys = Keys(pilot)
        await keys("3", "a")  # the allergies tab, add
        await until(pilot, lambda: screen_name(pilot) == "EntryFormScreen")
        await keys("1")  # 1 青霉素 (fills the substance; category and status have their usual values)
        await keys("ctrl+s")
        await until(pilot, lambda: screen_name(pilot) == "ResidentScreen" and "青霉素" in visible_text(app))
        assert keys.count == 4  # the goal is ≤ 5 (7 before)
    entries, _ = daemon.agent.store.entries.for_resident(resident_id(daemon, "田玉梅"), EntryKind.ALLERGY)
    assert [(e.substance, e.code) for e in entries] == [("青霉素", "2")]  # type: ignore[attr-defined]


async def test_family_history_in_five_keys(make_app: MakeApp, daemon: Daemon) -> None:
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await sign_in(pilot)
        await open_file(pilot, "田玉梅")
        keys = Keys(pilot)
        await keys("6", "a")
        await until(pilot, lambda: screen_name(pilot) == "EntryFormScreen")
        await keys("2")  # 2 母亲; four relations: the focus moves on by itself
        await keys("6")  # 6 脑卒中 (no option 60: moves on too)
        await keys("ctrl+s")
        await until(pilot, lambda: screen_name(pilot) == "ResidentScreen" and "脑卒中" in visible_text(app))
        assert keys.count == 5  # the goal is ≤ 8 (13 before)
    entries, _ = daemon.agent.store.entries.for_resident(resident_id(daemon, "田玉梅"), EntryKind.FAMILY_HISTORY)
    assert [(e.relation, e.condition) for e in entries] == [("mother", "脑卒中")]  # type: ignore[attr-defined]


async def test_escape_on_a_changed_form_asks_first(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await sign_in(pilot)
        await open_file(pilot, "田玉梅")
        await pilot.press("8", "a")
        await until(pilot, lambda: screen_name(pilot) == "EntryFormScreen")
        await pilot.press("escape")  # nothing typed: closes at once
        await until(pilot, lambda: screen_name(pilot) == "ResidentScreen")
        await pilot.press("a", *"头晕三天")
        await until(pilot, lambda: screen_name(pilot) == "EntryFormScreen")
        await pilot.press("escape")
        await until(pilot, lambda: screen_name(pilot) == "ConfirmScreen")
        assert "放弃这张表里已填写的内容" in visible_text(app)
        await pilot.press("n")
        await until(pilot, lambda: screen_name(pilot) == "EntryFormScreen")
        assert app.screen.query_one("#i-text", Input).value == "头晕三天"
        await pilot.press("escape", "y")
        await until(pilot, lambda: screen_name(pilot) == "ResidentScreen")


async def test_a_refused_value_suggests_nothing_and_the_cursor_goes_to_it(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await sign_in(pilot)
        await open_file(pilot, "田玉梅")
        await pilot.press("h")
        await until(pilot, lambda: screen_name(pilot) == "FollowUpScreen" and bool(app.screen.prefill))
        app.screen.query_one("#i-sbp", Input).value = ""
        await pilot.press(*"400")
        await until(pilot, lambda: "400" in visible_text(app))
        assert "紧急转诊" not in visible_text(app)
        app.screen.query_one("#i-dbp", Input).focus()
        await pilot.press("ctrl+s")
        await until(pilot, lambda: "光标已移到第一处" in visible_text(app))
        assert app.focused is not None and app.focused.id == "i-sbp"  # noqa: PT018
