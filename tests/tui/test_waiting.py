"""Waiting where the doctor looks: a slow answer shows what is on its way, and the screen fills in after."""

from __future__ import annotations

import asyncio
from datetime import date
from pathlib import Path
from typing import Any

import tui.app
from clinic_agent.core.errors import AccessDenied
from tests.tui.fake_api import FakeApi
from tests.tui.helpers import open_fake_file, screen_name, until, visible_text
from tui.app import ClinicApp
from tui.client import SignedIn
from tui.widgets.pending import Pending


class HeldApi(FakeApi):
    """The fake daemon, whose answers to some methods wait until the test lets them go."""

    def __init__(self, *held: str, users: int = 1) -> None:
        super().__init__()
        self.held = set(held)
        self.release = asyncio.Event()
        self.users = users

    async def call(self, method: str, params: dict[str, Any] | None = None) -> Any:
        if method in self.held:
            await self.release.wait()
        if method == "status":
            return {"outbox": {"pending": 0, "parked": 0}, "disk_low": False, "users": self.users}
        return await super().call(method, params)

    async def login(self, user: str, pin: str) -> SignedIn:
        if "login" in self.held:
            await self.release.wait()
        if self.users == 0:
            raise AccessDenied("wrong user name or PIN")
        return await super().login(user, pin)


def _app(api: FakeApi, language: str = "zh") -> ClinicApp:
    return ClinicApp(api, language=language, today=lambda: date(2026, 5, 20), status_seconds=3600)


async def test_a_slow_file_says_it_is_loading_then_shows_the_file() -> None:
    api = HeldApi("resident.file")
    app = _app(api)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press(*"doctor", "enter", *"246810", "enter")
        await until(pilot, lambda: type(app.screen).__name__ == "HomeScreen")
        await pilot.press(*"lxy")
        await until(pilot, lambda: bool(app.screen.matches))
        await pilot.press("enter")
        await until(pilot, lambda: "正在载入档案" in visible_text(app))
        assert "龙秀英" not in visible_text(app)
        api.release.set()
        await until(pilot, lambda: "龙秀英" in visible_text(app) and "正在载入档案" not in visible_text(app))


async def test_a_slow_conflicts_inbox_says_it_is_loading_then_shows_the_list() -> None:
    api = HeldApi("conflict.list")
    app = _app(api)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press(*"doctor", "enter", *"246810", "enter")
        await until(pilot, lambda: type(app.screen).__name__ == "HomeScreen")
        await pilot.press("f4")
        await until(pilot, lambda: "正在载入" in visible_text(app))
        api.release.set()
        await until(pilot, lambda: "正在载入" not in visible_text(app) and "没有冲突" in visible_text(app))


async def test_a_slow_prefill_says_so_while_blood_pressure_can_already_be_typed() -> None:
    api = HeldApi("followup.prefill")
    app = _app(api)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_fake_file(pilot)
        await pilot.press("h")
        await until(pilot, lambda: "正在读取今天的测量值和上次随访" in visible_text(app))
        await pilot.press(*"152")
        assert app.screen.query_one("#i-sbp").value == "152"  # type: ignore[attr-defined]
        api.release.set()
        await until(pilot, lambda: bool(app.screen.prefill))
        assert "正在读取" not in visible_text(app)
        assert app.screen.query_one("#i-sbp").value == "152"  # type: ignore[attr-defined]  # typed beats prefilled
        assert app.focused is app.screen.query_one("#i-sbp")  # the answer did not move the cursor
        assert app.screen.query_one("#i-dbp").value == "92"  # type: ignore[attr-defined]  # what was not typed is filled


async def test_the_follow_up_forms_first_frame_has_the_cursor_in_blood_pressure_and_its_later_fields_unmade(
    monkeypatch: Any,
) -> None:
    """The first frame showed the visit date focused (keys typed then went there), and the fifty later fields
    were made before it; and the garbage collector, off while the form is built, is on again once it is drawn."""
    import gc

    from tui.screens import followup

    made: list[str] = []  # the later sections, as they are made

    class Watched(followup.FollowUpScreen):
        def _made(self, section: str) -> list[Any]:
            made.append(section)
            return super()._made(section)

    monkeypatch.setattr(followup, "FollowUpScreen", Watched)
    app = _app(FakeApi())
    first: list[tuple[str | None, int, bool]] = []  # at the form's first frame: (focused, sections made, collector on)
    display = app._display

    def drawn(screen: Any, update: Any) -> None:
        display(screen, update)
        if not first and isinstance(app.screen, Watched) and update is not None:
            first.append((getattr(app.focused, "id", None), len(made), gc.isenabled()))

    app._display = drawn  # type: ignore[method-assign]
    async with app.run_test(size=(120, 40)) as pilot:
        await open_fake_file(pilot)
        assert gc.isenabled()
        await pilot.press("h")
        await until(pilot, lambda: isinstance(app.screen, Watched) and app.screen.built and app.screen.loaded)
        assert first == [("i-sbp", 0, False)]
        assert made[-2:] == ["fu.drugs", "fu.outcome"]  # made after it, and mounted
        assert app.screen.query_one("#i-med1_name")
        assert gc.isenabled()
        await pilot.press("escape", "y")
        await until(pilot, lambda: screen_name(pilot) == "ResidentScreen")
        assert gc.isenabled()


async def test_the_follow_up_form_paints_before_its_symptoms_list_and_blood_pressure_stays_put_when_it_comes() -> None:
    """The symptoms list was a third of the form's first frame: it comes a frame later, in a place held for it."""
    from tui.screens.followup import FollowUpScreen

    app = _app(FakeApi())
    first: list[tuple[bool, int]] = []  # at the first frame drawn with the focus in the form: (list there?, SBP's row)
    display = app._display

    def drawn(screen: Any, update: Any) -> None:  # what goes to the terminal, frame by frame
        display(screen, update)
        if not first and isinstance(app.screen, FollowUpScreen) and update is not None and app.focused is not None:
            first.append((bool(app.screen.query("#f-symptoms")), app.screen.query_one("#i-sbp").region.y))

    app._display = drawn  # type: ignore[method-assign]
    async with app.run_test(size=(120, 40)) as pilot:
        await open_fake_file(pilot)
        await pilot.press("h")
        await until(pilot, lambda: isinstance(app.screen, FollowUpScreen) and app.screen.built and bool(first))
        form: Any = app.screen
        await until(pilot, lambda: bool(form.query("#f-symptoms")))
        await pilot.pause()
        assert not first[0][0]  # the first frame was drawn without the list
        assert form.query_one("#i-sbp").region.y == first[0][1]  # and blood pressure did not move when it came
        assert app.focused is form.query_one("#i-sbp")


async def test_the_pin_check_says_so_and_no_account_says_how_to_make_one() -> None:
    api = HeldApi("login", users=0)
    app = _app(api, "en")
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: "clinic-agent user add" in visible_text(app))
        await pilot.press(*"doctor", "enter", *"246810", "enter")
        await until(pilot, lambda: "Checking…" in visible_text(app))
        api.release.set()
        await until(pilot, lambda: "Checking…" not in visible_text(app))
        assert type(app.screen).__name__ == "SignInScreen"
        assert "clinic-agent user add zhangwei --role doctor" in visible_text(app)


async def test_after_a_good_pin_the_sign_in_screen_says_home_is_opening_until_home_replaces_it() -> None:
    """Building home takes 0.7-1 s on a loaded machine after the PIN is accepted: the line says so meanwhile."""
    seen: list[str] = []

    class Watched(ClinicApp):
        CSS_PATH = str(Path(tui.app.__file__).with_name("app.tcss"))  # beside the app, not this test

        def signed_in_as(self, who: SignedIn) -> None:
            waiting = self.screen.query_one(Pending)
            seen.append(f"{waiting.key} {waiting.waits}")
            super().signed_in_as(who)

    app = Watched(FakeApi(), today=lambda: date(2026, 5, 20), status_seconds=3600)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press(*"doctor", "enter", *"246810", "enter")
        await until(pilot, lambda: type(app.screen).__name__ == "HomeScreen")
    assert seen == ["pending.home 1"]


async def test_a_prefilled_value_is_replaced_by_what_the_doctor_types_not_added_to() -> None:
    """The prefill put 146 in the focused systolic box and typing 152 gave 146152."""
    app = _app(FakeApi())
    async with app.run_test(size=(120, 40)) as pilot:
        await open_fake_file(pilot)
        await pilot.press("h")
        await until(pilot, lambda: bool(getattr(app.screen, "loaded", False)))
        assert app.screen.query_one("#i-sbp").value == "146"  # type: ignore[attr-defined]
        await pilot.press(*"152", "tab", *"88")
        assert app.screen.query_one("#i-sbp").value == "152"  # type: ignore[attr-defined]
        assert app.screen.query_one("#i-dbp").value == "88"  # type: ignore[attr-defined]  # Tab into 92, typed over
