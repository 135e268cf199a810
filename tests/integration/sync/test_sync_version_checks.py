"""No write overwrites what someone else changed on the platform (real SEKMET).

Every PUT the agent sends is either an update with If-Match, or a write to a client id that is read
first in the same attempt: a copy already there is merged (a record), left alone (a Device) or
updated with If-Match on the version just read (a follow-up's parts). Each test puts another
writer's edit where an unguarded PUT would have replaced it.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable, Sequence
from datetime import date
from typing import Any

import httpx

from clinic_agent.core.model import DeviceInfo, FamilyHistory, FollowUp, Programme, Relation, new_id
from clinic_agent.runtime.agent import Agent
from sync.engine import EngineOptions, SyncEngine, SyncReport
from sync.errors import PlatformUnavailable
from sync.fhir import codes, device, followup
from sync.fhir.bundle import EntryResult, RequestEntry
from sync.fhir.common import identifier_query
from sync.platform import FhirPlatform
from tests.support import reading, resident

UPSTREAM_NOTE = "县医院补充: 父亲 60 岁确诊"


class EditUpstream(FhirPlatform):
    """The real client, with another writer's edit slipped in around the first transaction that ``touches``.

    ``before``: the edit lands after the engine's reads and just before its transaction. Otherwise
    the transaction is applied, its answer is lost, and the edit lands before the engine's retry.
    """

    def __init__(self, base: str, touches: str, edit: Callable[[], Awaitable[None]], *, before: bool = False) -> None:
        super().__init__(base, read_timeout=10.0, connect_timeout=2.0)
        self.touches = touches
        self.edit = edit
        self.before = before
        self.edited = 0

    async def transaction(self, entries: Sequence[RequestEntry]) -> list[EntryResult]:
        """Forward the Bundle, with the edit before it or after it (then the answer is lost)."""
        due = not self.edited and any(e.method == "PUT" and e.url.startswith(self.touches) for e in entries)
        if due and self.before:
            self.edited += 1
            await self.edit()
        results = await super().transaction(entries)
        if due and not self.before:
            self.edited += 1
            await self.edit()
            raise PlatformUnavailable("the platform's answer was lost on the way back")
        return results


async def no_wait(_seconds: float) -> None:
    await asyncio.sleep(0)


async def sync(agent: Agent, client: FhirPlatform) -> SyncReport:
    options = EngineOptions(organization_id=agent.store.sync.settings()["organization_id"], attempts=4)
    async with client:
        return await SyncEngine(agent.store.sync, client, options, sleep=no_wait).run()


def change(base: str, path: str, edit: Callable[[dict[str, Any]], None]) -> None:
    """Another writer: read the resource at ``path``, change it, PUT it back with If-Match."""
    with httpx.Client(base_url=base, timeout=30) as client:
        current = client.get(path)
        assert current.status_code == 200, current.text
        resource = current.json()
        edit(resource)
        etag = current.headers["ETag"]
        answer = client.put(path, json=resource, headers={"If-Match": etag})
        assert answer.status_code == 200, answer.text


def find(base: str, resource_type: str, record_id: str) -> dict[str, Any]:
    query = identifier_query(codes.UUID_SYSTEM, f"urn:uuid:{record_id}")
    with httpx.Client(base_url=base, timeout=30) as client:
        found = client.get(f"/{resource_type}?{query}").json()
    [entry] = found["entry"]
    resource: dict[str, Any] = entry["resource"]
    return resource


def test_a_record_put_to_its_client_id_then_edited_upstream_is_merged_not_overwritten(
    fresh_fhir_server: str, clinic_factory: Callable[..., Agent]
) -> None:
    """SEKMET cannot create a FamilyMemberHistory conditionally: it is PUT to its client id."""
    agent = clinic_factory(fresh_fhir_server)
    person = agent.store.residents.add(resident(), actor="doctor")
    history = agent.store.entries.add(
        FamilyHistory(id=new_id(), resident_id=person.id, relation=Relation.FATHER, condition="高血压"), actor="doctor"
    )
    path = f"/FamilyMemberHistory/{history.id}"

    async def annotate() -> None:
        await asyncio.to_thread(change, fresh_fhir_server, path, lambda r: r.update(note=[{"text": UPSTREAM_NOTE}]))

    client = EditUpstream(fresh_fhir_server, "FamilyMemberHistory", annotate)
    report = asyncio.run(sync(agent, client))

    assert client.edited == 1
    assert report.errors == [], report
    with httpx.Client(base_url=fresh_fhir_server, timeout=30) as http:
        assert http.get(path).json()["note"] == [{"text": UPSTREAM_NOTE}]
    kept = agent.store.entries.get(history.id)
    assert isinstance(kept, FamilyHistory)
    assert kept.note == UPSTREAM_NOTE  # the other writer's edit came down into the file
    assert agent.store.sync.state_counts()["local"] == 0


def test_a_device_the_platform_already_holds_is_not_overwritten(
    fresh_fhir_server: str, clinic_factory: Callable[..., Agent]
) -> None:
    cuff = DeviceInfo(id="ble:F1:F1:F1:F1:F1:01", model="UA-651BLE", serial="5150123")
    first = clinic_factory(fresh_fhir_server)
    owner = first.store.residents.add(resident(), actor="doctor")
    first.store.readings.add(reading(owner.id, device=cuff), actor="device")
    assert asyncio.run(sync(first, FhirPlatform(fresh_fhir_server))).errors == []
    path = f"/Device/{device.client_id(cuff)}"
    change(fresh_fhir_server, path, lambda r: r.update(status="inactive", note=[{"text": "送修, 县医院"}]))

    second = clinic_factory(fresh_fhir_server)  # a PC that has not seen the device on the platform yet
    person = second.store.residents.add(resident(), actor="doctor")
    second.store.readings.add(reading(person.id, device=cuff), actor="device")
    report = asyncio.run(sync(second, FhirPlatform(fresh_fhir_server)))

    assert report.errors == [], report
    assert report.pushed == 2, report
    with httpx.Client(base_url=fresh_fhir_server, timeout=30) as client:
        kept = client.get(path).json()
    assert kept["status"] == "inactive"
    assert kept["note"] == [{"text": "送修, 县医院"}]


def test_a_follow_up_part_edited_between_our_read_and_our_put_is_not_overwritten(
    fresh_fhir_server: str, clinic_factory: Callable[..., Agent]
) -> None:
    agent = clinic_factory(fresh_fhir_server)
    person = agent.store.residents.add(resident(), actor="doctor")
    visit = agent.store.entries.add(
        FollowUp(
            id=new_id(),
            resident_id=person.id,
            programme=Programme.HYPERTENSION,
            visit_date=date(2026, 11, 30),
            sbp=152,
            dbp=94,
        ),
        actor="doctor",
    )
    assert asyncio.run(sync(agent, FhirPlatform(fresh_fhir_server))).errors == []
    saved = agent.store.entries.get(visit.id)
    assert isinstance(saved, FollowUp)
    agent.store.entries.update(dataclasses.replace(saved, sbp=148), actor="doctor")
    part = find(fresh_fhir_server, "Observation", followup.part_id(visit.id, "blood-pressure"))
    path = f"/Observation/{part['id']}"

    async def annotate() -> None:
        await asyncio.to_thread(change, fresh_fhir_server, path, lambda r: r.update(note=[{"text": UPSTREAM_NOTE}]))

    client = EditUpstream(fresh_fhir_server, "Observation", annotate, before=True)
    report = asyncio.run(sync(agent, client))

    assert client.edited == 1
    assert report.parked == 1, report
    [parked] = agent.store.sync.parked()
    assert "changed on the platform" in parked.reason, parked
    state = agent.store.sync.load("entries", visit.id)
    assert state is not None
    with httpx.Client(base_url=fresh_fhir_server, timeout=30) as http:
        kept = http.get(path).json()
        form = http.get(f"/QuestionnaireResponse/{state.remote_id}").json()
    assert kept["note"] == [{"text": UPSTREAM_NOTE}]
    systolic = [c for c in kept["component"] if c["code"]["coding"][0]["code"] == codes.SYSTOLIC]
    assert systolic[0]["valueQuantity"]["value"] == 152  # neither the part nor the form was replaced
    assert form["meta"]["versionId"] == "1"
