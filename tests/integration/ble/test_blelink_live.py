"""The BLE link through the real BleakScanner and BleakClient (on bumble) against emulated devices:
scanning, the allow-list, live measurements, setting the clock, and garbage on the air."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from bumble import gatt
from bumble.core import UUID

from drivers.ble.blood_pressure import parse_blood_pressure
from drivers.ble.bumble_backend import central_kwargs
from drivers.ble.link import scan
from drivers.simulators.ble import Peripheral, Step
from tests.integration.ble.blelink_support import NOW, FakeSink, World, no_wait, until

LOCAL_NOW = NOW.astimezone().replace(tzinfo=None)  # what a device clock should read once set


class BatteryTag(Peripheral):
    """Something on the air that is not a health device (advertises only the Battery service)."""

    kind, local_name, service = "battery-tag", "Tag", 0x180F  # type: ignore[assignment]

    def services(self, server: Any) -> list[gatt.Service]:
        level = gatt.Characteristic(
            UUID.from_16_bits(0x2A19), gatt.Characteristic.Properties.READ, gatt.Characteristic.READABLE, bytes([80])
        )
        return [gatt.Service(UUID.from_16_bits(0x180F), [level])]

    def reading(self) -> list[Step]:
        return []


async def test_scan_lists_the_devices_advertising_a_health_service(world: World) -> None:
    await world.add("bp-cuff", seed=1)
    await world.add("thermometer", seed=2)
    tag = BatteryTag(address="F2:F2:F2:F2:F2:F2")
    await tag.attach(world.link)
    world.peripherals.append(tag)

    found = await scan(0.3, **central_kwargs(world.link)["scanner_kwargs"])

    assert [(f.address, f.name, f.services) for f in found] == [
        ("F1:F1:F1:F1:F1:01", "BP-Cuff Sim", ("blood pressure (0x1810)",)),
        ("F1:F1:F1:F1:F1:03", "Thermo Sim", ("health thermometer (0x1809)",)),
    ]
    assert all(isinstance(f.rssi, int) for f in found)


async def test_with_an_address_only_that_device_is_used(world: World) -> None:
    other = await world.add("bp-cuff", seed=1, interval=0.05, run=True)
    mine = await world.add("bp-cuff", seed=2, interval=0.05, run=True, address="F1:F1:F1:F1:F1:11")
    sink = FakeSink()

    async with world.running(world.ble_link(sink, mine.address)):
        await until(lambda: len(sink.stored("ble:2A35")) >= 2)

    assert other.acknowledged == 0
    assert all(f.device.address == mine.address for f in sink.frames)
    sent = [value for uuid, value in mine.sent if uuid == 0x2A35]
    assert [f.data for f in sink.received("ble:2A35")] == sent[: len(sink.received("ble:2A35"))]
    assert world.states_of("connected") == [mine.address]


async def test_without_an_address_the_first_health_device_is_used(world: World) -> None:
    tag = BatteryTag(address="F2:F2:F2:F2:F2:F2")
    await tag.attach(world.link)
    world.peripherals.append(tag)
    thermometer = await world.add("thermometer", seed=3, interval=0.05, run=True)
    sink = FakeSink()

    async with world.running(world.ble_link(sink)):
        await until(lambda: sink.stored("ble:2A1C"))

    assert world.states_of("connected") == [thermometer.address]


async def test_blood_pressure_results_reach_the_sink_and_decode(world: World) -> None:
    cuff = await world.add("bp-cuff", seed=11, interval=0.05, run=True)
    sink = FakeSink()

    async with world.running(world.ble_link(sink, cuff.address)):
        await until(lambda: len(sink.stored("ble:2A35")) >= 3)

    results = [value for uuid, value in cuff.sent if uuid == 0x2A35][:3]
    assert [f.data for f in sink.received("ble:2A35")[:3]] == results
    first = parse_blood_pressure(results[0])
    decoded = sink.decoded("ble:2A35")[0]
    values = {m.code: m.value_text for m in decoded.measurements}
    assert values["8480-6"] == str(first.systolic.mantissa)
    assert values["8462-4"] == str(first.diastolic.mantissa)
    assert not any(f.stored_record for f in sink.frames)
    assert sink.received("ble:2A36"), "cuff pressure while inflating is handed on too (archived)"
    assert [f.protocol for f in sink.frames].count("ble:2A49") == 1, "the features are read once"


async def test_the_device_clock_is_set_and_its_results_carry_the_clinic_time(world: World) -> None:
    cuff = await world.add("bp-cuff", seed=4, interval=3600, run=True)  # one result now, the next on demand
    sink = FakeSink()

    async with world.running(world.ble_link(sink, cuff.address)):
        await until(lambda: cuff.clock_set_to is not None and sink.stored("ble:2A35"))
        cuff.measure()
        await until(lambda: len(sink.received("ble:2A35")) == 2)

    assert cuff.clock_set_to is not None
    assert abs((cuff.clock_set_to - LOCAL_NOW).total_seconds()) < 1
    stamp = parse_blood_pressure(sink.received("ble:2A35")[-1].data).time_stamp
    latest = stamp.to_datetime() if stamp is not None else None
    assert latest is not None
    assert abs((latest - LOCAL_NOW).total_seconds()) < 60


async def test_an_and_style_scale_gets_its_clock_through_date_time(world: World) -> None:
    scale = await world.add("scale", seed=5, interval=0.05, run=True)
    sink = FakeSink()

    async with world.running(world.ble_link(sink, scale.address)):
        await until(lambda: scale.clock_set_to is not None and sink.stored("ble:2A9D"))

    assert scale.clock_set_to == LOCAL_NOW.replace(microsecond=0)


async def test_a_device_refusing_its_clock_is_still_read(world: World) -> None:
    thermometer = await world.add("thermometer", seed=6, interval=0.05, run=True)
    sink = FakeSink()

    async with world.running(world.ble_link(sink, thermometer.address)):
        await until(lambda: len(sink.stored("ble:2A1C")) >= 2)

    assert thermometer.clock_set_to is None
    assert world.states_of("disconnected") == ["stopped"]


@pytest.mark.parametrize(
    ("kind", "protocol", "loinc"),
    [
        ("thermometer", "ble:2A1C", "8310-5"),
        ("scale", "ble:2A9D", "29463-7"),
        ("oximeter", "ble:2A5E", "59408-5"),
    ],
)
async def test_each_kind_of_device_delivers_readings(world: World, kind: str, protocol: str, loinc: str) -> None:
    device = await world.add(kind, seed=7, interval=0.05, run=True)
    sink = FakeSink()

    async with world.running(world.ble_link(sink, device.address)):
        await until(lambda: len([f for f in sink.stored(protocol) if not f.stored_record]) >= 2)

    assert any(m.code == loinc for m in sink.decoded(protocol)[-1].measurements)


async def test_garbage_values_reach_the_sink_and_the_link_keeps_running(world: World) -> None:
    cuff = await world.add("bp-cuff", seed=8, interval=0.05)
    garbage = [b"", b"\x1e", b"\x06\x01\x02", b"\x1f" + bytes(5)]
    for junk in garbage:
        cuff.pending.append([(cuff.measurement, junk, True)])
    cuff.take_reading()
    world.tasks.append(asyncio.create_task(cuff.run(world.stop)))
    sink = FakeSink()

    async with world.running(world.ble_link(sink, cuff.address)):
        await until(lambda: len(sink.stored("ble:2A35")) >= 2)

    assert [f.data for f in sink.quarantined] == garbage
    assert world.states_of("connected") == [cuff.address]
    assert world.states_of("disconnected") == ["stopped"]


async def test_a_configured_device_without_a_health_service_is_an_error_not_a_reading(world: World) -> None:
    tag = BatteryTag(address="F2:F2:F2:F2:F2:F2")
    await tag.attach(world.link)
    world.peripherals.append(tag)
    sink = FakeSink()

    async with world.running(world.ble_link(sink, tag.address, sleep=no_wait)):
        await until(lambda: len(world.states_of("error")) >= 2)

    assert set(world.states_of("error")) == {"the device offers no health service"}
    assert sink.frames == []
