"""Keys typed ahead, as a real terminal delivers a quick typist's: each lands where it would have, typed slowly.

A terminal hands the app a burst of keys at once. Textual gives each key to the widget focused at the moment the
app reads it, but a key that moves the focus (Tab on a list, a key that opens a screen) does so only once it has
travelled up to the app's bindings: the keys behind it went to the old field. And a screen's worker that focuses a
field when its data arrives took the focus back from where the doctor had already moved it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from textual import events
from textual.pilot import Pilot
from textual.widgets import Input

from tests.tui.conftest import Daemon
from tests.tui.helpers import screen_name, settled, sign_in, until
from tests.tui.test_flows import open_file
from tui.app import ClinicApp
from tui.widgets.fields import Field, SelectField

MakeApp = Callable[..., ClinicApp]
TARGET = ("Organization/4401", "铜仁市人民医院 心内科")


def burst(app: ClinicApp, *keys: str) -> None:
    """Keys as a terminal delivers a quick typist's: all queued at once, none waiting for the one before."""
    named = {"enter": "\r", "tab": "\t", "escape": "\x1b", "space": " "}
    for key in keys:
        character = key if len(key) == 1 else named.get(key)
        app.post_message(events.Key(key, character))


async def request_form(pilot: Pilot[Any], daemon: Daemon) -> None:
    daemon.agent.config = dataclasses.replace(daemon.agent.config, consultation_targets=(TARGET,))
    await sign_in(pilot)
    await open_file(pilot, "田玉梅")
    await pilot.press("q")
    await until(pilot, lambda: screen_name(pilot) == "ConsultRequestScreen" and bool(pilot.app.screen.attachments))
    await settled(pilot)


async def test_tab_tab_2_in_one_burst_chooses_the_urgency_not_the_question(make_app: MakeApp, daemon: Daemon) -> None:
    """The issue's case: "Tab Tab 2" typed fast on the request form put 2 into the question box."""
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await request_form(pilot, daemon)
        await pilot.press(*"BP 170")
        burst(app, "tab", "tab", "2")
        await until(pilot, lambda: app.screen.query_one("#f-urgency", SelectField).value == "urgent")
        await settled(pilot)
        assert app.screen.query_one("#f-question", Field).value == "BP 170"
        assert app.screen.query_one("#f-phrase", SelectField).value is None


async def test_keys_typed_while_the_request_form_opens_go_into_its_question(make_app: MakeApp, daemon: Daemon) -> None:
    """``q`` and the question right behind it: every letter in the question box, in order, none lost to the file."""
    daemon.agent.config = dataclasses.replace(daemon.agent.config, consultation_targets=(TARGET,))
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await sign_in(pilot)
        await open_file(pilot, "田玉梅")
        await settled(pilot)
        burst(app, "q", *"abc 123")
        await until(pilot, lambda: screen_name(pilot) == "ConsultRequestScreen" and bool(app.screen.attachments))
        await settled(pilot)
        assert app.screen.query_one("#f-question", Field).value == "abc 123"


async def test_a_search_typed_with_the_pin_lands_in_the_search_box(make_app: MakeApp) -> None:
    """PIN, Enter and a name in one burst: home mounts meanwhile, and the name is in its search box, whole."""
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: screen_name(pilot) == "SignInScreen")
        burst(app, *"doctor", "enter", *"246810", "enter", *"lxy")
        await until(pilot, lambda: screen_name(pilot) == "HomeScreen")
        await settled(pilot)
        assert app.screen.query_one("#search", Input).value == "lxy"


async def test_suggestions_arriving_late_leave_the_focus_where_the_doctor_typed() -> None:
    """The assign dialog focuses its list of suggested residents when they come; a doctor who has started typing a
    name meanwhile keeps typing into the search box."""
    import asyncio
    from datetime import date

    from tests.tui.fake_api import LOOKUP_MATCH, READINGS, FakeApi, checked
    from tui.screens.assign import AssignScreen

    answer = asyncio.Event()

    class SlowSuggest(FakeApi):
        @checked
        async def call(self, method: str, params: dict[str, Any] | None = None) -> Any:
            if method == "reading.suggest":
                await answer.wait()
                candidate = {k: LOOKUP_MATCH[k] for k in ("id", "name", "id_number", "birth_date", "sex", "village")}
                return {"reading": READINGS[0], "hint": "龙秀英", "candidates": [{**candidate, "matched_by": "name"}]}
            return await super().call(method, params)

    app = ClinicApp(SlowSuggest(), language="zh", today=lambda: date(2026, 5, 20), status_seconds=3600)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press(*"doctor", "enter", *"246810", "enter")
        await until(pilot, lambda: screen_name(pilot) == "HomeScreen")
        await app.push_screen(AssignScreen("rd-0"))
        await pilot.press(*"wu")
        answer.set()
        await until(pilot, lambda: bool(app.screen.candidates))
        await pilot.press("g")
        await settled(pilot)
        search = app.screen.query_one("#assign-search", Input)
        assert search.value == "wug"
        assert app.focused is search


async def test_a_key_and_its_confirmation_in_one_burst_do_what_they_say(make_app: MakeApp, daemon: Daemon) -> None:
    """ "w y" withdraws, "1 Enter" records the outcome: the dialog a key opens takes the key right behind it, not the
    inbox under it."""
    from tests.tui.test_consult import api, ask_about, platform_has

    withdrawn = ask_about(daemon, "田玉梅", "血压控制不佳")
    answered = ask_about(daemon, "龙秀英", "头晕")
    platform_has(daemon, withdrawn)
    platform_has(daemon, answered)
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await sign_in(pilot)
        await pilot.press("f7")
        await until(pilot, lambda: screen_name(pilot) == "ConsultInboxScreen" and bool(app.screen.consultations))
        await settled(pilot)
        for consultation, keys in ((withdrawn, ("w", "y")), (answered, ("1", "enter"))):
            app.screen.query_one("#consultations").move_to(consultation)  # type: ignore[attr-defined]
            await until(pilot, lambda c=consultation: app.screen.current["id"] == c)  # type: ignore[attr-defined]
            burst(app, *keys)
            await until(pilot, lambda c=consultation: api(daemon, "consult.show", id=c)["state"] == "closed")
            await until(pilot, lambda: screen_name(pilot) == "ConsultInboxScreen")
            await settled(pilot)
    assert api(daemon, "consult.show", id=withdrawn)["closed_because"] == "withdrawn"
    assert api(daemon, "consult.show", id=answered)["outcome"]["outcome"] == "advice-followed"
