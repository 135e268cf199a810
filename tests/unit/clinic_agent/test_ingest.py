"""The ingest path: archive, decode, check, match, store — and a receipt only for what is durable."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from clinic_agent.core.errors import DiskFull
from clinic_agent.runtime.agent import Agent
from clinic_agent.runtime.ingest import DeviceSettings, Ingest
from drivers.ble.blood_pressure import BloodPressure, encode_blood_pressure
from drivers.frames import DeviceRef, RawFrame
from drivers.hl7.compose import blood_pressure, build_oru_r01
from drivers.ieee11073 import DateTime, Mder
from tests.support import PASSPHRASE, new_home, resident

CUFF = DeviceRef(id="cuff", protocol="ble")
HL7 = DeviceRef(id="machine", protocol="hl7")
NOW = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


@pytest.fixture
def agent(tmp_path: Path) -> Agent:
    opened = Agent.open(new_home(tmp_path / "home"))
    opened.unlock(actor="test", passphrase=PASSPHRASE)
    yield opened
    opened.close()


def _bp(systolic: int, diastolic: int, *, stamp: datetime | None = None, user: int | None = None) -> bytes:
    record = BloodPressure(
        kpa=False,
        systolic=Mder.of(systolic),
        diastolic=Mder.of(diastolic),
        mean_arterial_pressure=Mder.of(100),
        time_stamp=DateTime.from_datetime(stamp) if stamp else None,
        pulse_rate=Mder.of(70),
        user_id=user,
    )
    return encode_blood_pressure(record)


def _frame(data: bytes, *, device: DeviceRef = CUFF, protocol: str = "ble:2A35", at: datetime = NOW) -> RawFrame:
    return RawFrame(device=device, protocol=protocol, data=data, received_at=at)


def _count(agent: Agent, table: str) -> int:
    with sqlite3.connect(agent.home.db_path) as conn:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def test_a_frame_is_archived_decoded_and_stored(agent: Agent) -> None:
    receipt = Ingest(agent).submit(_frame(_bp(128, 84, stamp=datetime(2026, 11, 25, 15, 30))))
    assert receipt.durable
    assert len(receipt.stored) == 1
    reading = agent.store.readings.get(receipt.stored[0])
    assert reading.code == "85354-9"
    assert [(q.code, q.value, q.unit) for q in reading.components][:2] == [
        ("8480-6", "128", "mm[Hg]"),
        ("8462-4", "84", "mm[Hg]"),
    ]
    assert reading.device_time == "2026-11-25T15:30:00"
    assert agent.store.frames.get(reading.frame_id or "") == _bp(128, 84, stamp=datetime(2026, 11, 25, 15, 30))
    assert reading.resident_id is None  # nobody named: the unassigned inbox


def test_an_unreadable_frame_is_archived_and_quarantined_with_the_reason(agent: Agent) -> None:
    receipt = Ingest(agent).submit(_frame(b"\x1e\x78"))
    assert receipt.durable
    assert receipt.stored == ()
    assert "unreadable ble:2A35 frame" in (receipt.quarantined or "")
    items, _ = agent.store.quarantine.recent()
    assert items[0].raw == b"\x1e\x78"
    assert _count(agent, "frames") == 1


def test_an_implausible_reading_is_quarantined_never_stored(agent: Agent) -> None:
    receipt = Ingest(agent).submit(_frame(_bp(340, 84)))
    assert "outside the plausible range" in (receipt.quarantined or "")
    assert _count(agent, "readings") == 0
    assert _count(agent, "quarantine") == 1


def test_a_re_sent_frame_collapses_by_device_time(agent: Agent) -> None:
    data = _bp(128, 84, stamp=datetime(2026, 11, 25, 15, 30))
    sink = Ingest(agent)
    first, again = sink.submit(_frame(data)), sink.submit(_frame(data, at=NOW + timedelta(hours=3)))
    assert again.duplicates == first.stored
    assert _count(agent, "readings") == 1
    assert _count(agent, "frames") == 2  # every arrival is archived


def test_two_measurements_stamped_in_the_same_second_are_two_readings(agent: Agent) -> None:
    # A clock that is unset or stuck, or two quick measurements: the stamp alone does not identify a reading.
    stamp = datetime(2026, 11, 25, 15, 30)
    sink = Ingest(agent)
    first, second = sink.submit(_frame(_bp(128, 84, stamp=stamp))), sink.submit(_frame(_bp(131, 86, stamp=stamp)))
    assert len(first.stored) == len(second.stored) == 1
    assert second.duplicates == ()
    assert _count(agent, "readings") == 2


def test_a_frame_without_time_or_sequence_collapses_within_the_window_even_across_its_boundary(agent: Agent) -> None:
    sink = Ingest(agent)
    data = _bp(128, 84)
    boundary = datetime.fromtimestamp(600 * (int(NOW.timestamp()) // 600 + 1), UTC)
    first = sink.submit(_frame(data, at=boundary - timedelta(seconds=5)))
    again = sink.submit(_frame(data, at=boundary + timedelta(seconds=5)))
    assert again.duplicates == first.stored
    later = sink.submit(_frame(data, at=boundary + timedelta(minutes=25)))  # a new measurement with equal values
    assert len(later.stored) == 1


def test_a_message_naming_a_resident_is_matched_by_id_or_record_number(agent: Agent) -> None:
    person = agent.store.residents.add(resident(health_record_number="52220100100100001"), actor="t")
    sink = Ingest(agent)
    for patient in ((person.id_number, "NI"), ("52220100100100001", "PI")):
        message = build_oru_r01(
            control_id=f"M{patient[1]}",
            timestamp=NOW,
            patient_ids=[patient],
            observations=blood_pressure("130", "85", None, "72", at=NOW),
        )
        receipt = sink.submit(_frame(message, device=HL7, protocol="hl7"))
        assert agent.store.readings.get(receipt.stored[0]).resident_id == person.id


def test_a_device_user_slot_maps_to_a_resident(agent: Agent) -> None:
    person = agent.store.residents.add(resident(), actor="t")
    sink = Ingest(agent, {"cuff": DeviceSettings(users={2: person.id_number})})
    receipt = sink.submit(_frame(_bp(120, 80, user=2)))
    assert agent.store.readings.get(receipt.stored[0]).resident_id == person.id


def test_while_locked_a_reading_is_sealed_then_matched_at_unlock(agent: Agent) -> None:
    person = agent.store.residents.add(resident(), actor="t")
    agent.lock(actor="t")
    message = build_oru_r01(
        control_id="LOCKED1",
        timestamp=NOW,
        patient_ids=[(person.id_number, "NI")],
        observations=blood_pressure("131", "86", None, "70", at=NOW),
    )
    receipt = Ingest(agent).submit(_frame(message, device=HL7, protocol="hl7"))
    assert receipt.durable
    assert _count(agent, "sealed") == 2  # the frame and the reading
    agent.unlock(actor="test", passphrase=PASSPHRASE)
    readings, _ = agent.store.readings.for_resident(person.id)
    assert [r.components[0].value for r in readings] == ["131"]


def test_a_storage_failure_gives_a_receipt_that_is_not_durable(agent: Agent, monkeypatch: pytest.MonkeyPatch) -> None:
    def full(*args: object, **kwargs: object) -> str:
        raise DiskFull("the disk is full: nothing was saved")

    monkeypatch.setattr(agent.store.frames, "put", full)
    receipt = Ingest(agent).submit(_frame(_bp(120, 80)))
    assert not receipt.durable
    assert "disk is full" in (receipt.failed or "")


def _count_transactions(agent: Agent, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many write transactions begin, counted as they open."""
    opened = [0]
    core = agent.store.core
    real = core.write

    def counting() -> object:
        opened[0] += 1
        return real()

    monkeypatch.setattr(core, "write", counting)
    return opened


@pytest.mark.parametrize(
    ("data", "outcome"),
    [(_bp(128, 84), "stored"), (_bp(340, 84), "quarantined"), (b"\x1e\x78", "quarantined")],
    ids=["a reading", "an implausible reading", "an unreadable frame"],
)
def test_a_frame_and_what_was_read_from_it_commit_in_one_transaction(
    agent: Agent, monkeypatch: pytest.MonkeyPatch, data: bytes, outcome: str
) -> None:
    transactions = _count_transactions(agent, monkeypatch)
    receipt = Ingest(agent).submit(_frame(data))
    assert transactions == [1]  # one fsync per frame: the archive is not a commit of its own
    assert getattr(receipt, outcome)
    assert _count(agent, "frames") == 1


def test_a_frame_whose_readings_cannot_be_stored_is_not_archived_either(
    agent: Agent, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(*args: object, **kwargs: object) -> str:
        raise DiskFull("the disk is full: nothing was saved")

    monkeypatch.setattr(agent.store.readings, "insert", full)
    audited = _count(agent, "audit")
    receipt = Ingest(agent).submit(_frame(_bp(120, 80)))
    assert not receipt.durable  # not acknowledged: the device sends it again, and it is stored then, once
    assert (_count(agent, "frames"), _count(agent, "readings"), _count(agent, "audit")) == (0, 0, audited)


def test_a_decoder_that_fails_on_a_frame_still_leaves_it_archived_and_quarantined(
    agent: Agent, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(protocol: str, data: bytes) -> object:
        raise IndexError("a decoder bug")

    monkeypatch.setattr("clinic_agent.runtime.ingest.decode", broken)
    receipt = Ingest(agent).submit(_frame(_bp(120, 80)))
    assert receipt.durable
    assert "decoder failed on this frame (IndexError)" in (receipt.quarantined or "")
    items, _ = agent.store.quarantine.recent()
    assert [i.raw for i in items] == [_bp(120, 80)]
    assert _count(agent, "frames") == 1


@pytest.mark.parametrize("ahead", [timedelta(hours=1), timedelta(days=2000)])
def test_a_device_clock_ahead_of_the_pc_falls_back_to_the_pc_clock(agent: Agent, ahead: timedelta) -> None:
    stamp = (NOW + ahead).astimezone().replace(tzinfo=None)  # devices keep local wall time
    receipt = Ingest(agent).submit(_frame(_bp(120, 80, stamp=stamp)))
    reading = agent.store.readings.get(receipt.stored[0])
    assert reading.taken_at == NOW
    assert "device-clock-suspect" in reading.flags


def test_a_device_clock_within_drift_or_an_older_stored_record_keeps_its_time(agent: Agent) -> None:
    for moment in (NOW + timedelta(minutes=2), NOW - timedelta(days=3)):
        stamp = moment.astimezone().replace(tzinfo=None)
        reading = agent.store.readings.get(Ingest(agent).submit(_frame(_bp(121, 81, stamp=stamp))).stored[0])
        assert reading.taken_at == moment
        assert "device-clock-suspect" not in reading.flags
