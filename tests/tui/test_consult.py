"""Remote consultation in the terminal UI: request → wait → the answer arrives → outcome, on the real daemon;
and snapshots of the two screens in both languages at 80×24 (fake API, fixed dates)."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Select

from clinic_agent.api import registry
from clinic_agent.core.model import ConsultationMessage, EntryKind, new_id, utcnow
from clinic_agent.core.sync_values import ENTRIES, Confirmed
from clinic_agent.runtime.agent import Caller
from sync.engine.conflicts import adopt
from sync.engine.mapping import comparable
from tests.tui.conftest import Daemon
from tests.tui.fake_api import FakeApi, checked
from tests.tui.helpers import screen_name, settled, sign_in, until, visible_text
from tests.tui.test_flows import open_file, resident_id
from tests.tui.test_snapshots import resident_file, steady_cursor, utc
from tui.app import ClinicApp
from tui.widgets.consult_panel import ConsultPanel
from tui.widgets.fields import Field, SelectField
from tui.widgets.paged_table import PagedTable

__all__ = ["steady_cursor", "utc"]  # the snapshots' autouse fixtures: a steady cursor, times in UTC
MakeApp = Callable[..., ClinicApp]
Compare = Callable[..., bool]
TARGET = ("Organization/4401", "铜仁市人民医院 心内科")


async def request_form(pilot: Pilot[Any]) -> None:
    """``q`` from a resident's file, until the request form is up with the attachments it suggests."""
    await pilot.press("q")
    await until(pilot, lambda: screen_name(pilot) == "ConsultRequestScreen" and bool(pilot.app.screen.attachments))


class Keys:
    """Presses keys and counts them (the issue asks for a request in a few keys)."""

    def __init__(self, pilot: Pilot[None]) -> None:
        self.pilot = pilot
        self.count = 0

    async def press(self, *keys: str) -> None:
        self.count += len(keys)
        await self.pilot.press(*keys)


def platform_has(daemon: Daemon, consultation_id: str) -> None:
    """What a sync does when it has sent the request: the platform's id kept, the state announced."""
    store = daemon.agent.store
    pending = store.sync.pending_for(ENTRIES, consultation_id)
    state = store.sync.load(ENTRIES, consultation_id)
    assert pending is not None
    assert state is not None
    store.sync.confirm(
        [
            Confirmed(
                pending.seq,
                ENTRIES,
                consultation_id,
                state.record.version,
                f"sr-{consultation_id[:8]}",
                "1",
                comparable(state.record),
            )
        ]
    )
    daemon.agent.publish("sync.state", {"state": "idle"})


def answer_arrives(daemon: Daemon, consultation_id: str, text: str) -> None:
    """What a sync does when the platform has the request and a specialist replied (the store's own calls)."""
    store = daemon.agent.store
    if store.sync.pending_for(ENTRIES, consultation_id) is not None:
        platform_has(daemon, consultation_id)
    state = store.sync.load(ENTRIES, consultation_id)
    assert state is not None
    reply = ConsultationMessage(
        id=new_id(),
        resident_id=state.record.resident_id,
        request=f"ServiceRequest/{state.remote_id}",
        text=text,
        sent_at=utcnow(),
        sender="王主任",
    )
    store.sync.apply([adopt(ENTRIES, reply, remote_id=f"cm-{new_id()}", remote_version="1")], actor="sync")
    daemon.agent.publish("consult.answer", {"id": reply.id})


def said(app: ClinicApp, words: str) -> bool:
    """Whether a note on screen says these words."""
    return any(words in str(n.message) for n in app._notifications)


def panel(app: ClinicApp) -> str:
    """What home's consultation panel shows (nothing while it is hidden)."""
    shown = app.screen.query_one(ConsultPanel)
    return visible_text(app) if shown.display else ""


async def test_request_wait_answer_and_outcome(make_app: MakeApp, daemon: Daemon) -> None:
    """The issue's whole round at 80x24: a request in five keys from the file, home honest that it is only on
    this PC, then sent; the answer rings and comes first on home with ⚠; the outcome three keys from home (F7, the
    outcome, Enter to confirm)."""
    daemon.agent.config = dataclasses.replace(daemon.agent.config, consultation_targets=(TARGET,))
    app = make_app()
    bells: list[None] = []
    app.bell = lambda: bells.append(None)  # type: ignore[method-assign]
    async with app.run_test(size=(80, 24)) as pilot:
        await sign_in(pilot)
        await open_file(pilot, "田玉梅")
        keys = Keys(pilot)
        await keys.press("q")
        await until(pilot, lambda: screen_name(pilot) == "ConsultRequestScreen" and bool(app.screen.attachments))
        await settled(pilot)
        suggested = [a["ref"] for a in app.screen.attachments]
        assert "铜仁市人民医院 心内科" in visible_text(app)  # the only service, chosen already
        assert "血压 " in visible_text(app)  # an attached reading as the file shows it, not the device's words
        assert "mm[Hg]" not in visible_text(app)
        await pilot.press(*"BP 170 on three drugs")  # the question itself is typed, not counted
        await keys.press("tab", "tab", "2")  # urgency: urgent
        await keys.press("ctrl+s")
        await until(pilot, lambda: screen_name(pilot) == "ResidentScreen")
        assert keys.count == 5

        made, _ = daemon.agent.store.entries.for_resident(resident_id(daemon, "田玉梅"), EntryKind.CONSULTATION)
        assert len(made) == 1
        asked: Any = made[0]
        assert asked.question == "BP 170 on three drugs"
        assert asked.urgency == "urgent"
        assert asked.target == "Organization/4401"
        assert list(asked.attachments) == suggested

        await pilot.press("escape")
        await until(pilot, lambda: screen_name(pilot) == "HomeScreen")
        await pilot.press("escape")  # the search box emptied: the lists of the day
        await until(pilot, lambda: "仅在本机" in panel(app))  # waiting: not sent, and home says so
        assert "BP 170 on three drugs" in panel(app)
        assert "已回复" not in panel(app)

        platform_has(daemon, asked.id)
        await until(pilot, lambda: "已发送" in panel(app))
        assert "仅在本机" not in panel(app)
        assert bells == []

        answer_arrives(daemon, asked.id, "加用螺内酯20mg")
        await until(pilot, lambda: "⚠ 已回复" in panel(app) and "加用螺内酯20mg" in panel(app))
        assert bells == [None]  # the alert: the bell, and a note on whatever screen is open
        assert any("F7" in str(n.message) for n in app._notifications)
        assert "1 条已回复待记录处理结果" in panel(app)

        keys.count = 0
        await keys.press("f7")  # the inbox, on the answer
        await until(pilot, lambda: screen_name(pilot) == "ConsultInboxScreen" and "加用螺内酯20mg" in visible_text(app))
        await keys.press("1")  # advice followed: asked first, the outcome named
        await until(pilot, lambda: screen_name(pilot) == "ConsultOutcomeScreen")
        assert "记录处理结果: 已按建议处理?" in visible_text(app)
        await keys.press("enter")  # no note
        await until(pilot, lambda: "已结束" in visible_text(app))
        assert keys.count == 3
        await pilot.press("escape")
        await until(pilot, lambda: screen_name(pilot) == "HomeScreen")
        await until(pilot, lambda: not app.screen.query_one(ConsultPanel).display)  # nothing open: no panel
    messages, _ = daemon.agent.store.entries.for_resident(asked.resident_id, EntryKind.CONSULTATION_MESSAGE)
    outcomes = [m.outcome for m in messages if isinstance(m, ConsultationMessage) and m.outcome]
    assert outcomes == ["advice-followed"]


async def test_a_request_with_no_question_is_refused_with_the_reason(make_app: MakeApp, daemon: Daemon) -> None:
    daemon.agent.config = dataclasses.replace(daemon.agent.config, consultation_targets=(TARGET,))
    app = make_app(language="en")
    async with app.run_test(size=(100, 30)) as pilot:
        await sign_in(pilot)
        await open_file(pilot, "田玉梅")
        await request_form(pilot)
        await pilot.press("ctrl+s")
        await until(pilot, lambda: said(app, "needs a question"))
        assert screen_name(pilot) == "ConsultRequestScreen"
    made, _ = daemon.agent.store.entries.for_resident(resident_id(daemon, "田玉梅"), EntryKind.CONSULTATION)
    assert made == []


async def test_an_incomplete_request_says_what_it_lacks_in_the_doctors_language(
    make_app: MakeApp, daemon: Daemon
) -> None:
    """The daemon's reasons are English only: in Chinese the form itself names what is missing, and the
    cursor goes there."""
    other = ("HealthcareService/77", "碧江区妇幼保健院 儿科")
    daemon.agent.config = dataclasses.replace(daemon.agent.config, consultation_targets=(TARGET, other))
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await sign_in(pilot)
        await open_file(pilot, "田玉梅")
        await request_form(pilot)
        await settled(pilot)
        await pilot.press("ctrl+s")
        await until(pilot, lambda: said(app, "还没有填写会诊问题"))
        assert app.screen.focused is app.screen.query_one("#i-question")

        await pilot.press("tab", "1")  # the first quick phrase fills the question in; its box is free again
        question = app.screen.query_one("#f-question", Field)
        await until(pilot, lambda: question.value.startswith("现用药物血压仍控制不达标"))
        assert app.screen.query_one("#f-phrase", SelectField).value is None
        await pilot.press("ctrl+s")  # two services offered, none chosen
        await until(pilot, lambda: said(app, "还没有选择会诊对象"))
        assert app.screen.focused is app.screen.query_one("#i-target")
        app.screen.query_one("#i-target", Select).value = other[0]

        table = app.screen.query_one("#attachments", PagedTable)
        table.table.focus()
        for _ in app.screen.attachments:  # every record left out
            await pilot.press("space", "down")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: said(app, "没有随申请发送的记录"))
        assert screen_name(pilot) == "ConsultRequestScreen"
    made, _ = daemon.agent.store.entries.for_resident(resident_id(daemon, "田玉梅"), EntryKind.CONSULTATION)
    assert made == []


def api(daemon: Daemon, method: str, **params: Any) -> Any:
    """Call the daemon's operation as the TUI's doctor does (in the daemon's process)."""
    return registry.call(daemon.agent, Caller(actor="user:doctor", role="doctor"), method, params)


def ask_about(daemon: Daemon, name: str, question: str) -> str:
    """A request made through the API, with the file's suggested attachments."""
    person = resident_id(daemon, name)
    suggested = [a["ref"] for a in api(daemon, "consult.attachments", resident_id=person)["attachments"]]
    made = api(
        daemon, "consult.request", resident_id=person, question=question, target=TARGET[0], attachments=suggested
    )
    return str(made["id"])


async def test_information_is_added_to_a_sent_request_from_the_inbox(make_app: MakeApp, daemon: Daemon) -> None:
    asked = ask_about(daemon, "田玉梅", "血压控制不佳")
    app = make_app(language="en")
    async with app.run_test(size=(80, 24)) as pilot:
        await sign_in(pilot)
        await pilot.press("f7")
        await until(pilot, lambda: screen_name(pilot) == "ConsultInboxScreen" and bool(app.screen.consultations))
        keys = Keys(pilot)
        await keys.press("a")
        await until(pilot, lambda: screen_name(pilot) == "ConsultAddScreen")
        await pilot.press("enter")  # nothing typed: refused with the daemon's reason, the dialog stays
        await until(pilot, lambda: any("nothing to add" in str(n.message) for n in app._notifications))
        assert screen_name(pilot) == "ConsultAddScreen"
        await pilot.press(*"BP 180/110 this morning")
        await keys.press("enter")
        await until(pilot, lambda: screen_name(pilot) == "ConsultInboxScreen")
        await until(pilot, lambda: "BP 180/110 this morning" in visible_text(app))
        assert keys.count == 2  # a, then Enter; the text itself is typed
    assert api(daemon, "consult.show", id=asked)["added"] == ["BP 180/110 this morning"]


async def test_a_closed_request_takes_no_more_information(make_app: MakeApp, daemon: Daemon) -> None:
    asked = ask_about(daemon, "田玉梅", "血压控制不佳")
    api(daemon, "consult.withdraw", id=asked)
    app = make_app(language="en")
    async with app.run_test(size=(80, 24)) as pilot:
        await sign_in(pilot)
        await pilot.press("f7")
        await until(pilot, lambda: screen_name(pilot) == "ConsultInboxScreen" and bool(app.screen.consultations))
        await pilot.press("a")
        await until(pilot, lambda: any("closed" in str(n.message) for n in app._notifications))
        assert screen_name(pilot) == "ConsultInboxScreen"
    assert api(daemon, "consult.show", id=asked)["added"] == []


async def test_home_lists_the_open_requests_answered_first_and_opens_one_with_a_key(
    make_app: MakeApp, daemon: Daemon
) -> None:
    first = ask_about(daemon, "田玉梅", "血压控制不佳")
    later = ask_about(daemon, "龙秀英", "血糖居高不下")  # newer: it would come first, were it not for the answer
    answer_arrives(daemon, first, "Add spironolactone 20 mg")
    app = make_app(language="en")
    async with app.run_test(size=(80, 24)) as pilot:
        await sign_in(pilot)
        await until(pilot, lambda: "Add spironolactone 20 mg" in panel(app))
        shown = panel(app)
        assert "Consultations (2), 1 answered, outcome to record: F7" in shown
        assert shown.index("⚠ answered") < shown.index("only on this PC")
        assert "血糖居高不下" in shown
        assert app.screen.query_one(ConsultPanel).query_one(PagedTable).current_key == first

        await pilot.press("f7")  # one key: the inbox, on the answered request
        await until(pilot, lambda: screen_name(pilot) == "ConsultInboxScreen" and app.screen.current is not None)
        assert app.screen.current["id"] == first
        await until(pilot, lambda: "Add spironolactone 20 mg" in visible_text(app))
    assert api(daemon, "consult.show", id=later)["state"] == "waiting"


async def test_the_outcome_is_confirmed_with_a_note_or_dropped_with_esc(make_app: MakeApp, daemon: Daemon) -> None:
    """The outcome key asks first, naming the outcome; Esc records nothing; a note typed goes with the outcome."""
    asked = ask_about(daemon, "田玉梅", "血压控制不佳")
    platform_has(daemon, asked)
    app = make_app(language="en")
    async with app.run_test(size=(80, 24)) as pilot:
        await sign_in(pilot)
        await pilot.press("f7")
        await until(pilot, lambda: screen_name(pilot) == "ConsultInboxScreen" and bool(app.screen.consultations))
        await pilot.press("2")
        await until(pilot, lambda: screen_name(pilot) == "ConsultOutcomeScreen")
        assert "Record the outcome: referred?" in visible_text(app)
        await pilot.press("escape")
        await until(pilot, lambda: screen_name(pilot) == "ConsultInboxScreen")
        await settled(pilot)
        assert api(daemon, "consult.show", id=asked)["outcome"] is None

        await pilot.press("2", *"to Tongren 12/5", "enter")
        await until(pilot, lambda: "to Tongren 12/5" in visible_text(app))  # the inbox shows the note
    outcome = api(daemon, "consult.show", id=asked)["outcome"]
    assert outcome["outcome"] == "referred"
    assert outcome["text"] == "to Tongren 12/5"


async def test_withdrawing_asks_first(make_app: MakeApp, daemon: Daemon) -> None:
    asked = ask_about(daemon, "田玉梅", "血压控制不佳")
    app = make_app(language="en")
    async with app.run_test(size=(80, 24)) as pilot:
        await sign_in(pilot)
        await pilot.press("f7")
        await until(pilot, lambda: screen_name(pilot) == "ConsultInboxScreen" and bool(app.screen.consultations))
        await pilot.press("w")
        await until(pilot, lambda: screen_name(pilot) == "ConfirmScreen")
        assert "血压控制不佳" in visible_text(app)  # which request it is
        await pilot.press("n")
        await until(pilot, lambda: screen_name(pilot) == "ConsultInboxScreen")
        await settled(pilot)
        assert api(daemon, "consult.show", id=asked)["state"] == "waiting"

        keys = Keys(pilot)
        await keys.press("w", "y")
        await until(pilot, lambda: "withdrawn" in visible_text(app))
        assert keys.count == 2
        await pilot.press("w")  # closed now: said at once, nothing asked
        await until(pilot, lambda: any("nothing to withdraw" in str(n.message) for n in app._notifications))
        assert screen_name(pilot) == "ConsultInboxScreen"
    assert api(daemon, "consult.show", id=asked)["closed_because"] == "withdrawn"


async def test_esc_on_a_changed_request_asks_before_dropping_it(make_app: MakeApp, daemon: Daemon) -> None:
    daemon.agent.config = dataclasses.replace(daemon.agent.config, consultation_targets=(TARGET,))
    app = make_app(language="en")
    async with app.run_test(size=(80, 24)) as pilot:
        await sign_in(pilot)
        await open_file(pilot, "田玉梅")
        await request_form(pilot)
        await settled(pilot)
        assert app.screen.focused is app.screen.query_one("#i-question")  # the question first
        await pilot.press("escape")  # nothing changed: back at once
        await until(pilot, lambda: screen_name(pilot) == "ResidentScreen")

        await request_form(pilot)
        await settled(pilot)
        await pilot.press(*"BP 170")
        await pilot.press("escape")
        await until(pilot, lambda: screen_name(pilot) == "ConfirmScreen")
        await pilot.press("n")  # keep it: the question is still there
        await until(pilot, lambda: screen_name(pilot) == "ConsultRequestScreen")
        assert app.screen.query_one("#f-question", Field).value == "BP 170"
        await pilot.press("escape", "y")
        await until(pilot, lambda: screen_name(pilot) == "ResidentScreen")
    made, _ = daemon.agent.store.entries.for_resident(resident_id(daemon, "田玉梅"), EntryKind.CONSULTATION)
    assert made == []


# -- snapshots ---------------------------------------------------------------------------------------------

INBOX = [
    {
        "id": "k-1",
        "resident_id": "r-1",
        "resident_name": "龙秀英",
        "question": "三种降压药联用血压仍在170左右, 请指导调整用药。",
        "urgency": "urgent",
        "target": "Organization/4401",
        "target_name": "铜仁市人民医院 心内科",
        "attachments": ["reading:rd-0", "condition:c-1"],
        "added": [],
        "requested_at": "2026-05-19T08:30:00+00:00",
        "state": "answered",
        "closed_because": None,
        "answers": ["建议加用螺内酯20mg每日一次, 两周后复查血钾和血压。"],
        "outcome": None,
    },
    {
        "id": "k-2",
        "resident_id": "r-2",
        "resident_name": "吴国华",
        "question": "发热伴血氧饱和度低, 是否需要转诊?",
        "urgency": "emergency",
        "target": "Organization/4402",
        "target_name": "碧江区人民医院 儿科",
        "attachments": ["reading:rd-9"],
        "added": [],
        "requested_at": "2026-05-20T07:10:00+00:00",
        "state": "waiting",
        "closed_because": None,
        "answers": [],
        "outcome": None,
    },
]


OPEN = [  # home's panel (consult.awaiting): answered first, then the others, newest first
    {
        "id": "k-1",
        "resident_id": "r-1",
        "resident_name": "龙秀英",
        "target": "Organization/4401",
        "target_name": "铜仁市人民医院 心内科",
        "urgency": "urgent",
        "requested_at": "2026-05-19T08:30:00+00:00",
        "state": "answered",
        "question": "三种降压药联用血压仍在170左右, 请指导调整用药。",
        "answer": "建议加用螺内酯20mg每日一次,\n两周后复查血钾和血压。",
    },
    {
        "id": "k-2",
        "resident_id": "r-2",
        "resident_name": "吴国华",
        "target": "Organization/4402",
        "target_name": "碧江区人民医院 儿科",
        "urgency": "emergency",
        "requested_at": "2026-05-20T07:10:00+00:00",
        "state": "waiting",
        "question": "发热伴血氧饱和度低, 是否需要转诊?",
        "answer": "",
    },
    {
        "id": "k-3",
        "resident_id": "r-3",
        "resident_name": "欧阳秀英",
        "target": "Organization/4401",
        "target_name": "铜仁市人民医院 心内科",
        "urgency": "routine",
        "requested_at": "2026-05-18T10:00:00+00:00",
        "state": "accepted",
        "question": "血糖居高不下, 请指导治疗方案。",
        "answer": "",
    },
    {
        "id": "k-4",
        "resident_id": "r-4",
        "resident_name": "杨光明",
        "target": "Organization/4401",
        "target_name": "铜仁市人民医院 心内科",
        "urgency": "routine",
        "requested_at": "2026-05-17T10:00:00+00:00",
        "state": "sent",
        "question": "怀疑药物不良反应, 请指导处理。",
        "answer": "",
    },
]


class ConsultFakeApi(FakeApi):
    """The fake API with consultations."""

    @checked
    async def call(self, method: str, params: dict[str, Any] | None = None) -> Any:
        answers: dict[str, Any] = {
            "consult.targets": {"targets": [{"target": "Organization/4401", "name": "铜仁市人民医院 心内科"}]},
            "consult.attachments": {
                "attachments": [
                    {
                        "ref": "reading:rd-0",
                        "kind": "reading",
                        "label": "BP",
                        "detail": "146/92 mm[Hg]",
                        "at": "2026-05-20T08:00:00+00:00",
                    },
                    {"ref": "condition:c-1", "kind": "condition", "label": "高血压", "detail": "", "at": None},
                    {"ref": "allergy:a-1", "kind": "allergy", "label": "青霉素", "detail": "皮疹", "at": None},
                    {
                        "ref": "follow_up:v-1",
                        "kind": "follow_up",
                        "label": "hypertension",
                        "detail": "硝苯地平缓释片 10mg",
                        "at": "2026-02-18",
                    },
                ]
            },
            "consult.list": {"consultations": INBOX},
            "consult.awaiting": {"consultations": OPEN},
        }
        if method in answers:
            self.calls.append((method, params or {}))
            return copy.deepcopy(answers[method])
        return await super().call(method, params)


def fake_app(language: str) -> ClinicApp:
    return ClinicApp(ConsultFakeApi(), language=language, today=lambda: date(2026, 5, 20), status_seconds=3600)


@pytest.mark.parametrize("language", ["zh", "en"])
def test_consultation_request_screen(snap_compare: Compare, language: str) -> None:
    async def open_request(pilot: Pilot[Any]) -> None:
        await resident_file(pilot)
        await request_form(pilot)
        await settled(pilot)

    assert snap_compare(fake_app(language), terminal_size=(80, 24), run_before=open_request)


async def signed_in_to_inbox(pilot: Pilot[Any]) -> None:
    """Sign in as the demo's doctor and open the consultation inbox from home (F7)."""
    await pilot.press(*"doctor", "enter", *"246810", "enter")
    await until(pilot, lambda: screen_name(pilot) == "HomeScreen" and bool(pilot.app.screen.summary))
    await pilot.press("f7")
    await until(pilot, lambda: screen_name(pilot) == "ConsultInboxScreen" and bool(pilot.app.screen.consultations))


@pytest.mark.parametrize("language", ["zh", "en"])
def test_consultation_inbox(snap_compare: Compare, language: str) -> None:
    async def open_inbox(pilot: Pilot[Any]) -> None:
        await signed_in_to_inbox(pilot)
        await settled(pilot)

    assert snap_compare(fake_app(language), terminal_size=(80, 24), run_before=open_inbox)


@pytest.mark.parametrize("language", ["zh", "en"])
def test_consultation_outcome_dialog(snap_compare: Compare, language: str) -> None:
    """The outcome named in full at 80 columns, the note's box and its hint uncut, Enter and Esc in the hints."""

    async def outcome(pilot: Pilot[Any]) -> None:
        await signed_in_to_inbox(pilot)
        await pilot.press("3")
        await until(pilot, lambda: screen_name(pilot) == "ConsultOutcomeScreen")
        await settled(pilot)

    assert snap_compare(fake_app(language), terminal_size=(80, 24), run_before=outcome)


@pytest.mark.parametrize("language", ["zh", "en"])
def test_home_with_open_consultations(snap_compare: Compare, language: str) -> None:
    async def signed_in(pilot: Pilot[Any]) -> None:
        await pilot.press(*"doctor", "enter", *"246810", "enter")
        await until(pilot, lambda: screen_name(pilot) == "HomeScreen" and bool(pilot.app.screen.summary))
        await until(pilot, lambda: pilot.app.screen.query_one(ConsultPanel).display)
        await settled(pilot)

    assert snap_compare(fake_app(language), terminal_size=(80, 24), run_before=signed_in)


@pytest.mark.parametrize(("language", "f7", "q"), [("zh", "f7 会诊", "q 会诊"), ("en", "f7 Consult", "q Consult")])
async def test_the_consultation_keys_are_in_the_hint_lines_at_80_columns(language: str, f7: str, q: str) -> None:
    app = fake_app(language)
    async with app.run_test(size=(80, 24)) as pilot:
        await resident_file(pilot)
        assert q in visible_text(app)  # a request from the file
        await pilot.press("escape")
        await until(pilot, lambda: screen_name(pilot) == "HomeScreen")
        await settled(pilot)
        assert f7 in visible_text(app)  # the inbox from home


async def test_f5_on_home_reads_the_consultation_panel_again() -> None:
    api = ConsultFakeApi()
    app = ClinicApp(api, language="en", today=lambda: date(2026, 5, 20), status_seconds=3600)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press(*"doctor", "enter", *"246810", "enter")
        await until(pilot, lambda: screen_name(pilot) == "HomeScreen" and app.screen.query_one(ConsultPanel).display)
        await settled(pilot)
        before = sum(1 for method, _ in api.calls if method == "consult.awaiting")
        await pilot.press("f5")
        await settled(pilot)
        assert sum(1 for method, _ in api.calls if method == "consult.awaiting") == before + 1


async def test_the_inbox_shows_an_answer_of_several_lines_line_by_line() -> None:
    class Api(ConsultFakeApi):
        @checked
        async def call(self, method: str, params: dict[str, Any] | None = None) -> Any:
            answer = await super().call(method, params)
            if method == "consult.list":
                answer["consultations"][0]["answers"] = ["建议加用螺内酯20mg每日一次,\r\n两周后复查血钾和血压。"]
            return answer

    app = ClinicApp(Api(), language="zh", today=lambda: date(2026, 5, 20), status_seconds=3600)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press(*"doctor", "enter", *"246810", "enter")
        await until(pilot, lambda: screen_name(pilot) == "HomeScreen" and bool(app.screen.summary))
        await pilot.press("f7")
        await until(pilot, lambda: screen_name(pilot) == "ConsultInboxScreen" and "两周后复查" in visible_text(app))
        detail = str(app.screen.query_one("#consult-detail").render())
        assert "每日一次,\n两周后复查血钾和血压。" in detail  # the line break kept, not shown as "?"


async def test_the_idle_lock_keeps_a_request_being_written_and_offers_it_back(
    make_app: MakeApp, daemon: Daemon, clock: Any
) -> None:
    daemon.agent.config = dataclasses.replace(daemon.agent.config, consultation_targets=(TARGET,))
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await sign_in(pilot)
        await open_file(pilot, "田玉梅")
        await request_form(pilot)
        await settled(pilot)
        await pilot.press(*"BP 170 on three drugs", "tab", "tab", "3")  # emergency
        clock.now += 3600
        app.lock_if_idle()
        await until(pilot, lambda: screen_name(pilot) == "LockScreen")
        drafts, _ = daemon.agent.store.drafts.of_user("user:doctor")
        assert [d.data["values"]["question"] for d in drafts] == ["BP 170 on three drugs"]
        await pilot.press("enter")
        await until(pilot, lambda: screen_name(pilot) == "SignInScreen")
        await pilot.press(*"246810", "enter")
        await until(pilot, lambda: screen_name(pilot) == "ConfirmScreen")
        await pilot.press("y")
        await until(pilot, lambda: screen_name(pilot) == "ConsultRequestScreen" and bool(app.screen.attachments))
        question = app.screen.query_one("#f-question", Field)
        await until(pilot, lambda: question.value == "BP 170 on three drugs")
        assert app.screen.query_one("#f-urgency", SelectField).value == "emergency"
        await pilot.press("ctrl+s")
        await until(pilot, lambda: screen_name(pilot) == "ResidentScreen")
    made, _ = daemon.agent.store.entries.for_resident(resident_id(daemon, "田玉梅"), EntryKind.CONSULTATION)
    assert [(m.question, m.urgency) for m in made] == [("BP 170 on three drugs", "emergency")]  # type: ignore[attr-defined]
    assert daemon.agent.store.drafts.of_user("user:doctor") == ([], [])


async def test_the_inbox_names_a_reply_it_cannot_show_and_a_request_made_on_another_pc() -> None:
    class Api(ConsultFakeApi):
        @checked
        async def call(self, method: str, params: dict[str, Any] | None = None) -> Any:
            answer = await super().call(method, params)
            if method == "consult.list":
                first = answer["consultations"][0]
                first["answers"], first["made_here"] = [], False
                first["unreadable"] = ["DiagnosticReport/77 only a PDF (application/pdf)"]
            return answer

    app = ClinicApp(Api(), language="zh", today=lambda: date(2026, 5, 20), status_seconds=3600)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press(*"doctor", "enter", *"246810", "enter")
        await until(pilot, lambda: screen_name(pilot) == "HomeScreen" and bool(app.screen.summary))
        await pilot.press("f7")
        await until(pilot, lambda: screen_name(pilot) == "ConsultInboxScreen")
        await until(pilot, lambda: "DiagnosticReport/77" in str(app.screen.query_one("#consult-detail").render()))
        detail = str(app.screen.query_one("#consult-detail").render())
        assert "请在平台上查看" in detail  # the doctor is told where the answer is, not shown nothing
        assert "另一台电脑" in detail


async def test_the_panel_filled_before_its_parts_are_mounted_fills_once_they_are() -> None:
    """The panel's answer can come while home is still mounting it (PIN typed ahead, a quick machine):
    it used to stop the app with NoMatches on its heading; it now fills the panel a frame later."""
    from textual.app import App

    from tui.i18n import Catalogue

    app: App[None] = App()
    async with app.run_test(size=(80, 24)) as pilot:
        panel = ConsultPanel(id="consult-panel")
        mounting = app.mount(panel)
        panel.show(copy.deepcopy(OPEN), Catalogue("zh"))  # before its heading and table are there
        await mounting
        await until(pilot, lambda: "龙秀英" in visible_text(app))
        assert panel.display
