"""Snapshots of the key screens in both languages, and of each error banner (fake API, fixed dates)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import date
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from clinic_agent.core.errors import DiskFull, StoreCorrupted, StoreLocked
from tests.tui.fake_api import FakeApi
from tests.tui.helpers import settled, until, visible_text
from tui.app import ClinicApp
from tui.widgets.banner import Banner

Compare = Callable[..., bool]


@pytest.fixture(autouse=True)
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Times show in the PC's zone: pin it so snapshots do not depend on where they run."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture(autouse=True)
def steady_cursor(monkeypatch: pytest.MonkeyPatch) -> None:
    """An input's cursor blinks every half second: a snapshot would catch it in either phase, by chance."""
    monkeypatch.setattr(Input, "_toggle_cursor", lambda self: None)


def app(language: str = "zh", api: FakeApi | None = None) -> ClinicApp:
    return ClinicApp(api or FakeApi(), language=language, today=lambda: date(2026, 5, 20), status_seconds=3600)


async def signed_in(pilot: Pilot[Any]) -> None:
    await pilot.press(*"doctor", "enter", *"246810", "enter")
    await until(pilot, lambda: type(pilot.app.screen).__name__ == "HomeScreen" and bool(pilot.app.screen.summary))
    await settled(pilot)


async def resident_file(pilot: Pilot[Any]) -> None:
    await signed_in(pilot)
    await pilot.press(*"lxy")
    await until(pilot, lambda: bool(pilot.app.screen.matches))
    await pilot.press("enter")
    await until(pilot, lambda: type(pilot.app.screen).__name__ == "ResidentScreen" and bool(pilot.app.screen.file))
    await settled(pilot)


@pytest.mark.parametrize("language", ["zh", "en"])
def test_sign_in(snap_compare: Compare, language: str) -> None:
    assert snap_compare(app(language), terminal_size=(80, 24))


@pytest.mark.parametrize("language", ["zh", "en"])
def test_home(snap_compare: Compare, language: str) -> None:
    assert snap_compare(app(language), terminal_size=(80, 24), run_before=signed_in)


class WidestHomeApi(FakeApi):
    """Home's lists at their widest: a four-character name with BP and pulse of three digits each, an oximeter
    measurement (SpO2 and pulse stored as two readings), a visit due in days for that name, one overdue by twelve.

    Today's readings give a name three characters (欧阳…) so that the values keep their 21 cells; the follow-ups
    due show it whole. The readings to assign name someone the way devices do (an ID number, a four-character
    name, a device's user slot), one critical, one from yesterday."""

    async def call(self, method: str, params: dict[str, Any] | None = None) -> Any:
        answer = await super().call(method, params)
        if method != "home.summary":
            return answer
        widest = {**answer["today_readings"][0], "id": "rd-94", "resident_id": "r-4", "name": "欧阳秀英"}
        widest["components"] = [
            {"code": "8480-6", "value": "186", "unit": "mm[Hg]"},
            {"code": "8462-4", "value": "112", "unit": "mm[Hg]"},
            {"code": "8867-4", "value": "118", "unit": "/min"},
        ]
        oximeter = {"id": "rd-95", "resident_id": "r-1", "name": "龙秀英", "acknowledged": False, "alerts": []}
        oximeter |= {"taken_at": "2026-05-20T08:40:00+00:00", "device": {"id": "oximeter-1", "model": "CMS50D"}}
        spo2 = {**oximeter, "components": [{"code": "59408-5", "value": "97", "unit": "%"}]}
        pulse = {**oximeter, "id": "rd-96", "components": [{"code": "8867-4", "value": "72", "unit": "/min"}]}
        answer["today_readings"] = [widest, spo2, pulse, *answer["today_readings"]]
        critical, plain = answer["unassigned"][1], answer["unassigned"][0]
        critical["components"][2]["value"] = "98"
        answer["unassigned"] = [
            {**critical, "subject_hint": "id:522229195103080025"},
            {**plain, "id": "rd-97", "subject_hint": "name:欧阳秀英"},
            {**plain, "id": "rd-98", "subject_hint": "user:2", "taken_at": "2026-05-19T17:05:00+00:00"},
            plain,
        ]
        answer["unassigned_total"] = 4
        answer["due"] = [
            {**answer["due"][0], "due": "2026-05-08"},
            {**answer["due"][2], "resident_id": "r-4", "name": "欧阳秀英"},
            *answer["due"][1:],
        ]
        return answer


@pytest.mark.parametrize(
    ("language", "shown"),
    [
        (
            "zh",
            [
                *["欧阳秀英", "血压 186/112 脉搏 118", "血氧 97 脉搏 72", "逾期 12 天", "05-24 (4 天后)"],
                *["识别为", "⚠ 08:31", "080025", "血压 186/112 脉搏 98", "05-19", "用户 2", "未分配"],
            ],
        ),
        (
            "en",
            [
                *["欧阳秀英", "BP 186/112 Pulse 118", "SpO2 97 Pulse 72", "12 d overdue", "05-24 (in 4 d)"],
                *["Named", "⚠ 08:31", "080025", "BP 186/112 Pulse 98", "05-19", "user 2", "(none)"],
            ],
        ),
    ],
    ids=["zh", "en"],
)
def test_home_at_80_by_24_cuts_nothing_a_doctor_needs(snap_compare: Compare, language: str, shown: list[str]) -> None:
    async def widest(pilot: Pilot[Any]) -> None:
        await signed_in(pilot)
        on_screen = visible_text(pilot.app)  # type: ignore[arg-type]
        assert [text for text in shown if text not in on_screen] == []

    assert snap_compare(app(language, WidestHomeApi()), terminal_size=(80, 24), run_before=widest)


@pytest.mark.parametrize("language", ["zh", "en"])
def test_resident_file(snap_compare: Compare, language: str) -> None:
    assert snap_compare(app(language), terminal_size=(80, 24), run_before=resident_file)


def test_readings_with_trend_chart(snap_compare: Compare) -> None:
    async def readings(pilot: Pilot[Any]) -> None:
        await resident_file(pilot)
        await pilot.press("2")
        await settled(pilot)

    assert snap_compare(app("zh"), terminal_size=(120, 40), run_before=readings)


def test_hypertension_follow_up_form(snap_compare: Compare) -> None:
    async def follow_up(pilot: Pilot[Any]) -> None:
        await resident_file(pilot)
        await pilot.press("h")
        await until(pilot, lambda: bool(getattr(pilot.app.screen, "prefill", None)))
        await settled(pilot)

    assert snap_compare(app("zh"), terminal_size=(120, 40), run_before=follow_up)


@pytest.mark.parametrize(
    ("kind", "error"),
    [
        ("locked", StoreLocked("the agent is locked: unlock it first (`clinic-agent unlock`)")),
        ("disk_full", DiskFull("no space left on the data disk; nothing was written")),
        ("tamper", StoreCorrupted("row 5f2c of entries failed its integrity check", table="entries", row_id="5f2c")),
    ],
)
def test_error_banner(snap_compare: Compare, kind: str, error: Exception) -> None:
    async def failing(pilot: Pilot[Any]) -> None:
        await signed_in(pilot)
        pilot.app.screen.query_one(Banner).show_error(error)  # type: ignore[arg-type]
        await settled(pilot)
        assert pilot.app.screen.query_one(Banner).kind == kind

    assert snap_compare(app("zh"), terminal_size=(80, 24), run_before=failing)


def test_sync_failing_banner(snap_compare: Compare) -> None:
    sync = {
        "state": "error",
        "online": True,
        "pending": 37,
        "parked": 2,
        "conflicts": 1,
        "last_sync": "2026-05-19T17:02:00+00:00",
        "last_error": "platform answered 503 Service Unavailable",
    }

    async def failing(pilot: Pilot[Any]) -> None:
        await signed_in(pilot)
        pilot.app.refresh_status()  # type: ignore[attr-defined]
        await until(pilot, lambda: pilot.app.screen.query_one(Banner).kind == "sync_failing")
        await settled(pilot)

    assert snap_compare(app("zh", FakeApi(sync=sync)), terminal_size=(80, 24), run_before=failing)


def test_locked_screen_in_english(snap_compare: Compare) -> None:
    async def locked(pilot: Pilot[Any]) -> None:
        await resident_file(pilot)
        pilot.app.lock("idle")  # type: ignore[attr-defined]
        await until(pilot, lambda: type(pilot.app.screen).__name__ == "LockScreen")
        await settled(pilot)

    assert snap_compare(app("en"), terminal_size=(80, 24), run_before=locked)


class NoAccountsApi(FakeApi):
    """A daemon just after `clinic-agent init`: no user yet, so no PIN can be right."""

    async def call(self, method: str, params: dict[str, Any] | None = None) -> Any:
        if method == "status":
            return {"outbox": {"pending": 0, "parked": 0}, "disk_low": False, "users": 0}
        return await super().call(method, params)


@pytest.mark.parametrize("language", ["zh", "en"])
def test_sign_in_with_no_account_yet_says_how_to_create_one(snap_compare: Compare, language: str) -> None:
    async def shown(pilot: Pilot[Any]) -> None:
        await until(pilot, lambda: pilot.app.screen.query_one("#no-accounts").display)
        await settled(pilot)

    assert snap_compare(app(language, NoAccountsApi()), terminal_size=(80, 24), run_before=shown)


class NoMatchApi(FakeApi):
    """No resident has the number typed."""

    async def call(self, method: str, params: dict[str, Any] | None = None) -> Any:
        if method == "resident.lookup":
            return {"matches": []}
        return await super().call(method, params)


@pytest.mark.parametrize("language", ["zh", "en"])
def test_an_id_number_with_a_wrong_check_digit(snap_compare: Compare, language: str) -> None:
    async def typed(pilot: Pilot[Any]) -> None:
        await signed_in(pilot)
        await pilot.press(*"522229195103080025")
        await until(pilot, lambda: pilot.app.screen.matched_text == "522229195103080025")
        await settled(pilot)

    assert snap_compare(app(language, NoMatchApi()), terminal_size=(80, 24), run_before=typed)


@pytest.mark.parametrize("language", ["zh", "en"])
def test_readings_tab_at_80_by_24(snap_compare: Compare, language: str) -> None:
    async def readings(pilot: Pilot[Any]) -> None:
        await resident_file(pilot)
        await pilot.press("2")
        await settled(pilot)

    assert snap_compare(app(language), terminal_size=(80, 24), run_before=readings)


@pytest.mark.parametrize("language", ["zh", "en"])
def test_allergy_form_at_80_by_24(snap_compare: Compare, language: str) -> None:
    async def form(pilot: Pilot[Any]) -> None:
        await resident_file(pilot)
        await pilot.press("3", "a")
        await until(pilot, lambda: type(pilot.app.screen).__name__ == "EntryFormScreen" and pilot.app.screen.built)
        await settled(pilot)

    assert snap_compare(app(language), terminal_size=(80, 24), run_before=form)


@pytest.mark.parametrize("language", ["zh", "en"])
def test_follow_up_form_at_80_by_24(snap_compare: Compare, language: str) -> None:
    async def follow_up(pilot: Pilot[Any]) -> None:
        await resident_file(pilot)
        await pilot.press("h")
        await until(pilot, lambda: bool(getattr(pilot.app.screen, "prefill", None)))
        await settled(pilot)

    assert snap_compare(app(language), terminal_size=(80, 24), run_before=follow_up)
