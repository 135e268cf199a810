"""Everything on screen follows the language, F2 included: what a walk through the TUI in both languages found."""

from __future__ import annotations

import copy
from datetime import date
from typing import Any

from textual.pilot import Pilot
from textual.widgets import Static

from clinic_agent.core.errors import AccessDenied, DaemonNotRunning, InvalidInput
from tests.tui.fake_api import FakeApi
from tests.tui.helpers import open_fake_file, screen_name, settled, until, visible_text
from tui.app import ClinicApp
from tui.client import SignedIn


class NoMatchApi(FakeApi):
    """No resident matches what is typed."""

    async def call(self, method: str, params: dict[str, Any] | None = None) -> Any:
        if method == "resident.lookup":
            return {"matches": []}
        return await super().call(method, params)


class TwoConditionsApi(FakeApi):
    """The resident has diabetes beside hypertension."""

    async def call(self, method: str, params: dict[str, Any] | None = None) -> Any:
        answer = await super().call(method, params)
        if method == "resident.file":
            answer = copy.deepcopy(answer)
            second = {**answer["entries"]["condition"][0], "id": "c-2", "name": "糖尿病", "icd10": "E11"}
            answer["entries"]["condition"].append(second)
        return answer


def app(language: str = "zh", api: FakeApi | None = None) -> ClinicApp:
    return ClinicApp(api or FakeApi(), language=language, today=lambda: date(2026, 5, 20), status_seconds=3600)


async def signed_in(pilot: Pilot[Any]) -> None:
    await pilot.press(*"doctor", "enter", *"246810", "enter")
    await until(pilot, lambda: screen_name(pilot) == "HomeScreen" and bool(pilot.app.screen.summary))


def error_under(clinic: ClinicApp, field: str) -> str:
    """The inline note under a form's field, as shown."""
    return str(clinic.screen.query_one(f"#f-{field} .field-error", Static).render())


async def test_a_search_that_found_nothing_titles_its_columns_in_the_new_language() -> None:
    clinic = app("zh", NoMatchApi())
    async with clinic.run_test(size=(100, 30)) as pilot:
        await signed_in(pilot)
        await pilot.press(*"xyz")
        await until(pilot, lambda: "匹配" in visible_text(clinic))
        await pilot.press("f2")
        await until(pilot, lambda: "Matched" in visible_text(clinic))
        assert "匹配" not in visible_text(clinic)


async def test_a_files_lists_are_joined_as_the_language_joins_them() -> None:
    clinic = app("en", TwoConditionsApi())
    async with clinic.run_test(size=(100, 30)) as pilot:
        await open_fake_file(pilot)
        await until(pilot, lambda: "高血压, 糖尿病" in visible_text(clinic))
        await pilot.press("f2")
        await until(pilot, lambda: "高血压、糖尿病" in visible_text(clinic))


async def test_a_required_note_shown_after_a_save_stays_and_follows_f2() -> None:
    clinic = app("zh")
    async with clinic.run_test(size=(100, 40)) as pilot:
        await signed_in(pilot)
        await pilot.press("f3")
        await until(pilot, lambda: screen_name(pilot) == "RegisterScreen" and clinic.screen.built)  # type: ignore[attr-defined]
        await pilot.press("ctrl+s")
        await until(pilot, lambda: error_under(clinic, "name") == "必填" and error_under(clinic, "sex") == "必填")
        await pilot.press("f2")
        await settled(pilot)
        assert (error_under(clinic, "name"), error_under(clinic, "sex")) == ("Required", "Required")


async def test_the_follow_up_forms_suggestion_follows_f2() -> None:
    clinic = app("zh")
    async with clinic.run_test(size=(120, 40)) as pilot:
        await open_fake_file(pilot)
        await pilot.press("h")
        await until(pilot, lambda: screen_name(pilot) == "FollowUpScreen" and clinic.screen.loaded)  # type: ignore[attr-defined]
        await until(pilot, lambda: "按规范建议" in visible_text(clinic))
        await pilot.press("f2")
        await until(pilot, lambda: "The rules suggest:" in visible_text(clinic))
        assert "按规范建议" not in visible_text(clinic)


async def test_assigning_says_when_nobody_matches_what_was_typed() -> None:
    clinic = app("zh", NoMatchApi())
    async with clinic.run_test(size=(100, 30)) as pilot:
        await signed_in(pilot)
        await pilot.press("f6")
        await until(pilot, lambda: screen_name(pilot) == "AssignScreen")
        await pilot.press(*"xyz")
        await until(pilot, lambda: "没有找到相符的居民" in visible_text(clinic))
        assert "在上方输入姓名、拼音首字母" not in visible_text(clinic)


async def test_no_sync_state_or_count_is_shown_before_sign_in_or_after_the_lock() -> None:
    clinic = app("zh")
    async with clinic.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: "请登录" in visible_text(clinic))
        assert "待发送" not in visible_text(clinic)  # nothing was read from the daemon yet: "0" would be made up
        await signed_in(pilot)
        await until(pilot, lambda: "待发送" in visible_text(clinic))
        await pilot.press("ctrl+l")
        await until(pilot, lambda: screen_name(pilot) == "LockScreen")
        await settled(pilot)
        assert "待发送" not in visible_text(clinic)


class WrongPinApi(FakeApi):
    """Every PIN is wrong, in the daemon's own words."""

    async def login(self, user: str, pin: str) -> SignedIn:
        raise AccessDenied("wrong user name or PIN")


async def test_an_english_wrong_pin_is_said_once_not_followed_by_the_daemons_words() -> None:
    clinic = app("en", WrongPinApi())
    async with clinic.run_test(size=(80, 24)) as pilot:
        await pilot.press(*"doctor", "enter", *"135790", "enter")
        await until(pilot, lambda: "Not allowed, or wrong sign-in details." in visible_text(clinic))
        assert "wrong user name or PIN" not in visible_text(clinic)


async def test_an_english_refusal_of_a_value_keeps_the_daemons_words_that_name_it() -> None:
    clinic = app("en")
    async with clinic.run_test(size=(80, 24)) as pilot:
        await signed_in(pilot)
        clinic.screen.show_error(InvalidInput("systolic 400 mmHg is out of range"))  # type: ignore[attr-defined]
        await settled(pilot)
        shown = visible_text(clinic)
        assert "Invalid input." in shown
        assert "systolic 400 mmHg is out of range" in shown
        clinic.screen.show_error(DaemonNotRunning("no daemon is listening on /run/x.sock"))  # type: ignore[attr-defined]
        await settled(pilot)
        assert "no daemon is listening" not in visible_text(clinic)
