"""The BLE link on BlueZ, the CI smoke: scanning with the service filter, pairing (and a glucose meter's
record download, deleted only after commit), and a live blood pressure reading reaching the store."""

from __future__ import annotations

from datetime import timedelta

from clinic_agent.runtime.agent import Agent
from clinic_agent.runtime.ingest import Ingest
from drivers.ble.blood_pressure import parse_blood_pressure
from drivers.ble.link import scan
from drivers.ble.racp import OpCode
from drivers.frames import RawFrame
from tests.bluez.guest.bluez_support import BluezWorld, device_properties
from tests.integration.ble.blelink_support import NOW, FakeSink, until
from tests.integration.ble.test_blelink_live import BatteryTag

LOCAL_NOW = NOW.astimezone().replace(tzinfo=None)  # what a device clock reads once the link set it
REPORT_NUMBER_ALL = bytes([OpCode.REPORT_NUMBER_OF_STORED_RECORDS, 0x01])
REPORT_ALL = bytes([OpCode.REPORT_STORED_RECORDS, 0x01])


async def test_scan_lists_only_devices_advertising_a_health_service(world: BluezWorld) -> None:
    await world.add("bp-cuff", seed=1, address="F1:F1:F1:F1:F1:A1")
    await world.add("thermometer", seed=2, address="F1:F1:F1:F1:F1:A3")
    tag = BatteryTag(address="F2:F2:F2:F2:F2:A2")
    await tag.attach(world.link)
    world.peripherals.append(tag)

    found = await scan(3.0)  # no backend: BlueZ, with its discovery filter on the health services

    assert [(f.address, f.name, f.services) for f in found] == [
        ("F1:F1:F1:F1:F1:A1", "BP-Cuff Sim", ("blood pressure (0x1810)",)),
        ("F1:F1:F1:F1:F1:A3", "Thermo Sim", ("health thermometer (0x1809)",)),
    ]
    assert all(isinstance(f.rssi, int) for f in found)


async def test_a_live_blood_pressure_reading_reaches_the_store_with_the_clock_set(
    world: BluezWorld, agent: Agent, store_sink: Ingest
) -> None:
    cuff = await world.add("bp-cuff", seed=11, interval=3600, run=True, address="F1:F1:F1:F1:F1:B1")

    async with world.running(world.ble_link(store_sink, cuff.address)):
        await until(lambda: agent.store.counts().readings >= 1, within=60)

    assert world.states_of("connected") == [cuff.address]
    assert cuff.clock_set_to is not None, "Current Time written through BlueZ"
    assert abs(cuff.clock_set_to - LOCAL_NOW) < timedelta(seconds=1)
    sent = parse_blood_pressure(next(value for uuid, value in cuff.sent if uuid == 0x2A35))
    readings, bad = agent.store.readings.unassigned()
    assert bad == []
    assert len(readings) == 1
    reading = readings[0]
    assert reading.code == "85354-9"
    values = {c.code: c.value for c in reading.components}
    assert values["8480-6"] == str(sent.systolic.mantissa)
    assert values["8462-4"] == str(sent.diastolic.mantissa)
    assert reading.device is not None
    assert reading.device.id == "dev-1"


async def test_a_glucose_meter_is_paired_and_its_records_deleted_only_after_commit(world: BluezWorld) -> None:
    meter = await world.add("glucometer", seed=21, stored=8, address="F1:F1:F1:F1:F1:C2")  # CCCDs need encryption
    expected = [r.sequence for r in meter.store.records]
    early_deletes: list[RawFrame] = []

    def during(frame: RawFrame) -> None:  # inside each record's commit: the meter must still hold it
        if frame.stored_record and OpCode.DELETE_STORED_RECORDS in [r[0] for r in meter.requests]:
            early_deletes.append(frame)

    sink = FakeSink(during=during)
    # The guest is emulated (TCG) and shares two cores with the rest of the suite: once, the subscribe
    # that makes BlueZ pair took over the link's 10 s. No second session can follow a failed one here:
    # after the central hangs up in this VM neither controller drops the connection, so the meter never
    # advertises again and the link searches in vain. So this run gets 30 s per operation.
    async with world.running(world.ble_link(sink, meter.address, response_timeout=30.0)):
        await until(lambda: not meter.store.records, within=60)
        bluez = await device_properties(meter.address)
        encrypted = [c.is_encrypted for c in meter.device.connections.values()] if meter.device else []

    assert encrypted == [True], "the link to the meter was encrypted"
    assert bluez.get("Paired") is True, "BlueZ paired with the meter"
    assert sorted(int.from_bytes(f.data[1:3], "little") for f in sink.stored("ble:2A18")) == expected
    assert early_deletes == []
    assert meter.requests == [
        REPORT_NUMBER_ALL,
        REPORT_ALL,
        bytes([OpCode.DELETE_STORED_RECORDS, 0x02, 0x01]) + max(expected).to_bytes(2, "little"),
    ]
    assert world.states_of("connected") == [meter.address]
