"""The BLE link on BlueZ when things go wrong: a meter that drops mid-download, an adapter that goes away."""

from __future__ import annotations

from drivers.ble.racp import OpCode
from drivers.frames import RawFrame
from tests.bluez.guest.bluez_support import BluezWorld
from tests.integration.ble.blelink_support import FakeSink, until


async def test_a_download_cut_short_deletes_nothing_and_the_next_connection_completes_it(world: BluezWorld) -> None:
    meter = await world.add("glucometer", seed=22, stored=10, drop_after=4, address="F1:F1:F1:F1:F1:D2")
    expected = [r.sequence for r in meter.store.records]
    held: list[int] = []  # how many records the meter holds while each one is being committed

    def during(frame: RawFrame) -> None:
        if frame.stored_record:
            held.append(len(meter.store.records))

    sink = FakeSink(during=during)
    async with world.running(world.ble_link(sink, meter.address)):
        await until(lambda: not meter.store.records, within=90)

    ops = [request[0] for request in meter.requests]
    assert ops == [
        OpCode.REPORT_NUMBER_OF_STORED_RECORDS,
        OpCode.REPORT_STORED_RECORDS,  # cut off after 4 records: no delete
        OpCode.REPORT_NUMBER_OF_STORED_RECORDS,
        OpCode.REPORT_STORED_RECORDS,
        OpCode.DELETE_STORED_RECORDS,
    ]
    assert world.states_of("disconnected")[0] == "the device disconnected during a record download"
    assert len(sink.received("ble:2A18")) == 4 + 10, "fetched again in full"
    assert sorted(int.from_bytes(f.data[1:3], "little") for f in sink.stored("ble:2A18")) == expected
    assert set(held) == {10}, "nothing left the meter before its commit"
    assert len(world.states_of("connected")) == 2


async def test_an_adapter_that_disappears_is_an_error_until_it_comes_back(world: BluezWorld) -> None:
    cuff = await world.add("bp-cuff", seed=31, interval=0.5, run=True, address="F1:F1:F1:F1:F1:E1")
    sink = FakeSink()

    async with world.running(world.ble_link(sink, cuff.address)):
        await until(lambda: len(sink.stored("ble:2A35")) >= 1, within=60)
        await world.adapter.unplug()  # the USB dongle pulled out: hci0 goes, BlueZ drops the adapter
        await until(lambda: world.states_of("error"), within=90)
        before = len(sink.stored("ble:2A35"))
        await world.adapter.plug()
        await until(lambda: len(sink.stored("ble:2A35")) > before, within=90)

    assert world.states_of("connected") == [cuff.address, cuff.address]
    assert world.states_of("disconnected")[0] == "the device disconnected"
    assert set(world.states_of("error")) == {"Bluetooth is not available: No Bluetooth adapters found."}
