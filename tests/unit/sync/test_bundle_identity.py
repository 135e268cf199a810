"""No identifier value of ours is ever an entry's fullUrl in a Bundle the agent sends.

A server resolving a transaction replaces an entry's fullUrl wherever it occurs in the Bundle's
resources (Medplum in any string): an identifier value equal to a fullUrl would be rewritten to
``Type/id``, and the agent's conditional creates and lookups by identifier would no longer find
its records (a retry after a lost reply makes a duplicate).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from clinic_agent.core.model import (
    Allergy,
    Condition,
    Consultation,
    FamilyHistory,
    FollowUp,
    Note,
    Procedure,
    ProcedureCategory,
    Programme,
    Quantity,
    Relation,
    new_id,
    utcnow,
)
from clinic_agent.store import Store
from sync.fhir import bundle, codes
from sync.fhir.bundle import EntryResult, RequestEntry
from sync.fhir.capability import Capabilities, ResourceCapability
from tests.support import reading, resident
from tests.unit.sync.engine_support import OPTIONS, quick_store, sync
from tests.unit.sync.fakeplatform import FakePlatform

KINDS = (
    "Patient",
    "Observation",
    "Condition",
    "AllergyIntolerance",
    "Procedure",
    "FamilyMemberHistory",
    "DocumentReference",
    "QuestionnaireResponse",
    "Questionnaire",
    "Encounter",
    "ServiceRequest",
    "Task",
    "Communication",
    "Organization",
    "Device",
)


@dataclasses.dataclass
class Recording(FakePlatform):
    """The fake platform, keeping every transaction Bundle as it would go on the wire."""

    sent: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    create_by_put: bool = False

    async def capabilities(self) -> Capabilities:
        search = frozenset({"identifier", "subject", "patient", "organization", "_lastUpdated"})
        ops = frozenset({"create", "update", "read"})
        resources = {t: ResourceCapability(ops, search, not self.create_by_put, True) for t in KINDS}
        return Capabilities(resources, frozenset({"transaction", "batch"}))

    async def transaction(self, entries: Sequence[RequestEntry]) -> list[EntryResult]:
        self.sent.append(bundle.transaction(entries))
        return await super().transaction(entries)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    made = quick_store(tmp_path / "clinic")
    yield made
    made.close()


def identifier_values(value: Any) -> Iterator[str]:
    """Every value of an identifier of system urn:ietf:rfc:3986, anywhere in a resource."""
    if isinstance(value, dict):
        if value.get("system") == codes.UUID_SYSTEM and isinstance(value.get("value"), str):
            yield value["value"]
        for item in value.values():
            yield from identifier_values(item)
    elif isinstance(value, list):
        for item in value:
            yield from identifier_values(item)


def fill(store: Store) -> None:
    """One record of every kind the mapping sends, a follow-up's parts and a BP reading's heart rate among them."""
    person = store.residents.add(resident(), actor="t")
    bp = reading(
        person.id,
        components=(
            Quantity(code=codes.SYSTOLIC, value="150", unit="mm[Hg]", display="Systolic"),
            Quantity(code=codes.DIASTOLIC, value="95", unit="mm[Hg]", display="Diastolic"),
            Quantity(code=codes.HEART_RATE, value="72", unit="/min", display="Heart rate"),
        ),
    )
    measured = store.readings.add(bp, actor="t")
    rid = person.id
    condition = store.entries.add(Condition(id=new_id(), resident_id=rid, name="高血压", icd10="I10"), actor="t")
    store.entries.add(Allergy(id=new_id(), resident_id=rid, substance="青霉素"), actor="t")
    store.entries.add(
        Procedure(id=new_id(), resident_id=rid, category=ProcedureCategory.SURGERY, name="阑尾切除"), actor="t"
    )
    store.entries.add(
        FamilyHistory(id=new_id(), resident_id=rid, relation=Relation.FATHER, condition="高血压"), actor="t"
    )
    store.entries.add(Note(id=new_id(), resident_id=rid, text="复诊", written_at=utcnow()), actor="t")
    visit = FollowUp(
        id=new_id(),
        resident_id=rid,
        programme=Programme.HYPERTENSION,
        visit_date=date(2026, 11, 20),
        sbp=150,
        dbp=95,
        heart_rate=72,
        weight_kg="61.5",
    )
    store.entries.add(visit, actor="t")
    store.entries.add(
        Consultation(
            id=new_id(),
            resident_id=rid,
            question="血压控制不佳",
            target="Organization/county-1",
            attachments=(f"reading:{measured.id}", f"condition:{condition.id}", f"follow_up:{visit.id}"),
            requested_at=utcnow(),
        ),
        actor="t",
    )


@pytest.mark.parametrize("create_by_put", [False, True], ids=["conditional-create", "put"])
def test_no_identifier_value_is_a_full_url_of_the_bundle(store: Store, create_by_put: bool) -> None:
    platform = Recording(create_by_put=create_by_put)
    fill(store)
    report = sync(store, platform, dataclasses.replace(OPTIONS, batch_size=50, max_batch=50))
    assert report.errors == []
    sent = [entry for each in platform.sent for entry in each["entry"]]
    kinds = {entry["resource"]["resourceType"] for entry in sent if "resource" in entry}
    assert {"Patient", "Observation", "Condition", "AllergyIntolerance", "Procedure", "FamilyMemberHistory"} <= kinds
    assert {"DocumentReference", "QuestionnaireResponse", "Encounter", "ServiceRequest", "Task"} <= kinds
    for each in platform.sent:
        full_urls = {entry["fullUrl"] for entry in each["entry"] if "fullUrl" in entry}
        assert full_urls, "entries of a transaction can be referred to"
        values = {value for entry in each["entry"] for value in identifier_values(entry.get("resource"))}
        queries = " ".join(entry["request"]["url"] + entry["request"].get("ifNoneExist", "") for entry in each["entry"])
        assert values
        assert not values & full_urls
        assert not [url for url in full_urls if url in queries]  # nor in a conditional create's or update's query
