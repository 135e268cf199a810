"""Notices (toasts) follow the language: one on screen when F2 is pressed is said again in the new language."""

from __future__ import annotations

from datetime import date
from typing import Any

from textual.pilot import Pilot

from tests.tui.fake_api import FakeApi
from tests.tui.helpers import screen_name, until, visible_text
from tui.app import ClinicApp


def app(language: str = "zh") -> ClinicApp:
    return ClinicApp(FakeApi(), language=language, today=lambda: date(2026, 5, 20), status_seconds=3600)


async def signed_in(pilot: Pilot[Any]) -> None:
    await pilot.press(*"doctor", "enter", *"246810", "enter")
    await until(pilot, lambda: screen_name(pilot) == "HomeScreen" and bool(pilot.app.screen.summary))


async def test_a_critical_alert_on_screen_is_said_again_after_f2() -> None:
    clinic = app()
    async with clinic.run_test(size=(100, 30), notifications=True) as pilot:
        await signed_in(pilot)
        clinic.api.on_event("reading.received", {"id": "rd-92"})  # 姚德胜, 184/108
        await until(pilot, lambda: "危急读数：姚德胜 血压 184/108" in visible_text(clinic))
        await pilot.press("f2")
        await until(pilot, lambda: "Critical reading: 姚德胜 BP 184/108" in visible_text(clinic))
        assert "危急读数" not in visible_text(clinic)
        await pilot.press("f2")
        await until(pilot, lambda: "危急读数：姚德胜 血压 184/108" in visible_text(clinic))
        assert "Critical reading" not in visible_text(clinic)


async def test_a_screens_notice_on_screen_is_said_again_after_f2() -> None:
    clinic = app("en")
    async with clinic.run_test(size=(100, 30), notifications=True) as pilot:
        await signed_in(pilot)
        await pilot.press(*"lxy")
        await until(pilot, lambda: bool(pilot.app.screen.matches))
        await pilot.press("enter")
        await until(pilot, lambda: screen_name(pilot) == "ResidentScreen" and bool(pilot.app.screen.file))
        await pilot.press("a")  # on the summary tab: nothing to add to there
        await until(pilot, lambda: "Switch to the tab to add to first" in visible_text(clinic))
        await pilot.press("f2")
        await until(pilot, lambda: "请先切换到要添加内容的标签页" in visible_text(clinic))
        assert "Switch to the tab" not in visible_text(clinic)
