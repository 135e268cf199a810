"""The sync engine against an in-memory platform: order, effectively-once, parking, pull, conflicts, states."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from clinic_agent.api import registry
from clinic_agent.core.model import Condition, Note, Quantity, new_id
from clinic_agent.runtime.agent import Agent, Caller
from clinic_agent.store import Store
from sync.engine import EngineOptions, SyncEngine
from sync.engine.mapping import PULLED
from sync.fhir import codes
from sync.fhir.bundle import SearchPage
from sync.fhir.common import find_identifier, identifier_value
from tests.support import PASSPHRASE, new_home, reading, resident
from tests.unit.sync.engine_support import OPTIONS, _no_sleep, quick_store, sync
from tests.unit.sync.fakeplatform import FakePlatform


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    made = quick_store(tmp_path / "clinic")
    yield made
    made.close()


def ours(platform: FakePlatform, kind: str, record_id: str) -> list[dict[str, object]]:
    return [r for r in platform.all(kind) if find_identifier(r, codes.UUID_SYSTEM) == identifier_value(record_id)]


def test_a_resident_goes_before_its_readings_and_critical_readings_first(store: Store) -> None:
    platform = FakePlatform()
    person = store.residents.add(resident(), actor="t")
    normal = [store.readings.add(reading(person.id), actor="t").id for _ in range(3)]
    urgent = store.readings.add(reading(person.id, systolic="190", diastolic="120"), actor="t").id
    report = sync(store, platform, dataclasses.replace(OPTIONS, batch_size=2, max_batch=2))
    assert (report.pushed, report.errors) == (5, [])
    created = [w for w in platform.writes if w.resource_type in ("Patient", "Observation")]
    first_reading = next(w for w in created if w.resource_type == "Observation")
    assert created[0].resource_type == "Patient"
    assert find_identifier(first_reading.after or {}, codes.UUID_SYSTEM) == identifier_value(urgent)
    patient_id = ours(platform, "Patient", person.id)[0]["id"]
    for reading_id in [urgent, *normal]:
        [observation] = ours(platform, "Observation", reading_id)
        assert observation["subject"] == {"reference": f"Patient/{patient_id}"}


def test_a_lost_reply_is_retried_and_duplicates_nothing(store: Store) -> None:
    platform = FakePlatform(lose_replies=2)
    person = store.residents.add(resident(), actor="t")
    readings = [store.readings.add(reading(person.id), actor="t").id for _ in range(5)]
    report = sync(store, platform)
    assert report.errors == []
    assert len(ours(platform, "Patient", person.id)) == 1
    assert [len(ours(platform, "Observation", r)) for r in readings] == [1] * 5
    assert store.sync.queue_counts()["pending"] == 0


def test_the_link_down_keeps_everything_queued_and_says_so(store: Store) -> None:
    platform = FakePlatform(down=True)
    person = store.residents.add(resident(), actor="t")
    store.readings.add(reading(person.id), actor="t")
    report = sync(store, platform)
    assert report.offline
    assert len(report.errors) == 1
    assert "\n" not in report.errors[0]
    assert store.sync.queue_counts()["pending"] == 2
    platform.down = False
    assert sync(store, platform).pushed == 2


def test_one_refused_record_is_parked_and_the_rest_goes(store: Store) -> None:
    platform = FakePlatform(reject=lambda r: "bad code" if r.get("resourceType") == "Condition" else None)
    person = store.residents.add(resident(), actor="t")
    before = [store.readings.add(reading(person.id), actor="t").id for _ in range(6)]
    bad = store.entries.add(Condition(id=new_id(), resident_id=person.id, name="高血压"), actor="t")
    after = [store.readings.add(reading(person.id), actor="t").id for _ in range(6)]
    report = sync(store, platform, dataclasses.replace(OPTIONS, batch_size=16, max_batch=16))
    assert (report.pushed, report.parked) == (13, 1)
    [parked] = store.sync.parked()
    assert (parked.entity_id, parked.kind, parked.reason) == (bad.id, "condition", "bad code")
    assert store.sync.record_state("entries", bad.id) == "local"
    assert all(store.sync.record_state("readings", r) == "confirmed" for r in before + after)

    platform.reject = lambda r: None
    store.sync.retry_parked(parked.seq, actor="t")
    assert sync(store, platform).pushed == 1
    assert store.sync.parked() == []
    assert store.sync.record_state("entries", bad.id) == "confirmed"


def test_readings_of_a_parked_resident_wait_and_are_not_parked(store: Store) -> None:
    platform = FakePlatform(reject=lambda r: "no" if r.get("resourceType") == "Patient" else None)
    person = store.residents.add(resident(), actor="t")
    waiting = store.readings.add(reading(person.id), actor="t").id
    report = sync(store, platform)
    assert report.parked == 1
    assert store.sync.record_state("readings", waiting) == "local"
    assert store.sync.queue_counts() == {"pending": 1, "parked": 1, "local_only": 0, "conflicts": 0}
    platform.reject = lambda r: None
    store.sync.retry_parked(store.sync.parked()[0].seq, actor="t")
    assert sync(store, platform).pushed == 2


def test_record_states_go_from_this_pc_to_sent_to_confirmed(store: Store) -> None:
    platform = FakePlatform(down=True)
    person = store.residents.add(resident(), actor="t")
    assert store.sync.record_state("residents", person.id) == "local"
    platform.down = False
    platform.lose_replies = 10  # every try is applied but never confirmed
    sync(store, platform)
    assert store.sync.record_state("residents", person.id) == "sent"
    assert store.sync.state_counts() == {"local": 0, "sent": 1, "confirmed": 0}
    platform.lose_replies = 0
    sync(store, platform)
    assert store.sync.record_state("residents", person.id) == "confirmed"
    assert len(ours(platform, "Patient", person.id)) == 1


def test_notes_reach_the_platform_and_nothing_stays_only_on_this_pc(store: Store) -> None:
    platform = FakePlatform()
    person = store.residents.add(resident(), actor="t")
    note = store.entries.add(
        Note(id=new_id(), resident_id=person.id, text="复诊", written_at=datetime.now(UTC)), actor="t"
    )
    sync(store, platform)
    assert store.sync.queue_counts()["local_only"] == 0
    assert store.sync.record_state("entries", note.id) == "confirmed"
    assert len(ours(platform, "DocumentReference", note.id)) == 1


def test_a_deleted_entry_is_deleted_upstream(store: Store) -> None:
    platform = FakePlatform()
    person = store.residents.add(resident(), actor="t")
    entry = store.entries.add(Condition(id=new_id(), resident_id=person.id, name="高血压"), actor="t")
    sync(store, platform)
    assert len(ours(platform, "Condition", entry.id)) == 1
    store.entries.delete(entry.kind, entry.id, actor="t")
    sync(store, platform)
    assert ours(platform, "Condition", entry.id) == []
    assert store.sync.queue_counts()["pending"] == 0


def test_an_edit_while_in_flight_is_sent_next_with_if_match(store: Store) -> None:
    platform = FakePlatform()
    person = store.residents.add(resident(phone="13800000000"), actor="t")
    edited = []

    def edit_once(write: object) -> None:
        if not edited:
            edited.append(
                store.residents.update(dataclasses.replace(person, phone="13911111111", version=1), actor="t")
            )

    platform.on_write = edit_once
    sync(store, platform)
    platform.on_write = None
    [patient] = ours(platform, "Patient", person.id)
    assert patient["telecom"] == [{"system": "phone", "value": "13911111111"}]  # the next round sent it
    assert patient["meta"]["versionId"] == "2"
    assert store.sync.record_state("residents", person.id) == "confirmed"


def test_upstream_records_land_in_the_file_and_are_not_sent_back(store: Store) -> None:
    platform = FakePlatform()
    person = store.residents.add(resident(), actor="t")
    sync(store, platform)
    patient_id = ours(platform, "Patient", person.id)[0]["id"]
    platform.upstream_put(
        {
            "resourceType": "Condition",
            "code": {"text": "2型糖尿病"},
            "subject": {"reference": f"Patient/{patient_id}"},
        }
    )
    platform.upstream_put(
        {
            "resourceType": "Observation",
            "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
            "subject": {"reference": f"Patient/{patient_id}"},
            "effectiveDateTime": "2026-11-25T01:00:00.000Z",
            "valueQuantity": {"value": 72, "unit": "/min", "code": "/min"},
        }
    )
    platform.upstream_put({"resourceType": "Condition", "code": {"text": "x"}, "subject": {"reference": "Patient/99"}})
    writes = len(platform.writes)
    report = sync(store, platform)
    assert (report.pulled, report.pushed, report.errors) == (2, 0, [])
    conditions, _ = store.entries.for_resident(person.id)
    assert [c.name for c in conditions] == ["2型糖尿病"]  # type: ignore[attr-defined]
    readings, _ = store.readings.for_resident(person.id)
    assert [(r.source, r.components[0].value) for r in readings] == [("platform", "72")]
    assert len(platform.writes) == writes
    assert sync(store, platform).pulled == 0


def test_disjoint_edits_merge_and_the_same_field_becomes_a_conflict(store: Store) -> None:
    platform = FakePlatform()
    person = store.residents.add(resident(phone="13800000000", village="坝盘村"), actor="t")
    sync(store, platform)
    patient = ours(platform, "Patient", person.id)[0]
    platform.upstream_put({**patient, "telecom": [{"system": "phone", "value": "13922222222"}]})
    local = store.residents.update(dataclasses.replace(person, village="寨英村", version=1), actor="t")
    report = sync(store, platform)
    assert (report.conflicts, report.errors) == (0, [])
    now = store.residents.get(person.id)
    assert (now.phone, now.village) == ("13922222222", "寨英村")
    [patient] = ours(platform, "Patient", person.id)
    assert patient["telecom"] == [{"system": "phone", "value": "13922222222"}]
    assert patient["address"][0]["extension"][0]["valueString"] == "寨英村"

    platform.upstream_put({**patient, "telecom": [{"system": "phone", "value": "13933333333"}]})
    store.residents.update(dataclasses.replace(now, phone="13944444444"), actor="t")
    report = sync(store, platform)
    assert report.conflicts == 1
    [conflict] = store.sync.conflicts()
    assert [(f["name"], f["local"], f["remote"]) for f in conflict.fields] == [("phone", "13944444444", "13933333333")]
    assert store.residents.get(person.id).phone == "13944444444"
    held = ours(platform, "Patient", person.id)[0]
    assert held["telecom"] == [{"system": "phone", "value": "13933333333"}]
    store.residents.update(dataclasses.replace(store.residents.get(person.id), address="五组"), actor="t")
    sync(store, platform)  # held while the conflict is open, even after another local edit
    assert ours(platform, "Patient", person.id)[0]["telecom"] == held["telecom"]

    store.sync.resolve(conflict.id, {"phone": "remote"}, actor="doctor")
    assert sync(store, platform).errors == []
    [patient] = ours(platform, "Patient", person.id)
    assert patient["telecom"] == [{"system": "phone", "value": "13933333333"}]
    assert patient["address"][0]["text"] == "五组"
    assert store.residents.get(person.id).phone == "13933333333"
    assert store.sync.conflicts() == []
    del local


class UnlinkedPlatform(FakePlatform):
    """A platform whose search pages carry no next link, only the records (Medplum's router)."""

    async def search(self, resource_type: str, params: Sequence[tuple[str, str]]) -> SearchPage:
        return dataclasses.replace(await super().search(resource_type, params), next_url=None)


def test_a_full_page_is_followed_even_when_the_platform_links_no_next_one(store: Store) -> None:
    platform = UnlinkedPlatform()
    person = store.residents.add(resident(), actor="t")
    sync(store, platform)
    patient_id = ours(platform, "Patient", person.id)[0]["id"]
    subject = {"reference": f"Patient/{patient_id}"}
    for n in range(25):
        platform.upstream_put({"resourceType": "Condition", "code": {"text": f"诊断{n}"}, "subject": subject})
    report = sync(store, platform, dataclasses.replace(OPTIONS, fetch_size=10, page_size=10))
    assert (report.pulled, report.errors) == (25, [])
    conditions, _ = store.entries.for_resident(person.id)
    assert len(conditions) == 25


def test_a_sync_with_nothing_to_do_asks_little(store: Store) -> None:
    platform = FakePlatform()
    person = store.residents.add(resident(), actor="t")
    store.readings.add(reading(person.id), actor="t")
    sync(store, platform)
    platform.requests = 0
    report = sync(store, platform)
    assert (report.pushed, report.pulled) == (0, 0)
    # the probe, whether the server chains searches (its Patients asked both ways), one search per pulled type
    assert platform.requests == 1 + 2 + len(PULLED)


def test_bundles_follow_the_link(store: Store) -> None:
    platform = FakePlatform()
    person = store.residents.add(resident(), actor="t")
    store.readings.add_many([reading(person.id) for _ in range(60)], actor="t")
    sync(store, platform, EngineOptions(batch_size=4, max_batch=64, attempts=2, backoff_base=0, backoff_cap=0))
    assert platform.bundle_sizes[0] <= 4 + 1  # four records (and the Device they came from)
    assert max(platform.bundle_sizes) >= 16  # quick answers: bigger bundles


def test_a_damaged_row_is_parked_with_its_reason_and_the_rest_goes(store: Store) -> None:
    platform = FakePlatform()
    person = store.residents.add(resident(), actor="t")
    readings = [store.readings.add(reading(person.id), actor="t").id for _ in range(3)]
    with store.core.write() as conn:
        conn.execute("UPDATE readings SET payload = randomblob(80) WHERE id = ?", (readings[1],))
    report = sync(store, platform)
    assert (report.pushed, report.parked) == (3, 1)
    [parked] = store.sync.parked()
    assert parked.entity_id == readings[1]
    assert "integrity" in parked.reason


def test_a_half_of_a_panel_marked_in_error_keeps_both_values_on_the_platform(store: Store) -> None:
    platform = FakePlatform()
    person = store.residents.add(resident(), actor="t")
    at = datetime.now(UTC)
    halves = []
    for code, value in (("8480-6", "150"), ("8462-4", "95")):
        quantity = Quantity(code=code, value=value, unit="mm[Hg]")
        halves.append(
            store.readings.add(
                reading(person.id, code=code, display="", components=(quantity,), taken_at=at, received_at=at),
                actor="doctor",
            )
        )
    sync(store, platform)
    [panel] = platform.all("Observation")
    assert len(panel["component"]) == 2  # one panel for the two halves
    store.readings.mark_entered_in_error(halves[1].id, actor="doctor")  # the diastolic was misread
    sync(store, platform)
    [panel] = platform.all("Observation")
    assert panel["status"] == "entered-in-error"  # the panel as a whole is wrong now...
    values = sorted(c["valueQuantity"]["value"] for c in panel["component"])
    assert [str(v) for v in values] == ["95", "150"]  # ...and neither value was dropped from it


def test_a_long_first_pull_tells_its_progress_page_by_page(store: Store, tmp_path: Path) -> None:
    platform = FakePlatform()
    for _ in range(25):
        store.residents.add(resident(), actor="t")
    sync(store, platform)  # another PC of the clinic put 25 residents there
    newcomer = quick_store(tmp_path / "second")
    told: list[dict[str, object]] = []
    options = dataclasses.replace(OPTIONS, page_size=10)
    engine = SyncEngine(newcomer.sync, platform, options, sleep=_no_sleep, on_progress=told.append)
    asyncio.run(engine.run())
    newcomer.close()
    patients = [p for p in told if p["type"] == "Patient"]
    records = [p["records"] for p in patients]
    assert records == sorted(set(records))  # grows page by page (a record seen twice counts once)
    assert records[0] == 10
    assert records[-1] == 25
    assert [p["pages"] for p in patients] == list(range(1, len(patients) + 1))
    assert {p["total"] for p in patients} == {25}
    assert patients[0]["seconds_left"] is not None
    assert patients[-1]["seconds_left"] is None  # done


class _CountingApplies:
    """The store's sync side, counting the records of each local transaction the pull makes."""

    def __init__(self, inner: object) -> None:
        self.inner = inner
        self.applied: list[int] = []

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    def apply(self, writes: list[object], **kwargs: object) -> object:
        self.applied.append(len(writes))
        return self.inner.apply(writes, **kwargs)  # type: ignore[attr-defined]


def test_a_first_pull_asks_for_large_pages_and_applies_them_a_page_size_at_a_time(store: Store, tmp_path: Path) -> None:
    """A server sorts all that is left at every page: the pull asks few, large pages (fetch_size) and
    still holds the store's write lock for page_size records at a time, each slice with its cursor."""
    platform = FakePlatform()
    for _ in range(25):
        store.residents.add(resident(), actor="t")
    sync(store, platform)
    newcomer = quick_store(tmp_path / "second")
    counting = _CountingApplies(newcomer.sync)
    told: list[dict[str, object]] = []
    options = dataclasses.replace(OPTIONS, page_size=10, fetch_size=100)
    engine = SyncEngine(counting, platform, options, sleep=_no_sleep, on_progress=told.append)  # type: ignore[arg-type]
    assert asyncio.run(engine.run()).errors == []
    assert newcomer.residents.count() == 25
    assert [p["pages"] for p in told if p["type"] == "Patient"] == [1]  # one search page for 25
    assert sorted(n for n in counting.applied if n)[-3:] == [5, 10, 10]  # ... applied 10, 10 and 5 at a time
    assert newcomer.sync.cursor("Patient") is not None
    newcomer.close()


def test_a_first_pull_looks_for_deletions_from_when_it_began(store: Store) -> None:
    """A first pull cut short and resumed must not read the whole history pulled after the cut for deletions."""
    platform = FakePlatform()
    before = datetime.now(UTC)
    sync(store, platform)
    for kind in PULLED:
        found = store.sync.cursor(kind + "#deleted")
        assert found is not None, kind  # set as the type's first pull began, not left to the pull's cursor
        assert datetime.fromisoformat(found.replace("Z", "+00:00")) <= before


def test_the_conflicts_list_names_whose_file_each_conflict_is_in(tmp_path: Path) -> None:
    """The conflicts screen shows the resident's name; the daemon used to send none (the kind showed)."""
    agent = Agent.open(new_home(tmp_path / "home"))
    try:
        agent.unlock(actor="test", passphrase=PASSPHRASE)
        platform = FakePlatform()
        person = agent.store.residents.add(resident(name="田玉梅", phone="13800000000"), actor="t")
        sync(agent.store, platform)
        patient = ours(platform, "Patient", person.id)[0]
        platform.upstream_put({**patient, "telecom": [{"system": "phone", "value": "13933333333"}]})
        agent.store.residents.update(dataclasses.replace(person, phone="13944444444", version=1), actor="t")
        assert sync(agent.store, platform).conflicts == 1
        [listed] = registry.call(agent, Caller(actor="user:li", role="doctor"), "conflict.list", {})["conflicts"]
        assert (listed["resident_id"], listed["resident_name"]) == (person.id, "田玉梅")
    finally:
        agent.close()
