"""Follow-up visits and notes reach the real FHIR server (SEKMET) exactly once, even when an answer is lost."""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter
from collections.abc import Callable
from datetime import date
from typing import Any
from urllib.parse import urlsplit

from clinic_agent.core.model import FollowUp, Medication, Note, Programme, new_id, utcnow
from clinic_agent.runtime.agent import Agent
from sync.engine import EngineOptions, SyncEngine
from sync.engine.mapping import comparable
from sync.fhir import codes, followup, questionnaire
from sync.fhir.common import find_identifier
from sync.platform import FhirPlatform
from tests.integration.sync.faultproxy import FaultProxy
from tests.support import resident


class LoseFirstTransactionAnswer(FaultProxy):
    """Relays everything; the answer to the first transaction (a POST to the base) is lost after the server acted."""

    def __init__(self, upstream_port: int) -> None:
        super().__init__(upstream_port, seed=0)
        self.lost = 0

    async def _act(self, fault: str, request: bytes, writer: Any) -> None:
        line = request.split(b"\r\n", 1)[0]
        if line.startswith(b"POST ") and line.split(b" ")[1].rstrip(b"/").endswith(b"/fhir") and not self.lost:
            self.lost += 1
            self.counts["lost_reply"] += 1
            await super()._act("lost_reply", request, writer)
            return
        await super()._act(fault, request, writer)


async def quick_sleep(_seconds: float) -> None:
    await asyncio.sleep(0)


async def sync(agent: Agent, url: str) -> Any:
    settings = agent.store.sync.settings()
    options = EngineOptions(organization_id=settings["organization_id"], attempts=4, backoff_base=0.01)
    async with FhirPlatform(url, read_timeout=5.0, connect_timeout=2.0) as client:
        return await SyncEngine(agent.store.sync, client, options, sleep=quick_sleep).run()


async def everything(base: str, resource_type: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    async with FhirPlatform(base) as client:
        page: Any = await client.search(resource_type, [("_count", "1000")])
        while page is not None:
            found.extend(page.resources)
            page = await client.next_page(page)
    return found


def by_identifier(resources: list[dict[str, Any]]) -> Counter[str]:
    return Counter((find_identifier(r, codes.UUID_SYSTEM) or "").removeprefix("urn:uuid:") for r in resources)


def test_a_follow_up_saved_offline_reaches_the_platform_once_despite_a_lost_answer(
    fresh_fhir_server: str, clinic_factory: Callable[..., Agent]
) -> None:
    agent = clinic_factory(fresh_fhir_server)
    store = agent.store
    person = store.residents.add(resident(), actor="test")
    visit = FollowUp(
        id=new_id(),
        resident_id=person.id,
        programme=Programme.HYPERTENSION,
        visit_date=date(2026, 11, 30),
        method="2",
        symptoms=("2",),
        sbp=152,
        dbp=94,
        heart_rate=80,
        weight_kg="61.50",
        classification="2",
        medications=(Medication(name="硝苯地平缓释片", times_per_day=2, dose="10mg"),),
        next_visit=date(2026, 12, 14),
        doctor="张伟",
    )
    store.entries.add(visit, actor="doctor")
    note = store.entries.add(
        Note(
            id=new_id(), resident_id=person.id, text="血压控制不满意, 两周后复诊。", written_at=utcnow(), author="张伟"
        ),
        actor="doctor",
    )
    assert store.sync.record_state("entries", visit.id) == "local"

    server_port = urlsplit(fresh_fhir_server).port or 80

    async def scenario() -> Any:
        proxy = LoseFirstTransactionAnswer(server_port)
        port = await proxy.start()
        try:
            url = fresh_fhir_server.replace(f":{server_port}/", f":{port}/")
            first = await sync(agent, url)
            again = await sync(agent, url)  # a second run: nothing new goes up
            return proxy.lost, first, again
        finally:
            await proxy.stop()

    lost, first, again = asyncio.run(scenario())
    assert lost == 1
    assert first.parked == 0, first
    assert again.parked == 0, again

    forms = asyncio.run(everything(fresh_fhir_server, "QuestionnaireResponse"))
    encounters = asyncio.run(everything(fresh_fhir_server, "Encounter"))
    observations = asyncio.run(everything(fresh_fhir_server, "Observation"))
    documents = asyncio.run(everything(fresh_fhir_server, "DocumentReference"))
    questionnaires = asyncio.run(everything(fresh_fhir_server, "Questionnaire"))

    assert by_identifier(forms) == Counter({visit.id: 1})
    assert by_identifier(encounters) == Counter({followup.part_id(visit.id, "encounter"): 1})
    expected = {followup.part_id(visit.id, name): 1 for name in ("blood-pressure", "heart-rate", "body-weight")}
    assert by_identifier(observations) == Counter(expected)
    assert by_identifier(documents) == Counter({note.id: 1})
    assert [q["url"] for q in questionnaires] == [questionnaire.canonical(Programme.HYPERTENSION)]

    form, encounter = forms[0], encounters[0]
    assert form["status"] == "completed"
    assert form["encounter"] == {"reference": f"Encounter/{encounter['id']}"}
    assert form["subject"]["reference"].startswith("Patient/")
    assert encounter["subject"] == form["subject"]
    assert encounter["serviceProvider"] == {"reference": f"Organization/{store.sync.settings()['organization_id']}"}
    for obs in observations:
        assert obs["encounter"] == {"reference": f"Encounter/{encounter['id']}"}
        assert obs["derivedFrom"] == [{"reference": f"QuestionnaireResponse/{form['id']}"}]
    back = followup.from_fhir(form, resident_id=person.id)
    assert comparable(back) == comparable(store.entries.get(visit.id))

    # status no longer counts them "only on this PC"; the pulled echo made no reading of the form's values
    assert store.sync.record_state("entries", visit.id) == "confirmed"
    assert store.sync.record_state("entries", note.id) == "confirmed"
    assert store.sync.state_counts()["local"] == 0
    readings, _ = store.readings.for_resident(person.id, limit=100)
    assert readings == []


def test_a_deleted_follow_up_goes_up_as_entered_in_error_and_an_edit_with_if_match(
    fresh_fhir_server: str, clinic_factory: Callable[..., Agent]
) -> None:
    agent = clinic_factory(fresh_fhir_server)
    store = agent.store
    person = store.residents.add(resident(), actor="test")
    visit = store.entries.add(
        FollowUp(
            id=new_id(),
            resident_id=person.id,
            programme=Programme.DIABETES,
            visit_date=date(2026, 11, 30),
            sbp=140,
            dbp=88,
            weight_kg="70.0",
            fasting_glucose="8.1",
        ),
        actor="doctor",
    )
    asyncio.run(sync(agent, fresh_fhir_server))
    saved = store.entries.get(visit.id)
    assert isinstance(saved, FollowUp)
    edited = store.entries.update(dataclasses.replace(saved, weight_kg=None, fasting_glucose="7.4"), actor="doctor")
    report = asyncio.run(sync(agent, fresh_fhir_server))
    assert report.parked == 0, report
    observations = asyncio.run(everything(fresh_fhir_server, "Observation"))
    status = {(find_identifier(o, codes.UUID_SYSTEM) or "")[9:]: o["status"] for o in observations}
    assert status[followup.part_id(visit.id, "body-weight")] == "entered-in-error"  # cleared on the form
    glucose = [o for o in observations if o["code"]["coding"][0]["code"] == followup.FASTING_GLUCOSE]
    assert len(glucose) == 1
    assert str(glucose[0]["valueQuantity"]["value"]) == "7.4"

    store.entries.delete(edited.kind, visit.id, actor="doctor")
    report = asyncio.run(sync(agent, fresh_fhir_server))
    assert report.parked == 0, report
    forms = asyncio.run(everything(fresh_fhir_server, "QuestionnaireResponse"))
    assert [f["status"] for f in forms] == ["entered-in-error"]  # still there: never a hard delete
    encounters = asyncio.run(everything(fresh_fhir_server, "Encounter"))
    assert [e["status"] for e in encounters] == ["entered-in-error"]
    observations = asyncio.run(everything(fresh_fhir_server, "Observation"))
    assert {o["status"] for o in observations} == {"entered-in-error"}
    assert store.sync.state_counts()["local"] == 0
