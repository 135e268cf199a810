"""The clinic's catchment comes down with its history, on a server that chains searches and on one that does not.

The platform holds the clinic's residents as a hospital wrote them, each with a diagnosis, an allergy
and a blood pressure. SEKMET answers the pull's chained search (``subject:Patient.organization=``);
Medplum's in-memory repository answers it with an empty page, so there the pull asks by lists of the
clinic's Patients, 50 to a search (``sync/engine/pull.py``). Either way the whole history must come
down at the first sync; a resident who moves into the catchment later brings her older history too
(not only what changes after the move); and on Medplum a first pull cut short goes on from the page
it had reached instead of walking the type again.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

import httpx
import pytest

from clinic_agent.core.model import Allergy, Condition, EntryKind, Resident
from clinic_agent.runtime import syncing
from clinic_agent.runtime.agent import Agent
from sync.engine import EngineOptions, SyncEngine, SyncReport, pull
from sync.engine.pull import PATIENTS_PER_SEARCH, WALK
from sync.errors import PlatformUnavailable
from sync.fhir import codes, organization, patient
from sync.fhir.bundle import SearchPage
from sync.fhir.common import reference
from sync.platform import FhirPlatform
from tests.support import id_number, resident

# More than one list of Patients, so a walk by lists crosses from one list to the next.
CATCHMENT = PATIENTS_PER_SEARCH + 10
FHIR_JSON = {"Content-Type": "application/fhir+json"}
SLOW_SERVER = "[sync]\nread_timeout_s = 300\n"
HISTORY = (["原发性高血压"], ["青霉素"], ["168"])  # diagnoses, allergies, blood pressures from the platform


def post(base: str, resource: dict[str, Any]) -> dict[str, Any]:
    with httpx.Client(base_url=base, timeout=60) as client:
        answer = client.post(f"/{resource['resourceType']}", json=resource, headers=FHIR_JSON)
    assert answer.status_code == 201, answer.text[:500]
    made: dict[str, Any] = answer.json()
    return made


def clinic_organization(base: str, code: str) -> str:
    """The Organization of a clinic, as the platform team made it."""
    return str(post(base, organization.to_fhir(organization.Clinic(code=code, name="卫生室")))["id"])


def history(patient_id: str) -> list[dict[str, Any]]:
    """What the county hospital wrote about her: a diagnosis, an allergy and a blood pressure."""
    subject = {"reference": f"Patient/{patient_id}"}
    return [
        {
            "resourceType": "Condition",
            "clinicalStatus": {"coding": [{"system": codes.CONDITION_CLINICAL, "code": "active"}]},
            "code": {"coding": [{"system": codes.ICD10, "code": "I10"}], "text": "原发性高血压"},
            "subject": subject,
            "onsetDateTime": "2025-03-02",
        },
        {
            "resourceType": "AllergyIntolerance",
            "clinicalStatus": {"coding": [{"system": codes.ALLERGY_CLINICAL, "code": "active"}]},
            "category": ["medication"],
            "code": {"text": "青霉素"},
            "patient": subject,
            "recordedDate": "2025-03-02",
        },
        {
            "resourceType": "Observation",
            "status": "final",
            "category": [{"coding": [{"system": codes.OBSERVATION_CATEGORY, "code": "vital-signs"}]}],
            "code": {"coding": [{"system": codes.LOINC, "code": "85354-9"}], "text": "血压"},
            "subject": subject,
            "effectiveDateTime": "2025-03-02T09:30:00+08:00",
            "component": [
                {
                    "code": {"coding": [{"system": codes.LOINC, "code": code}]},
                    "valueQuantity": {
                        "value": value,
                        "unit": "mmHg",
                        "system": "http://unitsofmeasure.org",
                        "code": "mm[Hg]",
                    },
                }
                for code, value in (("8480-6", 168), ("8462-4", 102))
            ],
        },
    ]


def write_files(base: str, people: list[Resident], organization_id: str) -> dict[str, str]:
    """Each resident's Patient (managed by ``organization_id``) and history, one resident at a time (so
    the records do not all share one ``lastUpdated``); their Patient ids by ID card number."""
    ids = {}
    for person in people:
        body = patient.to_fhir(person, managing_organization=reference("Organization", organization_id))
        body["identifier"] = [i for i in body["identifier"] if i["system"] != codes.UUID_SYSTEM]
        made = post(base, body)
        ids[person.id_number] = str(made["id"])
        for resource in history(made["id"]):
            post(base, resource)
    return ids


def catchment(count: int, seed: int) -> list[Resident]:
    rng = random.Random(seed)
    numbers: set[str] = set()
    while len(numbers) < count:
        numbers.add(id_number(rng))
    return [resident(id_number=n, name="杨秀兰", village="大塘村") for n in sorted(numbers)]


def history_of(agent: Agent, person: Resident) -> tuple[list[str], list[str], list[str]]:
    """Her diagnoses, allergies and the systolic of each reading from the platform, in the file here."""
    here = agent.store.residents.by_id_number(person.id_number)
    assert here is not None, f"{person.id_number} is not a resident here"
    conditions, _ = agent.store.entries.for_resident(here.id, EntryKind.CONDITION)
    allergies, _ = agent.store.entries.for_resident(here.id, EntryKind.ALLERGY)
    readings, _ = agent.store.readings.for_resident(here.id)
    return (
        [c.name for c in conditions if isinstance(c, Condition)],
        [a.substance for a in allergies if isinstance(a, Allergy)],
        [r.components[0].value for r in readings if r.source == "platform"],
    )


def run_sync(agent: Agent) -> dict[str, Any]:
    return asyncio.run(syncing.run_once(agent)).as_json()


def test_the_catchments_history_comes_down_and_so_does_a_newcomers(
    any_fhir_server: str, clinic_factory: Callable[..., Agent], monkeypatch: pytest.MonkeyPatch
) -> None:
    base = any_fhir_server
    # A walk by lists leaves the type's cursor 5 minutes back; without that margin the newcomer's
    # history is older than the cursor here as it would be in use, hours or months later.
    monkeypatch.setattr(pull, "_LIST_MARGIN", timedelta(0))
    agent = clinic_factory(extra=SLOW_SERVER)
    clinic = clinic_organization(base, agent.config.clinic_code)
    neighbour = clinic_organization(base, "TR9999")
    # A resident of the neighbouring clinic, in hospital before anything of this clinic's was written.
    [mover] = catchment(1, seed=7)
    mover_id = write_files(base, [mover], neighbour)[mover.id_number]
    people = catchment(CATCHMENT, seed=9)
    write_files(base, people, clinic)
    asyncio.run(syncing.enroll(agent, base, actor="test"))

    report = run_sync(agent)
    assert report["errors"] == []
    assert agent.store.residents.count() == CATCHMENT
    missing = [p.id_number for p in people if history_of(agent, p) != HISTORY]
    assert missing == [], f"{len(missing)} of {CATCHMENT} files lack the hospital's history"

    # She moves into the catchment: her Patient is now managed by this clinic. Her history is older
    # than anything the pull has read; it comes down with her all the same.
    with httpx.Client(base_url=base, timeout=60) as client:
        moved = client.get(f"/Patient/{mover_id}").json()
        moved["managingOrganization"] = {"reference": f"Organization/{clinic}"}
        assert client.put(f"/Patient/{mover_id}", json=moved, headers=FHIR_JSON).status_code == 200
    report = run_sync(agent)
    assert report["errors"] == []
    assert agent.store.residents.count() == CATCHMENT + 1
    assert history_of(agent, mover) == HISTORY
    assert run_sync(agent)["pulled"] == 0  # and then nothing is new


class CutPlatform(FhirPlatform):
    """The platform over a link that drops after ``cut_after`` searches of ``cut_type`` (then never again);
    it counts the records each type's searches brought."""

    def __init__(self, base: str, *, cut_type: str = "", cut_after: int = 0) -> None:
        super().__init__(base, read_timeout=300.0)
        self.cut_type, self.cut_after = cut_type, cut_after
        self.searches = 0
        self.received: dict[str, int] = {}

    async def search(self, resource_type: str, params: Sequence[tuple[str, str]]) -> SearchPage:
        if resource_type == self.cut_type:
            self.searches += 1
            if self.searches > self.cut_after:
                raise PlatformUnavailable("the link dropped (test)")
        page = await super().search(resource_type, params)
        self.received[resource_type] = self.received.get(resource_type, 0) + len(page.resources)
        return page

    async def next_page(self, page: SearchPage) -> SearchPage | None:
        found = await super().next_page(page)
        if found is not None:
            kind = str((found.resources or [{}])[0].get("resourceType", ""))
            self.received[kind] = self.received.get(kind, 0) + len(found.resources)
        return found


async def _no_wait(_seconds: float) -> None:
    await asyncio.sleep(0)


def sync_through(agent: Agent, platform: CutPlatform) -> SyncReport:
    options = EngineOptions(
        organization_id=agent.store.sync.settings()["organization_id"], attempts=1, page_size=10, fetch_size=10
    )

    async def run() -> SyncReport:
        async with platform:
            return await SyncEngine(agent.store.sync, platform, options, sleep=_no_wait).run()

    return asyncio.run(run())


@pytest.mark.parametrize("any_fhir_server", ["medplum"], indirect=True)
def test_a_first_pull_by_lists_cut_short_goes_on_from_the_page_it_reached(
    any_fhir_server: str, clinic_factory: Callable[..., Agent]
) -> None:
    base = any_fhir_server
    agent = clinic_factory(extra=SLOW_SERVER)
    people = catchment(CATCHMENT, seed=11)
    write_files(base, people, clinic_organization(base, agent.config.clinic_code))
    asyncio.run(syncing.enroll(agent, base, actor="test"))

    # The link drops during the Conditions' first list, after three pages of ten have been applied.
    cut = CutPlatform(base, cut_type="Condition", cut_after=3)
    report = sync_through(agent, cut)
    assert agent.store.residents.count() == CATCHMENT  # pages of ten, and Medplum links no next page
    assert report.offline
    got = sum(history_of(agent, p)[0] == HISTORY[0] for p in people)
    assert 20 <= got < CATCHMENT  # some came down before the cut
    assert agent.store.sync.cursor("Condition" + WALK), "the walk's progress is kept"

    again = CutPlatform(base)
    report = sync_through(agent, again)
    assert report.errors == []
    assert [p.id_number for p in people if history_of(agent, p) != HISTORY] == []
    # Only what was left was asked for again (a page starts at the last instant of the one before).
    assert again.received["Condition"] <= CATCHMENT - got + 5, again.received
    assert not agent.store.sync.cursor("Condition" + WALK), "the walk, done, is forgotten"
