"""Remote consultation against the real FHIR server (SEKMET): the request goes up once, a specialist
(this test, writing to the server as the county hospital's system would) accepts and answers, the
answer comes down into the resident's file, the doctor's outcome goes back up, and a withdrawal
revokes the request and cancels its Task."""

from __future__ import annotations

import asyncio
import base64
import random
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from clinic_agent.core.model import (
    Condition,
    ConsultationOutcome,
    EntryKind,
    Quantity,
    Reading,
    Urgency,
    new_id,
    utcnow,
)
from clinic_agent.runtime import consultations
from clinic_agent.runtime.agent import Agent
from sync.engine import EngineOptions, SyncEngine
from sync.engine.engine import SyncReport
from sync.fhir import codes, consultation
from sync.fhir.common import find_identifier, identifier_value
from sync.platform import FhirPlatform
from tests.integration.sync.faultproxy import FaultProxy
from tests.integration.sync.seeds import replay, seed_params
from tests.integration.sync.test_sync_followups import LoseFirstTransactionAnswer, everything, quick_sleep
from tests.support import resident

TARGET = "Organization/county-hospital-cardiology"
# The faulty link of the consultation set check: most answers lost after the server acted on them.
FAULTS = {"lost_reply": 0.4, "refuse": 0.08, "blackhole": 0.03, "unavailable": 0.05, "truncated": 0.05, "html": 0.03}


async def _sync(agent: Agent, url: str) -> SyncReport:
    settings = agent.store.sync.settings()
    options = EngineOptions(organization_id=settings["organization_id"], attempts=4, backoff_base=0.01)
    async with FhirPlatform(url, read_timeout=5.0, connect_timeout=2.0) as client:
        return await SyncEngine(agent.store.sync, client, options, sleep=quick_sleep).run()


def sync(agent: Agent, url: str) -> SyncReport:
    report = asyncio.run(_sync(agent, url))
    assert report.parked == 0, report
    return report


def by_own_identifier(resources: list[dict[str, Any]], record_id: str) -> list[dict[str, Any]]:
    return [r for r in resources if find_identifier(r, codes.UUID_SYSTEM) == identifier_value(record_id)]


class Specialist:
    """The county hospital's system, writing straight to the platform."""

    def __init__(self, base: str) -> None:
        self.http = httpx.Client(base_url=base, headers={"Accept": "application/fhir+json"}, timeout=10)

    def task_of(self, consultation_id: str) -> dict[str, Any]:
        task = identifier_value(consultation.task_id(consultation_id))
        found = self.http.get("Task", params={"identifier": f"{codes.UUID_SYSTEM}|{task}"}).json()
        tasks: list[dict[str, Any]] = [e["resource"] for e in found.get("entry", [])]
        assert len(tasks) == 1, tasks
        return tasks[0]

    def move_task(self, task: dict[str, Any], status: str, **more: Any) -> dict[str, Any]:
        body = {**task, "status": status, **more}
        answer = self.http.put(
            f"Task/{task['id']}", json=body, headers={"If-Match": f'W/"{task["meta"]["versionId"]}"'}
        )
        assert answer.status_code == 200, answer.text
        moved: dict[str, Any] = answer.json()
        return moved

    def reply(self, request: dict[str, Any], text: str) -> dict[str, Any]:
        body = {
            "resourceType": "Communication",
            "status": "completed",
            "basedOn": [{"reference": f"ServiceRequest/{request['id']}"}],
            "subject": request["subject"],
            "sent": utcnow().isoformat(),
            "sender": {"display": "铜仁市人民医院 心内科 王主任"},
            "payload": [{"contentString": text}],
        }
        answer = self.http.post("Communication", json=body)
        assert answer.status_code == 201, answer.text
        made: dict[str, Any] = answer.json()
        return made


@pytest.fixture
def specialist(fresh_fhir_server: str) -> Iterator[Specialist]:
    acting = Specialist(fresh_fhir_server)
    try:
        yield acting
    finally:
        acting.http.close()


def test_a_consultation_goes_up_once_is_answered_and_its_outcome_goes_back(
    fresh_fhir_server: str, clinic_factory: Callable[..., Agent], specialist: Specialist
) -> None:
    agent = clinic_factory(fresh_fhir_server)
    store = agent.store
    person = store.residents.add(resident(), actor="test")
    taken = utcnow() - timedelta(days=2)
    bp = store.readings.add(
        Reading(
            id=new_id(),
            resident_id=person.id,
            code=codes.BP_PANEL,
            components=(
                Quantity(code=codes.SYSTOLIC, value="172", unit="mm[Hg]"),
                Quantity(code=codes.DIASTOLIC, value="104", unit="mm[Hg]"),
            ),
            taken_at=taken,
            received_at=taken,
        ),
        actor="test",
    )
    htn = store.entries.add(Condition(id=new_id(), resident_id=person.id, name="高血压", code="2"), actor="doctor")
    sync(agent, fresh_fhir_server)  # the file is on the platform; the link then drops

    suggested = {item["ref"] for item in consultations.suggested_attachments(agent, person.id)}
    assert suggested == {f"reading:{bp.id}", f"condition:{htn.id}"}
    asked = consultations.request(
        agent,
        resident_id=person.id,
        question="三种降压药联用血压仍在170左右, 请指导调整用药。",
        target=TARGET,
        target_name="铜仁市人民医院 心内科",
        urgency=Urgency.URGENT,
        attachments=tuple(sorted(suggested)),
        author="张伟",
        actor="doctor",
    )
    assert consultations.show(agent, asked.id)["state"] == "waiting"

    server_port = urlsplit(fresh_fhir_server).port or 80

    async def through_a_lossy_link() -> int:
        proxy = LoseFirstTransactionAnswer(server_port)
        port = await proxy.start()
        try:
            await _sync(agent, fresh_fhir_server.replace(f":{server_port}/", f":{port}/"))
            return proxy.lost
        finally:
            await proxy.stop()

    assert asyncio.run(through_a_lossy_link()) == 1
    sync(agent, fresh_fhir_server)  # again: nothing more goes up
    requests = by_own_identifier(asyncio.run(everything(fresh_fhir_server, "ServiceRequest")), asked.id)
    tasks = asyncio.run(everything(fresh_fhir_server, "Task"))
    assert len(requests) == 1, "the request went up exactly once"
    assert len(by_own_identifier(tasks, consultation.task_id(asked.id))) == 1
    request = requests[0]
    assert request["priority"] == "urgent"
    assert request["status"] == "active"
    assert request["reasonCode"][0]["text"].startswith("三种降压药")
    assert request["performer"][0]["reference"] == TARGET
    reading_state = store.sync.load("readings", bp.id)
    assert reading_state is not None
    observation_id = reading_state.remote_id
    references = {info["type"]: info.get("reference") for info in request["supportingInfo"]}
    assert references["Observation"] == f"Observation/{observation_id}"
    assert references["Condition"] is not None
    shown = consultations.show(agent, asked.id)
    assert shown["state"] == "sent"
    assert shown["platform_id"] == f"ServiceRequest/{request['id']}"

    task = specialist.task_of(asked.id)
    assert task["status"] == "requested"
    assert task["focus"]["reference"] == f"ServiceRequest/{request['id']}"
    task = specialist.move_task(task, "accepted")
    report = sync(agent, fresh_fhir_server)
    assert report.answers, "an accepted Task is news for the doctor"
    assert consultations.show(agent, asked.id)["state"] == "accepted"

    specialist.reply(request, "建议加用螺内酯20mg每日一次, 两周后复查血钾和血压。")
    specialist.move_task(task, "completed", output=[{"type": {"text": "advice"}, "valueString": "见回复"}])
    report = sync(agent, fresh_fhir_server)
    assert len(report.answers) == 2
    shown = consultations.show(agent, asked.id)
    assert shown["state"] == "answered"
    assert "建议加用螺内酯20mg每日一次, 两周后复查血钾和血压。" in shown["answers"]
    assert shown["replies"][0]["sender"] == "铜仁市人民医院 心内科 王主任"
    in_file, _ = store.entries.for_resident(person.id, EntryKind.CONSULTATION_MESSAGE)
    assert len(in_file) == 1  # the reply is in the resident's file

    consultations.record_outcome(
        agent, asked.id, outcome=ConsultationOutcome.ADVICE_FOLLOWED, text="已加用螺内酯", sender="张伟", actor="doctor"
    )
    report = sync(agent, fresh_fhir_server)
    assert report.answers == [], "our own outcome read back is no news"
    sent = [
        c
        for c in asyncio.run(everything(fresh_fhir_server, "Communication"))
        if any(
            coding.get("code") == "advice-followed"
            for reason in c.get("reasonCode", [])
            for coding in reason.get("coding", [])
        )
    ]
    assert len(sent) == 1
    assert sent[0]["basedOn"] == [{"reference": f"ServiceRequest/{request['id']}"}]
    assert sent[0]["payload"] == [{"contentString": "已加用螺内酯"}]
    assert consultations.show(agent, asked.id)["state"] == "closed"


def test_a_withdrawn_consultation_is_revoked_and_its_task_cancelled(
    fresh_fhir_server: str, clinic_factory: Callable[..., Agent], specialist: Specialist
) -> None:
    agent = clinic_factory(fresh_fhir_server)
    store = agent.store
    person = store.residents.add(resident(), actor="test")
    htn = store.entries.add(Condition(id=new_id(), resident_id=person.id, name="高血压", code="2"), actor="doctor")
    asked = consultations.request(
        agent,
        resident_id=person.id,
        question="血压控制不佳",
        target=TARGET,
        urgency=Urgency.EMERGENCY,
        attachments=(f"condition:{htn.id}",),
        actor="doctor",
    )
    sync(agent, fresh_fhir_server)
    task = specialist.move_task(specialist.task_of(asked.id), "in-progress")
    sync(agent, fresh_fhir_server)
    assert consultations.show(agent, asked.id)["state"] == "accepted"

    consultations.add_information(agent, asked.id, text="今晨血压180/110", actor="doctor")
    sync(agent, fresh_fhir_server)
    request = by_own_identifier(asyncio.run(everything(fresh_fhir_server, "ServiceRequest")), asked.id)[0]
    assert request["note"] == [{"text": "今晨血压180/110"}]
    assert request["priority"] == "stat"

    consultations.withdraw(agent, asked.id, actor="doctor")
    assert consultations.show(agent, asked.id)["state"] == "closed"
    sync(agent, fresh_fhir_server)
    request = by_own_identifier(asyncio.run(everything(fresh_fhir_server, "ServiceRequest")), asked.id)[0]
    task_now = specialist.task_of(asked.id)
    assert request["status"] == "revoked"
    assert task_now["status"] == "cancelled"
    assert task_now["meta"]["versionId"] != task["meta"]["versionId"]
    assert store.sync.record_state("entries", asked.id) == "confirmed"


def test_a_reply_the_agent_cannot_read_is_set_aside_with_the_reason(
    fresh_fhir_server: str, clinic_factory: Callable[..., Agent], specialist: Specialist
) -> None:
    agent = clinic_factory(fresh_fhir_server)
    store = agent.store
    person = store.residents.add(resident(), actor="test")
    htn = store.entries.add(Condition(id=new_id(), resident_id=person.id, name="高血压", code="2"), actor="doctor")
    asked = consultations.request(
        agent,
        resident_id=person.id,
        question="请会诊",
        target=TARGET,
        attachments=(f"condition:{htn.id}",),
        actor="doctor",
    )
    sync(agent, fresh_fhir_server)
    request = by_own_identifier(asyncio.run(everything(fresh_fhir_server, "ServiceRequest")), asked.id)[0]
    body = {
        "resourceType": "Communication",
        "status": "completed",
        "basedOn": [{"reference": f"ServiceRequest/{request['id']}"}],
        "subject": request["subject"],
        "payload": [{"contentAttachment": {"contentType": "image/png", "data": "iVBORw0KGgo="}}],
    }
    posted = specialist.http.post("Communication", json=body)
    assert posted.status_code == 201
    image = posted.json()
    task = specialist.task_of(asked.id)
    pdf = {"contentType": "application/pdf", "data": base64.b64encode(b"%PDF-1.4").decode()}
    specialist.move_task(task, "in-progress", output=[{"type": {"text": "report"}, "valueAttachment": pdf}])
    report = asyncio.run(_sync(agent, fresh_fhir_server))
    assert report.parked == 2
    assert sorted(report.answers) == sorted([image["id"], task["id"]]), "the doctor is alerted all the same"
    parked = {p.entity: p for p in store.sync.parked()}
    assert "not inline text/plain (image/png)" in parked["Communication"].reason
    assert "not inline text/plain (application/pdf)" in parked["Task"].reason
    shown = consultations.show(agent, asked.id)
    assert shown["state"] == "answered", "an answer came, though it cannot be shown here"
    assert shown["answers"] == []
    assert sorted(u.split(" ", 1)[0] for u in shown["unreadable"]) == [
        f"Communication/{image['id']}",
        f"Task/{task['id']}",
    ]

    # The specialist sends the advice again as text: read, and no longer set aside.
    text = {"contentType": "text/plain", "data": base64.b64encode("建议加用螺内酯".encode()).decode()}
    again = specialist.http.put(
        f"Communication/{image['id']}", json={**image, "payload": [{"contentAttachment": text}]}
    )
    assert again.status_code == 200, again.text
    report = asyncio.run(_sync(agent, fresh_fhir_server))
    assert len(report.answers) == 1, "the reply read; the Task set aside, read again unchanged, is no new alert"
    assert task["id"] not in report.answers
    shown = consultations.show(agent, asked.id)
    assert shown["answers"] == ["建议加用螺内酯"]
    assert [u.split(" ", 1)[0] for u in shown["unreadable"]] == [f"Task/{task['id']}"]
    assert [p.entity for p in store.sync.parked()] == ["Task"]


@pytest.mark.parametrize("seed", seed_params(1))
def test_consultations_asked_offline_go_up_once_through_a_faulty_link(
    seed: int, fresh_fhir_server: str, clinic_factory: Callable[..., Agent]
) -> None:
    """Requests made while the link drops replies, refuses and garbles: after it heals each is on the
    platform once, as one ServiceRequest and one Task, and none is there that the PC did not make."""
    case = replay(seed)
    agent = clinic_factory(fresh_fhir_server)
    store = agent.store
    rng = random.Random(seed)
    people = [store.residents.add(resident(rng), actor="test") for _ in range(4)]
    conditions = {
        p.id: store.entries.add(Condition(id=new_id(), resident_id=p.id, name="高血压", code="2"), actor="doctor")
        for p in people
    }
    asked: list[str] = []
    server_port = urlsplit(fresh_fhir_server).port or 80

    async def through_faults() -> Counter[str]:
        proxy = FaultProxy(server_port, seed=seed, faults=FAULTS)
        port = await proxy.start()
        url = fresh_fhir_server.replace(f":{server_port}/", f":{port}/")
        try:
            for _ in range(6):
                for _ in range(2):
                    person = rng.choice(people)
                    made = consultations.request(
                        agent,
                        resident_id=person.id,
                        question=f"血压控制不佳 {len(asked) + 1}",
                        target=TARGET,
                        urgency=rng.choice(list(Urgency)),
                        attachments=(f"condition:{conditions[person.id].id}",),
                        actor="doctor",
                    )
                    asked.append(made.id)
                await _sync(agent, url)  # errors are expected: the next round, or the heal, goes on
            proxy.heal()
            for _ in range(20):
                await _sync(agent, url)
                if not store.sync.queue_counts()["pending"]:
                    break
            return proxy.counts
        finally:
            await proxy.stop()

    faults = asyncio.run(through_faults())
    assert faults["lost_reply"] > 0, case
    requests = asyncio.run(everything(fresh_fhir_server, "ServiceRequest"))
    tasks = asyncio.run(everything(fresh_fhir_server, "Task"))
    sent = Counter(find_identifier(r, codes.UUID_SYSTEM) for r in requests)
    tracked = Counter(find_identifier(t, codes.UUID_SYSTEM) for t in tasks)
    expected = {identifier_value(a) for a in asked}
    assert set(sent) == expected, f"lost or unexpected requests; {case}"
    assert set(tracked) == {identifier_value(consultation.task_id(a)) for a in asked}, case
    assert {k: n for k, n in (sent + tracked).items() if n > 1} == {}, f"duplicated; {case}"
    assert store.sync.queue_counts()["pending"] == 0, case
    assert {consultations.show(agent, a)["state"] for a in asked} == {"sent"}, case
