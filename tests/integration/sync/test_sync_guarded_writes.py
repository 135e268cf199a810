"""Deletes and first writes never take away another writer's edit (real SEKMET, through the fault proxy).

SEKMET, like Medplum, ignores If-Match on a DELETE and If-None-Match on a PUT, so each test puts a
hospital's edit exactly where a header alone would not stop the agent: a Condition changed on the
platform before the doctor deletes it here; a DELETE applied whose answer is lost, then the
Condition written back by the hospital before the retry; and a FamilyMemberHistory (which SEKMET
cannot create conditionally, so it is PUT to its client id) whose first request arrives late, after
the retry read nothing there, with the hospital's edit landing in between.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import httpx

from clinic_agent.core.model import Condition, EntryKind, FamilyHistory, Relation, new_id
from clinic_agent.runtime.agent import Agent
from sync.engine import EngineOptions, SyncEngine, SyncReport
from sync.platform import FhirPlatform
from tests.integration.sync.faultproxy import FaultProxy
from tests.support import resident

HOSPITAL_NOTE = "县医院补充: 2026-11 复查仍高"


def is_transaction(request: bytes) -> bool:
    line = request.split(b"\r\n", 1)[0]
    return line.startswith(b"POST ") and line.split(b" ")[1].rstrip(b"/").endswith(b"/fhir")


class AroundTransaction(FaultProxy):
    """Relays everything; the first transaction is acted out as ``first`` says, with ``edit`` around it.

    ``lose``: the transaction is applied, then ``edit`` runs, then the answer is lost.
    ``late``: the transaction is held until the next one arrives (the client gave up on it and retried),
    then applied, then ``edit`` runs, and only then does the retry go through.
    """

    def __init__(self, upstream_port: int, first: str, edit: Callable[[], Awaitable[None]]) -> None:
        super().__init__(upstream_port, seed=0)
        self.first = first
        self.edit = edit
        self.transactions = 0
        self.retried = asyncio.Event()
        self.first_done = asyncio.Event()

    async def _act(self, fault: str, request: bytes, writer: asyncio.StreamWriter) -> None:
        if not is_transaction(request):
            await super()._act(fault, request, writer)
            return
        self.transactions += 1
        if self.transactions == 1 and self.first == "lose":
            await self._forward(request)
            await self.edit()
            self.counts["lost_reply"] += 1
            return
        if self.transactions == 1 and self.first == "late":
            await self.retried.wait()
            await self._forward(request)  # the late first attempt lands
            await self.edit()
            self.first_done.set()
            return
        if self.transactions == 2 and self.first == "late":
            self.retried.set()
            await self.first_done.wait()
        await super()._act("relay", request, writer)


async def no_wait(_seconds: float) -> None:
    await asyncio.sleep(0)


def sync(agent: Agent, base: str, proxy: Callable[[int], FaultProxy] | None = None) -> tuple[SyncReport, Any]:
    """One run, through ``proxy`` when given; the report and the proxy."""
    options = EngineOptions(organization_id=agent.store.sync.settings()["organization_id"], attempts=4)

    async def run() -> tuple[SyncReport, Any]:
        url, made = base, None
        if proxy is not None:
            server_port = urlsplit(base).port or 80
            made = proxy(server_port)
            url = base.replace(f":{server_port}/", f":{await made.start()}/")
        try:
            async with FhirPlatform(url, read_timeout=3.0, connect_timeout=2.0) as client:
                return await SyncEngine(agent.store.sync, client, options, sleep=no_wait).run(), made
        finally:
            if made is not None:
                await made.stop()

    return asyncio.run(run())


def hospital(
    base: str, path: str, edit: Callable[[dict[str, Any]], None], *, current: dict[str, Any] | None = None
) -> None:
    """The hospital's system writes a resource: read it (or use ``current``), change it, PUT it back."""
    with httpx.Client(base_url=base, timeout=30) as client:
        resource = current if current is not None else client.get(path).json()
        edit(resource)
        answer = client.put(path, json=resource)
        assert answer.status_code in (200, 201), answer.text


def read(base: str, path: str) -> httpx.Response:
    with httpx.Client(base_url=base, timeout=30) as client:
        return client.get(path)


def add_note(resource: dict[str, Any]) -> None:
    resource["note"] = [{"text": HOSPITAL_NOTE}]


def synced_condition(agent: Agent, base: str) -> tuple[Condition, str]:
    person = agent.store.residents.add(resident(), actor="doctor")
    condition = agent.store.entries.add(
        Condition(id=new_id(), resident_id=person.id, name="原发性高血压", code="2"), actor="doctor"
    )
    assert sync(agent, base)[0].errors == []
    state = agent.store.sync.load("entries", condition.id)
    assert state is not None
    assert state.remote_id is not None
    return condition, f"/Condition/{state.remote_id}"


def test_a_delete_leaves_a_record_the_platform_changed_since_and_asks_the_doctor(
    fresh_fhir_server: str, clinic_factory: Callable[..., Agent]
) -> None:
    agent = clinic_factory(fresh_fhir_server)
    condition, path = synced_condition(agent, fresh_fhir_server)
    hospital(fresh_fhir_server, path, add_note)
    agent.store.entries.delete(EntryKind.CONDITION, condition.id, actor="doctor")

    report, _ = sync(agent, fresh_fhir_server)

    kept = read(fresh_fhir_server, path)
    assert kept.status_code == 200, kept.text  # not deleted: the hospital's edit is there
    assert kept.json()["note"] == [{"text": HOSPITAL_NOTE}]
    assert report.conflicts == 1, report
    [conflict] = agent.store.sync.conflicts()
    assert (conflict.entity_id, conflict.kind) == (condition.id, "delete")


def test_a_delete_whose_answer_was_lost_leaves_what_the_hospital_wrote_back_before_the_retry(
    fresh_fhir_server: str, clinic_factory: Callable[..., Agent]
) -> None:
    agent = clinic_factory(fresh_fhir_server)
    condition, path = synced_condition(agent, fresh_fhir_server)
    before = read(fresh_fhir_server, path).json()
    agent.store.entries.delete(EntryKind.CONDITION, condition.id, actor="doctor")

    async def write_back() -> None:  # the hospital restores the diagnosis, with its note
        await asyncio.to_thread(hospital, fresh_fhir_server, path, add_note, current=dict(before))

    report, proxy = sync(agent, fresh_fhir_server, lambda port: AroundTransaction(port, "lose", write_back))

    assert proxy.counts["lost_reply"] == 1
    kept = read(fresh_fhir_server, path)
    assert kept.status_code == 200, kept.text  # the retry did not delete it again
    assert kept.json()["note"] == [{"text": HOSPITAL_NOTE}]
    assert report.conflicts == 1, report


def test_a_delete_whose_answer_was_lost_is_done_once(
    fresh_fhir_server: str, clinic_factory: Callable[..., Agent]
) -> None:
    agent = clinic_factory(fresh_fhir_server)
    condition, path = synced_condition(agent, fresh_fhir_server)
    agent.store.entries.delete(EntryKind.CONDITION, condition.id, actor="doctor")

    async def nothing() -> None:
        return None

    report, proxy = sync(agent, fresh_fhir_server, lambda port: AroundTransaction(port, "lose", nothing))

    assert proxy.counts["lost_reply"] == 1
    assert report.errors == [], report
    assert read(fresh_fhir_server, path).status_code in (404, 410)
    assert agent.store.sync.queue_counts()["pending"] == 0  # nothing left to send


def test_a_first_write_arriving_late_does_not_lose_the_edit_made_after_it(
    fresh_fhir_server: str, clinic_factory: Callable[..., Agent]
) -> None:
    """The retry read nothing at the client id and PUT there; the first attempt had landed meanwhile and the
    hospital had annotated it: SEKMET ignores If-None-Match, so the PUT replaced that; the agent reads what it
    replaced and writes the note back, merged."""
    agent = clinic_factory(fresh_fhir_server)
    person = agent.store.residents.add(resident(), actor="doctor")
    assert sync(agent, fresh_fhir_server)[0].errors == []
    history = agent.store.entries.add(
        FamilyHistory(id=new_id(), resident_id=person.id, relation=Relation.FATHER, condition="高血压"), actor="doctor"
    )
    path = f"/FamilyMemberHistory/{history.id}"

    async def annotate() -> None:
        await asyncio.to_thread(hospital, fresh_fhir_server, path, add_note)

    report, proxy = sync(agent, fresh_fhir_server, lambda port: AroundTransaction(port, "late", annotate))

    assert proxy.first_done.is_set()
    assert report.errors == [], report
    assert read(fresh_fhir_server, path).json()["note"] == [{"text": HOSPITAL_NOTE}]
    kept = agent.store.entries.get(history.id)
    assert isinstance(kept, FamilyHistory)
    assert kept.note == HOSPITAL_NOTE
