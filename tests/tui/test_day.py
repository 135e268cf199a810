"""The village doctor's day, key by key: each task of issue 11's table is walked with the pilot and its keys
counted (a key is one press a person makes; typed letters count one each)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.widgets import Input, Select, SelectionList

from clinic_agent.core.model import EntryKind
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


async def add_reading(daemon: Daemon, **params: Any) -> str:
    """A reading through the daemon's API, as a device link would send it (with the events it publishes)."""
    from clinic_agent.api.client import AsyncApiClient

    device = AsyncApiClient(daemon.socket)
    await device.connect()
    try:
        device.session = (await device.call("login", {"user": "doctor", "pin": "246810"}))["session"]
        added = await device.call("reading.add", {"device": "machine", **params})
    finally:
        await device.close()
    return str(added["id"])


BP = [
    {"code": "8480-6", "value": "{sbp}", "unit": "mm[Hg]"},
    {"code": "8462-4", "value": "96", "unit": "mm[Hg]"},
]


def bp(sbp: int) -> list[dict[str, str]]:
    return [{**c, "value": c["value"].format(sbp=sbp)} for c in BP]


async def test_a_named_reading_appears_on_home_and_is_acknowledged_with_two_keys(
    make_app: MakeApp, daemon: Daemon
) -> None:
    person = resident_id(daemon, "田玉梅")
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await sign_in(pilot)
        await until(pilot, lambda: bool(app.screen.summary))
        reading = await add_reading(daemon, resident=person, code="85354-9", components=bp(152))
        await until(pilot, lambda: any(r["id"] == reading for r in app.screen.summary.get("today_readings", [])))
        shown = visible_text(app)
        assert "田玉梅" in shown and "152/96" in shown and "未确认 1" in shown  # noqa: PT018
        keys = Keys(pilot)
        await keys("down", "space")  # into today's readings (the newest on top), acknowledge
        await until(pilot, lambda: "未确认 0" in visible_text(app))
        assert keys.count == 2
    seen = daemon.agent.store.audit.for_objects([reading], verbs=("acknowledge",))
    assert [e.actor for e in seen] == ["user:doctor"]
    readings, _ = daemon.agent.store.readings.for_resident(person)
    assert reading in [r.id for r in readings]  # in the file already


async def test_a_critical_reading_alerts_with_the_bell_on_any_screen(make_app: MakeApp, daemon: Daemon) -> None:
    person = resident_id(daemon, "田玉梅")
    app = make_app()
    bells: list[None] = []
    app.bell = lambda: bells.append(None)  # type: ignore[method-assign]
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        await sign_in(pilot)
        await open_file(pilot, "龙秀英")  # someone else's file is open
        await add_reading(daemon, resident=person, code="85354-9", components=bp(192))
        await until(pilot, lambda: "危急读数：田玉梅" in visible_text(app))
        assert screen_name(pilot) == "ResidentScreen" and bells == [None]  # noqa: PT018
        await add_reading(daemon, resident=person, code="85354-9", components=bp(132))
        await pilot.pause(0.3)
        assert bells == [None]  # an ordinary reading rings nothing


async def test_assigning_the_newest_waiting_reading_in_six_keys(make_app: MakeApp, daemon: Daemon) -> None:
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await sign_in(pilot)
        await until(pilot, lambda: bool(app.screen.summary))
        keys = Keys(pilot)
        await keys("f6")
        await until(pilot, lambda: screen_name(pilot) == "AssignScreen")
        await keys(*"wgh")
        await until(pilot, lambda: bool(app.screen.candidates))
        await keys("enter")
        await until(pilot, lambda: app.screen.pending is not None)
        await keys("y")
        await until(pilot, lambda: screen_name(pilot) == "HomeScreen" and app.screen.summary["unassigned_total"] == 0)
        assert keys.count == 6  # the goal is ≤ 6 with 2-3 pinyin letters (7-8 before)


async def test_the_inbox_cursor_stays_on_its_reading_while_new_ones_arrive(make_app: MakeApp, daemon: Daemon) -> None:
    from tui.widgets.paged_table import PagedTable

    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await sign_in(pilot)
        await add_reading(daemon, code="8867-4", value="71", unit="/min")
        await until(pilot, lambda: app.screen.summary.get("unassigned_total") == 2)
        inbox = app.screen.query_one("#unassigned", PagedTable)
        inbox.table.focus()
        await pilot.press("down")
        held = inbox.current_key
        for value in ("72", "73"):
            await add_reading(daemon, code="8867-4", value=value, unit="/min")
        await until(pilot, lambda: app.screen.summary.get("unassigned_total") == 4)
        assert inbox.current_key == held


async def test_typing_while_a_list_has_the_focus_searches(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await sign_in(pilot)
        await until(pilot, lambda: bool(app.screen.summary))
        await pilot.press("down", *"lxy")
        await pilot.pause(0.3)
        assert app.screen.query_one("#search", Input).value == "lxy"
        await until(pilot, lambda: bool(app.screen.matches))


async def test_the_idle_lock_keeps_a_half_filled_form_and_offers_it_back(
    make_app: MakeApp, daemon: Daemon, clock: Any
) -> None:
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await sign_in(pilot)
        await open_file(pilot, "田玉梅")
        await pilot.press("8", "a")
        await until(pilot, lambda: screen_name(pilot) == "EntryFormScreen")
        await pilot.press(*"头晕三天")
        clock.now += 3600
        app.lock_if_idle()
        await until(pilot, lambda: screen_name(pilot) == "LockScreen")
        assert "头晕三天" not in visible_text(app)
        drafts, _ = daemon.agent.store.drafts.of_user("user:doctor")
        assert [d.data["values"]["text"] for d in drafts] == ["头晕三天"]
        with daemon.agent.store._core.read() as conn:  # encrypted at rest: the words are not in the row
            assert all("头晕".encode() not in bytes(blob) for (blob,) in conn.execute("SELECT payload FROM drafts"))
        await pilot.press("enter")
        await until(pilot, lambda: screen_name(pilot) == "SignInScreen")
        await pilot.press(*"246810", "enter")
        await until(pilot, lambda: screen_name(pilot) == "ConfirmScreen")
        await until(pilot, lambda: "张没填完的表，已加密保存。现在打开吗？（N：丢弃）" in visible_text(app))
        await pilot.press("y")
        await until(pilot, lambda: screen_name(pilot) == "EntryFormScreen")
        await until(pilot, lambda: app.screen.query_one("#i-text", Input).value == "头晕三天")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: screen_name(pilot) == "ResidentScreen" and "头晕三天" in visible_text(app))
    assert daemon.agent.store.drafts.of_user("user:doctor") == ([], [])


OXIMETER = "2026-05-20T08:15:00+08:00"


async def test_one_oximeter_measurement_is_one_row_and_one_assignment(make_app: MakeApp, daemon: Daemon) -> None:
    for code, value, unit in (("59408-5", "93", "%"), ("8867-4", "81", "/min")):
        await add_reading(daemon, code=code, value=value, unit=unit, device="oximeter", taken_at=OXIMETER)
    for value in ("72", "73"):  # two pulses of the same second from one device stay two rows
        await add_reading(daemon, code="8867-4", value=value, unit="/min", device="cuff-2", taken_at=OXIMETER)
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await sign_in(pilot)
        await until(pilot, lambda: bool(app.screen.summary))
        waiting = app.screen.summary["unassigned"]
        joined = [r for r in waiting if len(r["ids"]) == 2]
        assert len(joined) == 1 and len(waiting) == 4  # noqa: PT018  (the demo's own reading, the pair, two pulses)
        assert app.screen.summary["unassigned_total"] == 4
        assert "血氧 93 脉搏 81" in visible_text(app)
        keys = Keys(pilot)
        inbox = app.screen.query_one("#unassigned")
        inbox.table.focus()  # type: ignore[attr-defined]
        while inbox.current_key != joined[0]["id"]:  # type: ignore[attr-defined]
            await pilot.press("down")
        await keys("enter")
        await until(pilot, lambda: screen_name(pilot) == "AssignScreen")
        await until(pilot, lambda: "血氧 93 % · 脉搏 81 次/分" in visible_text(app))  # the whole measurement
        await keys(*"wgh")
        await until(pilot, lambda: bool(app.screen.candidates))
        await keys("enter")
        await until(pilot, lambda: app.screen.pending is not None)
        await keys("y")
        await until(pilot, lambda: screen_name(pilot) == "HomeScreen" and app.screen.summary["unassigned_total"] == 3)
        assert keys.count == 6  # one measurement, one assignment (14 keys and two rows before)
    owner = resident_id(daemon, "吴国华")
    assert {daemon.agent.store.readings.get(i).resident_id for i in joined[0]["ids"]} == {owner}
