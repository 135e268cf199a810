"""The bleak backend on bumble, through bleak's own BleakScanner and BleakClient: what the link relies on."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import datetime

import pytest
from bleak import BleakClient, BleakScanner
from bleak.exc import BleakGATTProtocolError

from drivers.ble.bumble_backend import central_kwargs
from drivers.ble.current_time import set_current_time
from drivers.ble.racp import report_records
from drivers.ble.uuids import uuid128
from drivers.simulators.ble import Peripheral
from tests.integration.ble.blelink_support import World, until

CCCD = "00002902-0000-1000-8000-00805f9b34fb"


@contextlib.asynccontextmanager
async def connected(world: World, peripheral: Peripheral) -> AsyncIterator[BleakClient]:
    """A bleak client connected to ``peripheral`` through the bumble backend."""
    options = central_kwargs(world.link)
    found = await BleakScanner.find_device_by_address(peripheral.address, timeout=2, **options["scanner_kwargs"])
    assert found is not None
    async with BleakClient(found, **options["client_kwargs"]) as client:
        yield client


@pytest.fixture
async def cuff_client(world: World) -> AsyncIterator[BleakClient]:
    cuff = await world.add("bp-cuff", seed=41, interval=0.02, run=True)
    async with connected(world, cuff) as client:
        yield client


async def test_services_characteristics_and_descriptors_are_discovered(world: World, cuff_client: BleakClient) -> None:
    measurement = cuff_client.services.get_characteristic(uuid128(0x2A35))
    assert measurement is not None
    assert measurement.properties == ["indicate"]
    assert measurement.service_uuid == uuid128(0x1810)
    assert [d.uuid for d in measurement.descriptors] == [CCCD]
    assert cuff_client.services.get_service(uuid128(0x1805)) is not None


async def test_indications_arrive_and_stop_when_asked(world: World, cuff_client: BleakClient) -> None:
    cuff = world.peripherals[0]
    values: list[bytes] = []
    await cuff_client.start_notify(uuid128(0x2A35), lambda _c, data: values.append(bytes(data)))
    cccd = cuff_client.services.get_characteristic(uuid128(0x2A35)).descriptors[0]  # type: ignore[union-attr]
    assert await cuff_client.read_gatt_descriptor(cccd) == b"\x02\x00"

    await until(lambda: len(values) >= 2)
    await cuff_client.stop_notify(uuid128(0x2A35))
    assert await cuff_client.read_gatt_descriptor(cccd) == b"\x00\x00"
    seen = len(values)
    await asyncio.sleep(0.1)

    assert len(values) == seen
    assert values == [v for u, v in cuff.sent if u == 0x2A35][:seen]


async def test_reads_and_writes_with_and_without_response(world: World, cuff_client: BleakClient) -> None:
    cuff = world.peripherals[0]
    assert await cuff_client.read_gatt_char(uuid128(0x2A49)) == b"\x07\x00"
    moment = datetime(2025, 1, 2, 3, 4, 5)
    await cuff_client.write_gatt_char(uuid128(0x2A2B), set_current_time(moment), response=True)
    assert cuff.clock_set_to == moment
    await cuff_client.write_gatt_char(uuid128(0x2A2B), set_current_time(moment.replace(hour=9)), response=False)
    await until(lambda: cuff.clock_set_to == moment.replace(hour=9))


async def test_att_errors_become_gatt_protocol_errors_with_their_code(world: World) -> None:
    thermometer = await world.add("thermometer", seed=42)
    async with connected(world, thermometer) as client:
        with pytest.raises(BleakGATTProtocolError) as refused:
            await client.write_gatt_char(uuid128(0x2A2B), set_current_time(datetime(2025, 1, 1)), response=True)
        assert refused.value.code == 0x80


async def test_an_encrypted_cccd_needs_pairing_and_a_retry_delivers_each_value_once(world: World) -> None:
    meter = await world.add("glucometer", seed=43, stored=3)
    values: list[bytes] = []
    async with connected(world, meter) as client:
        with pytest.raises(BleakGATTProtocolError) as refused:
            await client.start_notify(uuid128(0x2A18), lambda _c, data: values.append(bytes(data)))
        assert refused.value.code == 0x0F  # insufficient encryption
        await client.pair()
        await client.start_notify(uuid128(0x2A18), lambda _c, data: values.append(bytes(data)))
        await client.start_notify(uuid128(0x2A52), lambda _c, data: None)
        await client.write_gatt_char(uuid128(0x2A52), report_records(), response=True)
        await until(lambda: len(values) == 3)
        await asyncio.sleep(0.05)
    assert values == [r.values[0] for r in meter.store.records]


async def test_the_control_point_refuses_without_indications_and_while_busy(world: World) -> None:
    meter = await world.add("glucometer", seed=44, stored=200, require_pairing=False)
    async with connected(world, meter) as client:
        with pytest.raises(BleakGATTProtocolError) as refused:
            await client.write_gatt_char(uuid128(0x2A52), report_records(), response=True)
        assert refused.value.code == 0xFD  # client characteristic configuration improperly configured
        await client.start_notify(uuid128(0x2A52), lambda _c, data: None)
        await client.write_gatt_char(uuid128(0x2A52), report_records(), response=True)
        with pytest.raises(BleakGATTProtocolError) as busy:
            await client.write_gatt_char(uuid128(0x2A52), report_records(), response=True)
        assert busy.value.code == 0xFE  # procedure already in progress


async def test_a_drop_from_the_device_reaches_the_disconnected_callback(world: World) -> None:
    cuff = await world.add("bp-cuff", seed=45)
    options = central_kwargs(world.link)
    lost = asyncio.Event()
    found = await BleakScanner.find_device_by_address(cuff.address, timeout=2, **options["scanner_kwargs"])
    assert found is not None
    client = BleakClient(found, disconnected_callback=lambda _c: lost.set(), **options["client_kwargs"])
    await client.connect()
    was_connected = client.is_connected

    await cuff.drop()
    await asyncio.wait_for(lost.wait(), 2)

    assert (was_connected, client.is_connected) == (True, False)
    await client.disconnect()  # harmless when already gone
