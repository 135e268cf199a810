"""Consultations a clinic shares between its PCs, answers in every form the agent reads, and a withdrawal
that never replaces the specialist's side's writes — against the real FHIR server (SEKMET).

- A request made on one PC of a clinic comes down to its other PCs with its state, shown as made
  elsewhere, and either can record the outcome; a ServiceRequest that is not a consultation (a lab order) is left alone.
- A specialist's answer as a DiagnosticReport (its conclusion and text/plain form) and as a Task's
  output is read; a report with nothing readable is set aside with the reason.
- A withdrawal reads the Task first, even when this PC never pulled it: the cancellation is laid
  over the specialist's Task (owner, notes, outputs kept) with If-Match on the version read, so a
  write of theirs in between is not lost, and a Task they already ended stays as they left it.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable, Sequence
from typing import Any

from clinic_agent.api import registry
from clinic_agent.core.model import Condition, ConsultationOutcome, EntryKind, Urgency, new_id, utcnow
from clinic_agent.runtime import consultations
from clinic_agent.runtime.agent import Agent, Caller
from sync.engine import EngineOptions, SyncEngine
from sync.engine.engine import SyncReport
from sync.fhir.bundle import SearchPage
from sync.platform import FhirPlatform
from tests.integration.sync.test_sync_consultations import TARGET, Specialist, by_own_identifier, specialist, sync
from tests.integration.sync.test_sync_followups import everything, quick_sleep
from tests.support import resident

__all__ = ["specialist"]  # the fixture, shared with test_sync_consultations
DOCTOR = Caller(actor="user:doctor", role="doctor")


def ask(agent: Agent, question: str = "三种降压药联用血压仍在170左右, 请指导调整用药。") -> tuple[str, str]:
    """A resident with hypertension and a request about her: (resident id, consultation id)."""
    person = agent.store.residents.add(resident(), actor="test")
    htn = agent.store.entries.add(Condition(id=new_id(), resident_id=person.id, name="高血压", code="2"), actor="d")
    asked = consultations.request(
        agent,
        resident_id=person.id,
        question=question,
        target=TARGET,
        target_name="铜仁市人民医院 心内科",
        urgency=Urgency.URGENT,
        attachments=(f"condition:{htn.id}",),
        author="张伟",
        actor="doctor",
    )
    return person.id, asked.id


def the_request(base: str, consultation_id: str) -> dict[str, Any]:
    found = by_own_identifier(asyncio.run(everything(base, "ServiceRequest")), consultation_id)
    assert len(found) == 1, found
    return found[0]


def post(specialist: Specialist, resource: dict[str, Any]) -> dict[str, Any]:
    answer = specialist.http.post(resource["resourceType"], json=resource)
    assert answer.status_code == 201, answer.text
    made: dict[str, Any] = answer.json()
    return made


def report(
    request: dict[str, Any], *, conclusion: str | None, forms: Sequence[tuple[str, bytes]] = ()
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "resourceType": "DiagnosticReport",
        "status": "final",
        "code": {"text": "远程会诊意见"},
        "basedOn": [{"reference": f"ServiceRequest/{request['id']}"}],
        "subject": request["subject"],
        "issued": utcnow().isoformat(),
        "resultsInterpreter": [{"display": "铜仁市人民医院 心内科 王主任"}],
        "presentedForm": [{"contentType": kind, "data": base64.b64encode(data).decode()} for kind, data in forms],
    }
    if conclusion is not None:
        body["conclusion"] = conclusion
    if not forms:
        del body["presentedForm"]
    return body


async def _push_only(agent: Agent, platform: FhirPlatform) -> SyncReport:
    options = EngineOptions(
        organization_id=agent.store.sync.settings()["organization_id"], attempts=4, backoff_base=0.01, pull=False
    )
    return await SyncEngine(agent.store.sync, platform, options, sleep=quick_sleep).run()


def push_only(agent: Agent, base: str) -> SyncReport:
    """A sync that sends and reads nothing back: this PC never sees the Task."""

    async def run() -> SyncReport:
        async with FhirPlatform(base, read_timeout=5.0, connect_timeout=2.0) as platform:
            return await _push_only(agent, platform)

    return asyncio.run(run())


def test_a_request_made_on_another_pc_of_the_clinic_is_seen_here_with_its_state(
    fresh_fhir_server: str, clinic_factory: Callable[..., Agent], specialist: Specialist
) -> None:
    first = clinic_factory(fresh_fhir_server, code="TR7001")
    second = clinic_factory(fresh_fhir_server, code="TR7001")  # the clinic's other PC
    person_id, asked = ask(first)
    sync(first, fresh_fhir_server)
    request = the_request(fresh_fhir_server, asked)
    post(  # the county hospital orders a lab test for her: not a consultation, not for the inbox
        specialist,
        {
            "resourceType": "ServiceRequest",
            "status": "active",
            "intent": "order",
            "code": {"coding": [{"system": "http://loinc.org", "code": "4548-4", "display": "HbA1c"}]},
            "subject": request["subject"],
        },
    )

    sync(second, fresh_fhir_server)
    seen = registry.call(second, DOCTOR, "consult.list", {})["consultations"]
    assert [c["id"] for c in seen] == [asked], "the other PC's request, and only it"
    assert seen[0]["state"] == "sent"
    assert seen[0]["made_here"] is False, "shown as made on another PC, not as this one's"
    assert consultations.show(first, asked)["made_here"] is True
    assert seen[0]["question"].startswith("三种降压药联用")
    assert (seen[0]["author"], seen[0]["urgency"], seen[0]["target"]) == ("张伟", "urgent", TARGET)
    assert seen[0]["platform_id"] == f"ServiceRequest/{request['id']}"
    assert second.store.residents.get(person_id) is not None

    task = specialist.move_task(specialist.task_of(asked), "accepted")
    sync(second, fresh_fhir_server)
    assert consultations.show(second, asked)["state"] == "accepted"
    specialist.move_task(task, "completed")
    post(specialist, report(request, conclusion="建议加用螺内酯20mg每日一次, 两周后复查血钾。"))
    sync(second, fresh_fhir_server)
    shown = consultations.show(second, asked)
    assert shown["state"] == "answered"
    assert shown["answers"] == ["建议加用螺内酯20mg每日一次, 两周后复查血钾。"]

    consultations.record_outcome(
        second, asked, outcome=ConsultationOutcome.REFERRED, sender="李医生", actor="doctor"
    )  # the other PC's doctor saw her first
    sync(second, fresh_fhir_server)
    sync(first, fresh_fhir_server)
    shown = consultations.show(first, asked)
    assert (shown["state"], shown["closed_because"]) == ("closed", "outcome")
    assert shown["outcome"]["outcome"] == "referred"
    assert len(by_own_identifier(asyncio.run(everything(fresh_fhir_server, "ServiceRequest")), asked)) == 1
    assert the_request(fresh_fhir_server, asked)["meta"]["versionId"] == request["meta"]["versionId"], (
        "pulling the request changed nothing on the platform"
    )
    for agent in (first, second):
        assert agent.store.sync.parked() == []
        assert agent.store.sync.queue_counts()["pending"] == 0


def test_answers_as_a_report_or_the_tasks_output_are_read_and_an_unreadable_one_is_set_aside(
    fresh_fhir_server: str, clinic_factory: Callable[..., Agent], specialist: Specialist
) -> None:
    agent = clinic_factory(fresh_fhir_server)
    person_id, asked = ask(agent)
    sync(agent, fresh_fhir_server)
    request = the_request(fresh_fhir_server, asked)
    written = post(
        specialist,
        report(
            request,
            conclusion="考虑继发性高血压",
            forms=[("text/plain; charset=utf-8", "建议查肾素、醛固酮。".encode())],
        ),
    )
    post(specialist, report(request, conclusion=None, forms=[("application/pdf", b"%PDF-1.4")]))
    specialist.move_task(
        specialist.task_of(asked),
        "completed",
        output=[
            {"type": {"text": "report"}, "valueReference": {"reference": f"DiagnosticReport/{written['id']}"}},
            {
                "type": {"text": "advice"},
                "valueAttachment": {
                    "contentType": "text/plain",
                    "data": base64.b64encode("暂停利尿剂".encode()).decode(),
                },
            },
        ],
    )
    report_ = asyncio.run(_sync(agent, fresh_fhir_server))
    assert report_.parked == 1
    parked = [p for p in agent.store.sync.parked() if p.entity == "DiagnosticReport"]
    assert len(parked) == 1 and "not inline text/plain (application/pdf)" in parked[0].reason  # noqa: PT018
    shown = consultations.show(agent, asked)
    assert shown["state"] == "answered"
    assert sorted(shown["answers"]) == sorted(["暂停利尿剂", "考虑继发性高血压\n\n建议查肾素、醛固酮。"])
    assert shown["replies"][0]["sender"] == "铜仁市人民医院 心内科 王主任"
    in_file, _ = agent.store.entries.for_resident(person_id, EntryKind.CONSULTATION_MESSAGE)
    assert len(in_file) == 1  # the report is in the resident's file, as a reply


async def _sync(agent: Agent, base: str) -> SyncReport:
    options = EngineOptions(organization_id=agent.store.sync.settings()["organization_id"], attempts=4)
    async with FhirPlatform(base, read_timeout=5.0, connect_timeout=2.0) as platform:
        return await SyncEngine(agent.store.sync, platform, options, sleep=quick_sleep).run()


def test_a_withdrawal_keeps_what_the_specialist_wrote_on_a_task_this_pc_never_read(
    fresh_fhir_server: str, clinic_factory: Callable[..., Agent], specialist: Specialist
) -> None:
    agent = clinic_factory(fresh_fhir_server)
    _, asked = ask(agent)
    _, ended = ask(agent, "血糖控制不佳")
    push_only(agent, fresh_fhir_server)
    specialist.move_task(
        specialist.task_of(asked),
        "in-progress",
        owner={"reference": TARGET, "display": "心内科 王主任"},
        note=[{"text": "已排入明日会诊"}],
    )
    specialist.move_task(specialist.task_of(ended), "rejected", statusReason={"text": "请转内分泌科"})

    consultations.withdraw(agent, asked, actor="doctor")
    consultations.withdraw(agent, ended, actor="doctor")
    raced: list[str] = []

    class SpecialistWritesInBetween(FhirPlatform):
        """The specialist adds a note right after the agent has read the Task, before it writes."""

        async def search(self, resource_type: str, params: Sequence[tuple[str, str]]) -> SearchPage:
            page = await super().search(resource_type, params)
            if resource_type == "Task" and not raced and page.resources:
                task = specialist.task_of(asked)
                specialist.move_task(task, "in-progress", note=[*task["note"], {"text": "请补充近三天血压"}])
                raced.append(task["id"])
            return page

    async def run() -> SyncReport:
        async with SpecialistWritesInBetween(fresh_fhir_server, read_timeout=5.0, connect_timeout=2.0) as platform:
            return await _push_only(agent, platform)

    done = asyncio.run(run())
    assert raced, "the Task was read before the withdrawal was written"
    assert done.parked == 0
    task = specialist.task_of(asked)
    assert task["status"] == "cancelled"
    assert task["note"] == [{"text": "已排入明日会诊"}, {"text": "请补充近三天血压"}], "their notes are kept"
    assert task["owner"] == {"reference": TARGET, "display": "心内科 王主任"}
    assert the_request(fresh_fhir_server, asked)["status"] == "revoked"
    rejected = specialist.task_of(ended)
    assert (rejected["status"], rejected["statusReason"]) == ("rejected", {"text": "请转内分泌科"})
    assert the_request(fresh_fhir_server, ended)["status"] == "revoked"
    assert agent.store.sync.queue_counts()["pending"] == 0
