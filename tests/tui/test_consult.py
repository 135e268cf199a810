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

from clinic_agent.api import registry
from clinic_agent.core.model import ConsultationMessage, EntryKind, new_id, utcnow
from clinic_agent.core.sync_values import ENTRIES, Confirmed
from clinic_agent.runtime.agent import Caller
from sync.engine.conflicts import adopt
from sync.engine.mapping import comparable
from tests.tui.conftest import Daemon
from tests.tui.fake_api import FakeApi
from tests.tui.helpers import screen_name, settled, sign_in, until, visible_text
from tests.tui.test_flows import open_file, resident_id
from tests.tui.test_snapshots import resident_file, steady_cursor, utc
from tui.app import ClinicApp

__all__ = ["steady_cursor", "utc"]  # the snapshots' autouse fixtures: a steady cursor, times in UTC
MakeApp = Callable[..., ClinicApp]
Compare = Callable[..., bool]
TARGET = ("Organization/4401", "铜仁市人民医院 心内科")


class Keys:
    """Presses keys and counts them (the issue asks for a request in a few keys)."""

    def __init__(self, pilot: Pilot[None]) -> None:
        self.pilot = pilot
        self.count = 0

    async def press(self, *keys: str) -> None:
        self.count += len(keys)
        await self.pilot.press(*keys)


def answer_arrives(daemon: Daemon, consultation_id: str, text: str) -> None:
    """What a sync does when the platform has the request and a specialist replied (the store's own calls)."""
    store = daemon.agent.store
    pending = store.sync.pending_for(ENTRIES, consultation_id)
    state = store.sync.load(ENTRIES, consultation_id)
    assert pending is not None
    assert state is not None
    store.sync.confirm(
        [Confirmed(pending.seq, ENTRIES, consultation_id, state.record.version, "sr-1", "1", comparable(state.record))]
    )
    reply = ConsultationMessage(
        id=new_id(),
        resident_id=state.record.resident_id,
        request="ServiceRequest/sr-1",
        text=text,
        sent_at=utcnow(),
        sender="王主任",
    )
    store.sync.apply([adopt(ENTRIES, reply, remote_id="cm-1", remote_version="1")], actor="sync")
    daemon.agent.publish("consult.answer", {"id": reply.id})


async def test_request_wait_answer_and_outcome(make_app: MakeApp, daemon: Daemon) -> None:
    daemon.agent.config = dataclasses.replace(daemon.agent.config, consultation_targets=(TARGET,))
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await sign_in(pilot)
        await open_file(pilot, "田玉梅")
        keys = Keys(pilot)
        await keys.press("q")
        await until(pilot, lambda: screen_name(pilot) == "ConsultRequestScreen" and bool(app.screen.attachments))
        await settled(pilot)
        suggested = [a["ref"] for a in app.screen.attachments]
        assert "铜仁市人民医院 心内科" in visible_text(app)  # the only service, chosen already
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
        await pilot.press("f7")
        await until(pilot, lambda: screen_name(pilot) == "ConsultInboxScreen" and bool(app.screen.consultations))
        await until(pilot, lambda: "待发送" in visible_text(app))
        assert "目前只在本机" in visible_text(app)

        answer_arrives(daemon, asked.id, "加用螺内酯20mg")
        await until(pilot, lambda: "已回复" in visible_text(app))
        assert "加用螺内酯20mg" in visible_text(app)
        assert any("F7" in str(n.message) for n in app._notifications)  # the alert, on whatever screen is open

        keys.count = 0
        await keys.press("1")
        await until(pilot, lambda: "已结束" in visible_text(app))
        assert keys.count == 1
    messages, _ = daemon.agent.store.entries.for_resident(asked.resident_id, EntryKind.CONSULTATION_MESSAGE)
    outcomes = [m.outcome for m in messages if isinstance(m, ConsultationMessage) and m.outcome]
    assert outcomes == ["advice-followed"]


async def test_a_request_with_no_question_is_refused_with_the_reason(make_app: MakeApp, daemon: Daemon) -> None:
    daemon.agent.config = dataclasses.replace(daemon.agent.config, consultation_targets=(TARGET,))
    app = make_app(language="en")
    async with app.run_test(size=(100, 30)) as pilot:
        await sign_in(pilot)
        await open_file(pilot, "田玉梅")
        await pilot.press("q")
        await until(pilot, lambda: screen_name(pilot) == "ConsultRequestScreen" and bool(app.screen.attachments))
        await pilot.press("ctrl+s")
        await until(pilot, lambda: "needs a question" in visible_text(app))
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


async def test_home_shows_an_answered_consultation_until_its_outcome_is_recorded(
    make_app: MakeApp, daemon: Daemon
) -> None:
    asked = ask_about(daemon, "田玉梅", "血压控制不佳")
    app = make_app(language="en")
    async with app.run_test(size=(80, 24)) as pilot:
        await sign_in(pilot)
        await settled(pilot)
        assert "Answered consultations" not in visible_text(app)  # nothing answered: no panel
        assert "f7 Consult" in visible_text(app)  # the key hint line names the inbox

        answer_arrives(daemon, asked, "Add spironolactone 20 mg")
        await until(pilot, lambda: "Add spironolactone 20 mg" in visible_text(app))
        assert "Answered consultations, outcome to record (1)" in visible_text(app)
        assert "田玉梅" in visible_text(app)

        keys = Keys(pilot)
        await keys.press("f7")  # the inbox, on that answer
        await until(pilot, lambda: screen_name(pilot) == "ConsultInboxScreen" and "answered" in visible_text(app))
        await keys.press("1")  # advice followed
        await until(pilot, lambda: "outcome recorded" in visible_text(app))
        assert keys.count == 2
        await pilot.press("escape")
        await until(pilot, lambda: screen_name(pilot) == "HomeScreen")
        await until(pilot, lambda: "Answered consultations" not in visible_text(app))
    assert api(daemon, "consult.show", id=asked)["state"] == "closed"


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


class ConsultFakeApi(FakeApi):
    """The fake API with consultations."""

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
        await pilot.press("q")
        await until(pilot, lambda: screen_name(pilot) == "ConsultRequestScreen" and bool(pilot.app.screen.attachments))
        await settled(pilot)

    assert snap_compare(fake_app(language), terminal_size=(80, 24), run_before=open_request)


@pytest.mark.parametrize("language", ["zh", "en"])
def test_consultation_inbox(snap_compare: Compare, language: str) -> None:
    async def open_inbox(pilot: Pilot[Any]) -> None:
        await pilot.press(*"doctor", "enter", *"246810", "enter")
        await until(pilot, lambda: screen_name(pilot) == "HomeScreen" and bool(pilot.app.screen.summary))
        await pilot.press("f7")
        await until(pilot, lambda: screen_name(pilot) == "ConsultInboxScreen" and bool(pilot.app.screen.consultations))
        await settled(pilot)

    assert snap_compare(fake_app(language), terminal_size=(80, 24), run_before=open_inbox)
