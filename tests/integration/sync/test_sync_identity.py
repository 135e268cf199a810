"""One person, one Patient: a clinic joining a platform that already holds its residents' files.

Each scenario runs against two FHIR servers of different implementations (``any_fhir_server``):
SEKMET (Python) and Medplum's FHIR router (TypeScript, npm; see docs/fhir.md for how they differ).
The platform is preloaded with the clinic's whole catchment (``SCALE``: 500 residents, 50 of them
registered offline; Medplum's in-memory repository gets ``SMALL_SCALE``) as a hospital would have
written it — with the hospital's own record number, a second contact and the managing
organization, and for some of them a hospital stay (Encounter, Condition, Observation). A PC that
registered some of them offline (same ID card numbers, some fields different; readings and
follow-up visits) then enrols and syncs; a second PC enrols the same clinic from an empty store; the
first is reinstalled from scratch and syncs again. Nothing may make a second Patient for one ID card
number or a second copy of any Observation, and no field either side holds may be overwritten
silently.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import httpx
import pytest

from clinic_agent.core.model import Condition, EntryKind, FollowUp, Programme, Resident, new_id
from clinic_agent.runtime import syncing
from clinic_agent.runtime.agent import Agent
from sync.fhir import codes, followup, patient
from sync.fhir.common import find_identifier, reference
from sync.platform import FhirPlatform
from tests.support import id_number, reading, resident

HOSPITAL_MRN = "urn:oid:1.2.156.112604.1.2.1"  # a county hospital's own patient numbers
HOSPITAL_RECORDS = "urn:oid:1.2.156.112604.1.2.2"  # ... and the numbers of its encounters, diagnoses, results
PRELOAD_BUNDLE = 100  # residents per transaction Bundle of the preload
FOLLOW_UP_OBSERVATIONS = ("blood-pressure", "heart-rate", "body-weight")


@dataclass(frozen=True)
class Scale:
    catchment: int  # the clinic's residents on the platform
    with_history: int  # every n-th of them has been in hospital
    offline: int  # registered on the PC before it was enrolled
    phone_differs: int  # of those, with another phone number here
    village_differs: int  # ... and after them, with another village
    followed_up: int  # ... the last ones with a hypertension follow-up visit
    reregistered: int  # registered again on the reinstalled PC before it enrols


# The clinic of the issue: 500 residents, 50 of them registered offline.
SCALE = Scale(
    catchment=500, with_history=5, offline=50, phone_differs=8, village_differs=4, followed_up=10, reregistered=5
)
# Medplum's in-memory repository answers every search by evaluating the search parameter's FHIRPath
# on each stored resource of the type (about 5 ms each here): at SCALE a conditional create of an
# Observation takes 1.3 s and the first sync did not end in 280 s. It gets a fifth of the clinic.
# Nor does it do chained searches (it answers subject:Patient.organization= with an empty page): the
# pull finds that out and asks it by lists of the clinic's Patients, so the history comes down all the same.
SMALL_SCALE = Scale(
    catchment=100,
    with_history=5,
    offline=12,
    phone_differs=3,
    village_differs=2,
    followed_up=3,
    reregistered=3,
)
SCALES = {"sekmet": SCALE, "medplum": SMALL_SCALE}
SLOW_SERVER = "[sync]\nread_timeout_s = 300\n"  # Medplum's transactions of 50 conditional creates


@pytest.fixture
def scale(request: pytest.FixtureRequest, any_fhir_server: str) -> Scale:
    """How big a clinic the server of this case gets."""
    del any_fhir_server
    return SCALES[request.node.callspec.params["any_fhir_server"]]


def sync(agent: Agent) -> dict[str, Any]:
    return asyncio.run(syncing.run_once(agent)).as_json()


def enroll(agent: Agent, base: str) -> None:
    asyncio.run(syncing.enroll(agent, base, actor="test"))


def organization_of(agent: Agent) -> str:
    found = agent.store.sync.settings().get("organization_id")
    assert found, "the clinic's Organization was made at enrolment"
    return str(found)


def hospital_record(number: int) -> list[dict[str, str]]:
    return [{"system": HOSPITAL_RECORDS, "value": f"ZY-R{number:07d}"}]


def hospital_stay(patient_url: str, n: int) -> list[dict[str, Any]]:
    """A stay in the county hospital as its own system wrote it: the Encounter, a diagnosis, a result."""
    stay = f"urn:uuid:{uuid.uuid4()}"
    subject = {"reference": patient_url}
    encounter = {
        "resourceType": "Encounter",
        "identifier": hospital_record(3 * n),
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
        "subject": subject,
        "period": {"start": "2025-03-02T09:00:00+08:00", "end": "2025-03-09T10:00:00+08:00"},
    }
    condition = {
        "resourceType": "Condition",
        "identifier": hospital_record(3 * n + 1),
        "clinicalStatus": {"coding": [{"system": codes.CONDITION_CLINICAL, "code": "active"}]},
        "code": {"coding": [{"system": codes.ICD10, "code": "I10"}], "text": "原发性高血压"},
        "subject": subject,
        "encounter": {"reference": stay},
        "onsetDateTime": "2025-03-02",
    }
    result = {
        "resourceType": "Observation",
        "identifier": hospital_record(3 * n + 2),
        "status": "final",
        "category": [{"coding": [{"system": codes.OBSERVATION_CATEGORY, "code": "vital-signs"}]}],
        "code": {"coding": [{"system": codes.LOINC, "code": "85354-9"}], "text": "血压"},
        "subject": subject,
        "encounter": {"reference": stay},
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
    }
    return [
        {"fullUrl": stay, "resource": encounter, "request": {"method": "POST", "url": "Encounter"}},
        *(
            {
                "fullUrl": f"urn:uuid:{uuid.uuid4()}",
                "resource": r,
                "request": {"method": "POST", "url": r["resourceType"]},
            }
            for r in (condition, result)
        ),
    ]


def preload(base: str, people: list[Resident], organization: str, *, history: int = 0) -> dict[str, str]:
    """Write the clinic's residents as the hospital did (not through the agent), ``PRELOAD_BUNDLE`` to a
    transaction, every ``history``-th with a hospital stay; their Patient ids by ID card number."""
    with httpx.Client(base_url=base, timeout=120) as client:
        for start in range(0, len(people), PRELOAD_BUNDLE):
            entries: list[dict[str, Any]] = []
            for i, person in enumerate(people[start : start + PRELOAD_BUNDLE], start):
                body = patient.to_fhir(person, managing_organization=reference("Organization", organization))
                body["identifier"] = [
                    ident
                    for ident in body["identifier"]
                    if ident["system"] != codes.UUID_SYSTEM  # not written by any agent
                ] + [{"system": HOSPITAL_MRN, "value": f"ZY{i:06d}"}]
                body["contact"] = [
                    {"name": {"text": "家属"}, "telecom": [{"system": "phone", "value": "0856-5220000"}]}
                ]
                url = f"urn:uuid:{uuid.uuid4()}"
                entries.append({"fullUrl": url, "resource": body, "request": {"method": "POST", "url": "Patient"}})
                if history and i % history == 0:
                    entries.extend(hospital_stay(url, i))
            bundle = {"resourceType": "Bundle", "type": "transaction", "entry": entries}
            answer = client.post("", json=bundle, headers={"Content-Type": "application/fhir+json"})
            assert answer.status_code == 200, answer.text[:2000]
            for entry in answer.json()["entry"]:
                assert str(entry["response"]["status"]).startswith("201"), entry
    found = patients_by_number(base)
    assert set(found) == {p.id_number for p in people}
    return {number: ids[0] for number, ids in found.items()}


def everything(base: str, resource_type: str) -> list[dict[str, Any]]:
    async def read() -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        async with FhirPlatform(base, read_timeout=60.0) as client:
            page: Any = await client.search(resource_type, [("_count", "1000")])
            while page is not None:
                found.extend(page.resources)
                page = await client.next_page(page)
        return found

    return asyncio.run(read())


def patients_by_number(base: str) -> dict[str, list[str]]:
    """Every Patient's id by its ID card number (a number with two ids is a duplicate)."""
    found: dict[str, list[str]] = {}
    for resource in everything(base, "Patient"):
        found.setdefault(find_identifier(resource, codes.ID_CARD_SYSTEM) or "", []).append(resource["id"])
    return found


def copies(resources: list[dict[str, Any]]) -> Counter[str]:
    """How many resources carry each identifier (ours or the hospital's); '' counts those with neither."""
    counted: Counter[str] = Counter()
    for resource in resources:
        single = resource.get("identifier")
        keys = [
            f"{i.get('system')}|{i.get('value')}"
            for i in ([single] if isinstance(single, dict) else single or [])
            if i.get("system") in (codes.UUID_SYSTEM, HOSPITAL_RECORDS)
        ]
        counted.update(keys or [""])
    return counted


def total(base: str, kind: str) -> int:
    with httpx.Client(base_url=base, timeout=30) as client:
        return int(client.get(f"/{kind}", params={"_summary": "count"}).json()["total"])


def visit(resident_id: str) -> FollowUp:
    return FollowUp(
        id=new_id(),
        resident_id=resident_id,
        programme=Programme.HYPERTENSION,
        visit_date=date(2026, 11, 30),
        method="2",
        sbp=152,
        dbp=94,
        heart_rate=80,
        weight_kg="61.5",
        classification="2",
        doctor="张伟",
    )


def register_offline(
    agent: Agent, people: list[Resident], *, phones_differ: int, villages_differ: int = 0
) -> list[Any]:
    """The doctor registers ``people`` on a PC not yet enrolled, some fields as they told her, and measures
    each once; what differs from the platform: the first ``phones_differ`` phones, the next villages."""
    measured = []
    for i, person in enumerate(people):
        local = dataclasses.replace(person, id=new_id())
        if i < phones_differ:
            local = dataclasses.replace(local, phone=f"1390000{i:04d}")
        elif i < phones_differ + villages_differ:
            local = dataclasses.replace(local, village="坝盘村")
        agent.store.residents.add(local, actor="doctor")
        measured.append(agent.store.readings.add(reading(local.id), actor="device"))
    return measured


def assert_no_copies(base: str, people: list[Resident], platform_ids: dict[str, str], observations: set[str]) -> None:
    """One Patient per ID card number, the hospital's; each Observation once, as many as ``observations``
    (identifiers as ``system|value``: the agent's urn:uuid of the record, or the hospital's number) and
    the hospital's among them. Whether the agent's are those it sent is ``assert_identifiers_kept``'s."""
    assert patients_by_number(base) == {p.id_number: [platform_ids[p.id_number]] for p in people}
    on_platform = copies(everything(base, "Observation"))
    assert {k: n for k, n in on_platform.items() if n > 1} == {}, "an Observation twice"
    assert len(on_platform) == len(observations)
    assert {k for k in observations if k.startswith(HOSPITAL_RECORDS)} <= set(on_platform)


class IdentifiersRewritten(AssertionError):
    """The platform holds the agent's records under other identifier values than those sent."""


def assert_identifiers_kept(base: str, observations: set[str], forms: set[str]) -> None:
    """Every Observation and form carries the identifier it was sent with (what makes a replay find it)."""
    for kind, expected in (("Observation", observations), ("QuestionnaireResponse", forms)):
        held = set(copies(everything(base, kind)))
        if held != expected:
            changed = sorted(held - expected)
            raise IdentifiersRewritten(f"{len(changed)} {kind} identifiers are not as sent, e.g. {changed[:3]}")


def ours(*record_ids: str) -> set[str]:
    """The agent's identifiers of these records, as ``copies`` counts them."""
    return {f"{codes.UUID_SYSTEM}|urn:uuid:{record_id}" for record_id in record_ids}


def test_a_clinic_joining_the_platform_adopts_the_files_it_already_holds(
    any_fhir_server: str, scale: Scale, clinic_factory: Callable[..., Agent]
) -> None:
    base = any_fhir_server
    rng = random.Random(90)
    numbers: set[str] = set()
    while len(numbers) < scale.catchment:
        numbers.add(id_number(rng))
    people = [
        resident(id_number=n, name="龙秀英", phone=f"1381598{i:04d}", village="大塘村")
        for i, n in enumerate(sorted(numbers))
    ]
    stays = len(range(0, scale.catchment, scale.with_history))
    # The platform: the clinic's Organization (made by the platform team) and its catchment, as a hospital wrote it.
    agent = clinic_factory(extra=SLOW_SERVER)
    with httpx.Client(base_url=base, timeout=30) as client:
        from sync.fhir import organization

        made = client.post(
            "/Organization",
            json=organization.to_fhir(organization.Clinic(code=agent.config.clinic_code, name="坝盘村卫生室")),
            headers={"Content-Type": "application/fhir+json"},
        )
        assert made.status_code == 201, made.text
    platform_ids = preload(base, people, made.json()["id"], history=scale.with_history)

    # The PC registered some of them before it was enrolled; the doctor also saw some at home.
    offline = people[: scale.offline]
    measured = register_offline(
        agent, offline, phones_differ=scale.phone_differs, villages_differ=scale.village_differs
    )
    visits = [
        agent.store.entries.add(visit(agent.store.residents.by_id_number(p.id_number).id), actor="doctor")  # type: ignore[union-attr]
        for p in offline[-scale.followed_up :]
    ]
    enroll(agent, base)
    assert organization_of(agent) == made.json()["id"]  # found, not made again

    report = sync(agent)
    assert report["errors"] == []
    assert report["adopted"] == scale.offline
    assert agent.store.residents.count() == scale.catchment  # the rest of the catchment came down
    hospital = {f"{HOSPITAL_RECORDS}|ZY-R{3 * n + 2:07d}" for n in range(0, scale.catchment, scale.with_history)}
    parts = [followup.part_id(v.id, part) for v in visits for part in FOLLOW_UP_OBSERVATIONS]
    sent = hospital | ours(*(m.id for m in measured), *parts)
    assert_no_copies(base, people, platform_ids, observations=sent)  # not one new Patient
    for found in everything(base, "Patient"):
        assert any(i["system"] == HOSPITAL_MRN for i in found["identifier"])  # the hospital's number is kept
        assert found.get("contact"), "the family contact the hospital wrote is kept"
    conflicts = agent.store.sync.conflicts()
    differing = Counter(f["name"] for c in conflicts for f in c.fields)
    assert differing == Counter(phone=scale.phone_differs, village=scale.village_differs)
    assert len(conflicts) == scale.phone_differs + scale.village_differs
    # The hospital's diagnosis and result are in the files here now.
    for person in people[:: scale.with_history]:
        here = agent.store.residents.by_id_number(person.id_number)
        assert here is not None
        entries, _ = agent.store.entries.for_resident(here.id, EntryKind.CONDITION)
        assert [e.name for e in entries if isinstance(e, Condition)] == ["原发性高血压"]
        readings, _ = agent.store.readings.for_resident(here.id)
        assert [r.components[0].value for r in readings if r.source == "platform"] == ["168"]
    # The visits are on the platform as the form, the Encounter and the measured values, for the right Patient.
    forms = everything(base, "QuestionnaireResponse")
    followed = {f"Patient/{platform_ids[p.id_number]}" for p in offline[-scale.followed_up :]}
    assert sorted(f["subject"]["reference"] for f in forms) == sorted(followed)
    encounters = {e["id"]: e for e in everything(base, "Encounter")}
    assert len(encounters) == stays + scale.followed_up
    observations = everything(base, "Observation")
    for form in forms:
        encounter = encounters[form["encounter"]["reference"].removeprefix("Encounter/")]
        assert encounter["subject"] == form["subject"]
        values = [o for o in observations if o.get("encounter") == form["encounter"]]
        assert sorted(o["code"]["coding"][0]["code"] for o in values) == sorted(["85354-9", "8867-4", "29463-7"])
        assert all(o["subject"] == form["subject"] for o in values)

    # A second PC of the same clinic, from an empty store: it finds everything, creates nothing.
    second = clinic_factory(base, code=agent.config.clinic_code, extra=SLOW_SERVER)
    first_sync = sync(second)
    assert (first_sync["errors"], first_sync["pushed"]) == ([], 0)
    assert second.store.residents.count() == scale.catchment
    assert len(second.store.entries.of_kind(EntryKind.FOLLOW_UP)[0]) == scale.followed_up  # the visits came down
    assert sync(second)["pushed"] == 0
    assert_no_copies(base, people, platform_ids, observations=sent)

    # The first PC, reinstalled from scratch: the doctor registers a few residents again before it is
    # enrolled (two with the phone they gave this time) and measures them.
    again = clinic_factory(code=agent.config.clinic_code, extra=SLOW_SERVER)
    remeasured = register_offline(again, people[scale.catchment // 2 :][: scale.reregistered], phones_differ=2)
    enroll(again, base)
    report = sync(again)
    assert report["errors"] == []
    assert report["adopted"] == scale.reregistered
    assert again.store.residents.count() == scale.catchment
    assert len(again.store.sync.conflicts()) == 2
    assert_no_copies(base, people, platform_ids, observations=sent | ours(*(m.id for m in remeasured)))
    # ... and what the others sent since comes down to each of them, once.
    for pc in (agent, second):
        assert sync(pc)["errors"] == []
    assert_no_copies(base, people, platform_ids, observations=sent | ours(*(m.id for m in remeasured)))
    # Last, every record as sent: Medplum's transactions replace a fullUrl wherever it occurs in an
    # entry, so no identifier value the agent sends is ever a fullUrl (common.entry_url).
    assert_identifiers_kept(base, sent | ours(*(m.id for m in remeasured)), ours(*(v.id for v in visits)))


def test_a_second_patient_for_a_linked_resident_is_set_aside_and_the_pull_goes_on(
    any_fhir_server: str, clinic_factory: Callable[..., Agent]
) -> None:
    fresh_fhir_server = any_fhir_server
    agent = clinic_factory(fresh_fhir_server)
    linked = agent.store.residents.add(resident(), actor="doctor")
    assert sync(agent)["errors"] == []
    organization = organization_of(agent)
    # Another system makes a duplicate of her, and a new resident of the clinic besides.
    newcomer = resident(id_number=id_number(random.Random(5)))
    preload(fresh_fhir_server, [linked, newcomer], organization)

    report = sync(agent)  # once: IntegrityError on the unique ID number, and every later sync with it
    assert report["parked"] == 1
    assert agent.store.residents.count() == 2  # the newcomer came down all the same
    [aside] = [p for p in agent.store.sync.parked() if p.entity == "Patient"]
    assert "two Patients for one person" in aside.reason
    assert agent.store.sync.queue_counts()["parked"] == 1  # status counts what the pull set aside too
    assert sync(agent)["pulled"] == 0  # and the next run is quiet
