"""The doctor's flows, driven with Textual's pilot against a real daemon (in-process, demo store)."""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Callable
from typing import Any

import pytest
from textual import events
from textual.widgets import Input

from clinic_agent.api.client import AsyncApiClient
from clinic_agent.core.errors import SessionExpired
from clinic_agent.core.model import EntryKind, Quantity, new_id
from tests.support import reading
from tests.tui.conftest import Daemon
from tests.tui.helpers import CANARIES, FakeClock, screen_name, sign_in, until, visible_text
from tui.app import ClinicApp
from tui.screens.form import FormModal
from tui.widgets.fields import Field, MultiField, SelectField
from tui.widgets.paged_table import PagedTable

MakeApp = Callable[..., ClinicApp]


def resident_id(daemon: Daemon, name: str) -> str:
    daemon.agent.refresh_index()
    return daemon.agent.index.search(name)[0].resident_id


async def open_file(pilot: Any, query: str) -> None:
    await pilot.press(*query)
    await until(pilot, lambda: bool(pilot.app.screen.matches))
    await pilot.press("enter")
    await until(pilot, lambda: screen_name(pilot) == "ResidentScreen" and bool(pilot.app.screen.file))


async def test_sign_in_puts_the_focus_in_the_search_box(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await sign_in(pilot)
        await until(pilot, lambda: app.focused is not None)  # the home screen is mounted
        assert isinstance(app.focused, Input) and app.focused.id == "search"  # noqa: PT018
        await until(pilot, lambda: "龙秀英" in visible_text(app))  # due for a follow-up
        assert "待分配读数 (1)" in visible_text(app)


def burst(app: ClinicApp, *keys: str) -> None:
    """Keys as a terminal delivers a quick typist's: all queued at once, none waiting for the one before."""
    for key in keys:
        character = key if len(key) == 1 else ("\r" if key == "enter" else "\t" if key == "tab" else None)
        app.post_message(events.Key(key, character))


@pytest.mark.parametrize("next_field", ["enter", "tab"])
async def test_a_pin_typed_ahead_as_the_screen_appears_lands_in_the_pin_box(make_app: MakeApp, next_field: str) -> None:
    """User name, Enter (or Tab) and PIN typed before the screen has settled: each key goes where it was meant."""
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        burst(app, *"doctor", next_field, *"246810", "enter")  # before the sign-in screen is even mounted
        await until(pilot, lambda: screen_name(pilot) == "HomeScreen")


async def test_a_form_reads_a_field_still_being_mounted_as_it_starts(make_app: MakeApp) -> None:
    """A form mounts its later fields a frame at a time: Esc (or the idle lock's draft) in between read a field whose
    box was not there yet, and the app stopped with a traceback (seen in bench_tui on a loaded machine)."""
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await sign_in(pilot)
        await open_file(pilot, "龙秀英")
        await pilot.press("3", "a")  # an allergy
        await until(pilot, lambda: screen_name(pilot) == "EntryFormScreen" and app.focused is not None)
        form = app.screen
        assert isinstance(form, FormModal)
        box = form.query_one(Field).parent
        assert box is not None
        late = [
            Field("entry.reaction", name="late_text", value="皮疹"),
            SelectField("entry.category", name="late_choice", value_set="allergy_category", value="food"),
            MultiField("entry.category", name="late_choices", value_set="allergy_category", values=["food"]),
        ]
        box.mount_all(late)  # in the DOM now, their boxes composed only when the app next gets to it
        assert all(not field.children for field in late)
        assert {k: v for k, v in form.values().items() if k.startswith("late")} == {
            "late_text": "皮疹",
            "late_choice": "food",
            "late_choices": ["food"],
        }
        await pilot.press("escape")
        await until(pilot, lambda: screen_name(pilot) in ("ResidentScreen", "ConfirmScreen"))


async def test_a_wrong_pin_is_a_plain_message_and_the_pin_is_cleared(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press(*"doctor", "enter", *"135790", "enter")
        await until(pilot, lambda: "没有权限或登录信息不对" in visible_text(app))
        assert "wrong user name or PIN" not in visible_text(app)
        assert screen_name(pilot) == "SignInScreen"
        assert app.screen.query_one("#i-pin", Input).value == ""
        assert "Traceback" not in visible_text(app)


async def test_search_by_initials_name_and_id_number_then_enter_opens_the_best_match(
    make_app: MakeApp, daemon: Daemon
) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await sign_in(pilot)
        await open_file(pilot, "lxy")
        assert "龙秀英" in visible_text(app)
        await pilot.press("escape")
        await until(pilot, lambda: screen_name(pilot) == "HomeScreen")
        search = app.screen.query_one("#search", Input)
        search.value = ""
        number = daemon.agent.store.residents.get(resident_id(daemon, "吴国华")).id_number
        await open_file(pilot, number[:10])
        assert "吴国华" in visible_text(app)


async def test_full_pinyin_full_width_letters_and_a_phone_number_find_the_resident(
    make_app: MakeApp, daemon: Daemon
) -> None:
    phone = daemon.agent.store.residents.get(resident_id(daemon, "龙秀英")).phone or ""
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await sign_in(pilot)
        search = app.screen.query_one("#search", Input)
        for query in ("long", "longxiuying", "ｌｘｙ", phone):
            search.value = ""
            await pilot.press(*query)
            await until(pilot, lambda typed=query: app.screen.matched_text == typed)
            assert app.screen.matches[0]["name"] == "龙秀英", query


async def test_an_id_number_with_a_wrong_check_digit_says_so_under_the_box(make_app: MakeApp, daemon: Daemon) -> None:
    number = daemon.agent.store.residents.get(resident_id(daemon, "吴国华")).id_number
    wrong = number[:17] + ("0" if number[17] != "0" else "1")
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await sign_in(pilot)
        await pilot.press(*wrong[:17])
        await pilot.pause()
        assert "校验位" not in visible_text(app)  # not while the number is still being typed
        await pilot.press(wrong[17])
        await until(pilot, lambda: app.screen.matched_text == wrong)
        shown = visible_text(app)
        assert f"身份证号校验位不对：按前 17 位最后一位应为 {number[17]}，请核对号码" in shown
        assert "没有找到相符的居民" not in shown
        await pilot.press("enter")
        await pilot.pause()
        assert screen_name(pilot) == "HomeScreen"
        assert "没有找到相符的居民" not in visible_text(app)
        await pilot.press("backspace", number[17])
        await until(pilot, lambda: app.screen.matched_text == number)
        assert "校验位" not in visible_text(app)
        assert app.screen.matches[0]["name"] == "吴国华"


async def test_a_damaged_row_a_search_finds_is_named_under_the_box_and_the_search_goes_on(
    make_app: MakeApp, daemon: Daemon
) -> None:
    bad = resident_id(daemon, "吴国华")  # the index lists it, as a restored copy of the index would
    with sqlite3.connect(daemon.agent.home.db_path) as conn:
        (payload,) = conn.execute("SELECT payload FROM residents WHERE id = ?", (bad,)).fetchone()
        conn.execute("UPDATE residents SET payload = ? WHERE id = ?", (payload[:40] + b"?" + payload[41:], bad))
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await sign_in(pilot)
        await pilot.press(*"wgh")
        await until(pilot, lambda: app.screen.matched_text == "wgh")
        await until(pilot, lambda: "发现数据被篡改或损坏" in visible_text(app))
        assert bad in visible_text(app)  # the row, as the technician will need it
        assert "Traceback" not in visible_text(app)
        await pilot.press("backspace", "backspace", "backspace", *"lxy")
        await until(pilot, lambda: app.screen.matched_text == "lxy")
        assert app.screen.matches[0]["name"] == "龙秀英"  # other searches work on
        assert "发现数据被篡改或损坏" not in visible_text(app)


async def test_adding_an_allergy_puts_it_up_front(make_app: MakeApp, daemon: Daemon) -> None:
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await sign_in(pilot)
        await open_file(pilot, "田玉梅")
        assert "无过敏记录" in visible_text(app)
        await pilot.press("3", "a")
        await until(pilot, lambda: screen_name(pilot) == "EntryFormScreen")
        app.screen.query_one("#f-code", SelectField).value = "3"  # 磺胺 fills the substance
        await until(pilot, lambda: app.screen.query_one("#f-substance", Field).value == "磺胺")
        app.screen.query_one("#i-reaction", Input).focus()
        await pilot.press(*"rash")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: screen_name(pilot) == "ResidentScreen" and "磺胺(rash)" in visible_text(app))
    entries, _ = daemon.agent.store.entries.for_resident(resident_id(daemon, "田玉梅"), EntryKind.ALLERGY)
    assert [(e.substance, e.reaction, e.code) for e in entries] == [("磺胺", "rash", "3")]  # type: ignore[attr-defined]


async def test_a_bad_date_is_refused_at_the_field(make_app: MakeApp, daemon: Daemon) -> None:
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await sign_in(pilot)
        await open_file(pilot, "田玉梅")
        await pilot.press("5", "a")
        await until(pilot, lambda: screen_name(pilot) == "EntryFormScreen")
        app.screen.query_one("#f-category", SelectField).value = "surgery"
        app.screen.query_one("#i-name", Input).focus()
        await pilot.press(*"appendectomy", "tab", *"2031-02-30")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: "不是有效日期" in visible_text(app))
        assert screen_name(pilot) == "EntryFormScreen"
    assert daemon.agent.store.entries.for_resident(resident_id(daemon, "田玉梅"), EntryKind.PROCEDURE)[0] == []


async def test_assigning_the_waiting_reading_from_the_inbox(make_app: MakeApp, daemon: Daemon) -> None:
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await sign_in(pilot)
        await until(pilot, lambda: bool(app.screen.summary))
        await pilot.press("down", "enter")
        await until(pilot, lambda: screen_name(pilot) == "AssignScreen")
        await pilot.press(*"wgh")
        await until(pilot, lambda: bool(app.screen.candidates))
        await pilot.press("enter")
        await until(pilot, lambda: app.screen.pending is not None)
        assert "把这条读数分配给 吴国华" in visible_text(app)
        await pilot.press("y")
        await until(pilot, lambda: screen_name(pilot) == "HomeScreen" and app.screen.summary["unassigned_total"] == 0)
    readings, _ = daemon.agent.store.readings.for_resident(resident_id(daemon, "吴国华"))
    assert len(readings) == 5


async def test_a_reading_that_names_a_resident_is_pre_matched(make_app: MakeApp, daemon: Daemon) -> None:
    person = daemon.agent.store.residents.get(resident_id(daemon, "张秀兰"))
    named = dataclasses.replace(reading(None, systolic="150"), id=new_id(), subject_hint=person.id_number)
    daemon.agent.store.readings.add(named, actor="device")
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await sign_in(pilot)
        await until(pilot, lambda: app.screen.summary.get("unassigned_total") == 2)
        table = app.screen.query_one("#unassigned", PagedTable)
        table.table.focus()
        await pilot.press("enter")  # the newest first: the one that names 张秀兰
        await until(pilot, lambda: screen_name(pilot) == "AssignScreen" and bool(app.screen.candidates))
        assert app.screen.candidates[0]["id"] == person.id
        assert "★" in visible_text(app) and person.id_number in visible_text(app)  # noqa: PT018
        await pilot.press("enter", "y")
        await until(pilot, lambda: screen_name(pilot) == "HomeScreen")
    assert daemon.agent.store.readings.get(named.id).resident_id == person.id


async def test_a_reading_from_a_device_appears_at_once(make_app: MakeApp, daemon: Daemon) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await sign_in(pilot)
        await until(pilot, lambda: app.screen.summary.get("unassigned_total") == 1)
        device = AsyncApiClient(daemon.socket)
        await device.connect()
        try:
            device.session = (await device.call("login", {"user": "doctor", "pin": "246810"}))["session"]
            await device.call("reading.add", {"code": "8867-4", "value": "71", "unit": "/min", "device": "cuff-2"})
        finally:
            await device.close()
        # pushed by the daemon: the TUI polls only every 30 s
        await until(pilot, lambda: app.screen.summary.get("unassigned_total") == 2, within=10.0)
        assert "待分配读数 (2)" in visible_text(app)


async def test_a_diabetes_follow_up_is_prefilled_classified_and_saved(make_app: MakeApp, daemon: Daemon) -> None:
    person = resident_id(daemon, "张秀兰")
    glucose = Quantity(code="14743-9", value="8.4", unit="mmol/L")
    daemon.agent.store.readings.add(dataclasses.replace(reading(person), components=(glucose,)), actor="test")
    daemon.agent.store.readings.add(reading(person, systolic="150", diastolic="88"), actor="test")
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await sign_in(pilot)
        await open_file(pilot, "张秀兰")
        await pilot.press("g")
        await until(pilot, lambda: screen_name(pilot) == "FollowUpScreen" and bool(app.screen.prefill))
        form = app.screen
        assert form.query_one("#f-fasting_glucose", Field).value == "8.4"
        assert form.query_one("#f-sbp", Field).value == "150"
        assert form.query_one("#f-classification", SelectField).value == "2"  # D4: first FBG ≥ 7.0
        assert "D4" in visible_text(app)
        form.query_one("#f-method", SelectField).value = "1"
        await pilot.press("ctrl+s")
        await until(pilot, lambda: screen_name(pilot) == "ResidentScreen")
    visits, _ = daemon.agent.store.entries.for_resident(person, EntryKind.FOLLOW_UP)
    saved = visits[0]
    assert (saved.fasting_glucose, saved.sbp, saved.classification) == ("8.4", 150, "2")  # type: ignore[attr-defined]
    assert saved.next_visit is not None and saved.doctor == "王医生"  # type: ignore[attr-defined]  # noqa: PT018


async def test_idle_auto_lock_leaves_no_resident_data_on_screen(
    make_app: MakeApp, daemon: Daemon, clock: FakeClock
) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await sign_in(pilot)
        await open_file(pilot, "龙秀英")
        assert "龙秀英" in visible_text(app)
        clock.now += 9 * 60
        app.lock_if_idle()
        await pilot.pause()
        assert screen_name(pilot) == "ResidentScreen"  # nine idle minutes: still open
        clock.now += 60
        app.lock_if_idle()
        await until(pilot, lambda: screen_name(pilot) == "LockScreen")
        shown = visible_text(app)
        assert [c for c in CANARIES if c in shown] == []
        assert [type(s).__name__ for s in app.screen_stack][1:] == ["LockScreen"]
        await until(pilot, lambda: app.api._session is None)  # type: ignore[attr-defined]
        await pilot.press("enter")
        await until(pilot, lambda: screen_name(pilot) == "SignInScreen")
        assert app.screen.query_one("#i-pin", Input).has_focus


async def test_the_old_session_is_ended_on_the_daemon_at_lock(make_app: MakeApp, daemon: Daemon) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await sign_in(pilot)
        token = app.api._session  # type: ignore[attr-defined]
        await pilot.press("ctrl+l")
        await until(pilot, lambda: screen_name(pilot) == "LockScreen" and app.api._session is None)  # type: ignore[attr-defined]
    client = AsyncApiClient(daemon.socket)
    await client.connect()
    try:
        client.session = token
        with pytest.raises(SessionExpired):
            await client.call("resident.list")
    finally:
        await client.close()


async def test_switching_language_re_renders_everything(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await sign_in(pilot)
        await until(pilot, lambda: "待分配读数" in visible_text(app))
        await pilot.press("f2")
        await until(pilot, lambda: "To assign (1)" in visible_text(app))
        assert "待分配" not in visible_text(app) and "Find a resident" in visible_text(app)  # noqa: PT018
        await open_file(pilot, "lxy")
        assert "Readings" in visible_text(app)


async def test_resident_strings_are_shown_literally(make_app: MakeApp, daemon: Daemon) -> None:
    from tests.support import resident

    sneaky = resident(name="[bold red]张[/]", village="[link=http://x]村[/link]")
    daemon.agent.store.residents.add(sneaky, actor="test")
    daemon.agent.refresh_index()
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await sign_in(pilot)
        await pilot.press(*"[bold")
        await until(pilot, lambda: "[bold red]" in visible_text(app))
        assert "[link=http://x]村[/link]" in visible_text(app)


async def test_a_locked_daemon_asks_for_the_passphrase_once(make_app: MakeApp, daemon: Daemon) -> None:
    from clinic_agent.cli import demo

    daemon.agent.lock(actor="test")
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press(*"doctor", "enter", *"246810", "enter")
        await until(pilot, lambda: screen_name(pilot) == "UnlockScreen")
        await pilot.press(*demo.DEMO_PASSPHRASE, "enter")
        await until(pilot, lambda: screen_name(pilot) == "HomeScreen")
    assert not daemon.agent.locked


async def test_registering_a_resident_checks_the_id_number_as_typed(make_app: MakeApp, daemon: Daemon) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await sign_in(pilot)
        await pilot.press("f3")
        await until(pilot, lambda: screen_name(pilot) == "RegisterScreen")
        await pilot.press(*"11010519491231002Y")
        await until(pilot, lambda: "最后一位为数字或 X" in visible_text(app))
        await pilot.press("backspace", "1")
        await until(pilot, lambda: "校验位不对：最后一位应为 X" in visible_text(app))
        await pilot.press("backspace", "X")
        await until(pilot, lambda: app.screen.query_one("#f-birth_date", Field).value == "1949-12-31")
        assert app.screen.query_one("#f-sex", SelectField).value == "2"
        app.screen.query_one("#i-name", Input).focus()
        await pilot.press(*"张秀英", "ctrl+s")
        await until(pilot, lambda: screen_name(pilot) == "ResidentScreen" and bool(app.screen.file))
        assert "11010519491231002X" in visible_text(app)
    assert daemon.agent.store.residents.by_id_number("11010519491231002X") is not None


async def test_a_number_failing_its_check_digit_is_kept_once_a_reason_is_given(
    make_app: MakeApp, daemon: Daemon
) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await sign_in(pilot)
        await pilot.press("f3")
        await until(pilot, lambda: screen_name(pilot) == "RegisterScreen")
        await pilot.press(*"110105194912310021")
        await until(pilot, lambda: "校验位不对" in visible_text(app))
        assert app.screen.query_one("#f-birth_date", Field).value == "1949-12-31"  # still read from the number
        app.screen.query_one("#i-name", Input).focus()
        await pilot.press(*"张秀英", "ctrl+s")
        await pilot.pause()
        assert screen_name(pilot) == "RegisterScreen"  # refused without a reason
        app.screen.query_one("#i-id_number_override", Input).focus()
        await pilot.press(*"纸质档案如此")
        await until(pilot, lambda: "校验位不对" not in visible_text(app))
        await pilot.press("ctrl+s")
        await until(pilot, lambda: screen_name(pilot) == "ResidentScreen" and bool(app.screen.file))
        assert "纸质档案如此" in visible_text(app)
    kept = daemon.agent.store.residents.by_id_number("110105194912310021")
    assert kept is not None
    assert kept.id_number_override == "纸质档案如此"


async def test_a_stale_edit_is_said_in_the_language_in_force(make_app: MakeApp, daemon: Daemon) -> None:
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await sign_in(pilot)
        await open_file(pilot, "杨光明")
        await pilot.press("4")
        condition = app.screen.file["entries"]["condition"][0]
        await pilot.press("enter")
        await until(pilot, lambda: screen_name(pilot) == "EntryFormScreen")
        stored = daemon.agent.store.entries.get(condition["id"])
        daemon.agent.store.entries.update(dataclasses.replace(stored, note="elsewhere"), actor="other")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: "这条记录已被别人修改" in visible_text(app))
        assert "was changed" not in visible_text(app)  # no English in the Chinese screen
        await pilot.press("f2")
        await until(pilot, lambda: "Someone else changed this record" in visible_text(app))
        assert "was changed elsewhere" not in visible_text(app)  # the daemon's words would only say it twice
