"""Stored records through the Record Access Control Point: fetched, stored once, and deleted on the
device only after the sink made every one durable — also when the connection drops half-way."""

from __future__ import annotations

import asyncio
import random

import pytest

from drivers.ble.racp import OpCode
from drivers.frames import RawFrame, Receipt
from drivers.simulators.ble.records import ALL_OP_CODES, RecordStore
from tests.integration.ble.blelink_support import FakeSink, World, no_wait, until

REPORT_NUMBER_ALL = bytes([OpCode.REPORT_NUMBER_OF_STORED_RECORDS, 0x01])
REPORT_ALL = bytes([OpCode.REPORT_STORED_RECORDS, 0x01])


def _ops(requests: list[bytes]) -> list[int]:
    return [request[0] for request in requests]


def _sequences(sink: FakeSink) -> list[int]:
    return sorted(int.from_bytes(f.data[1:3], "little") for f in sink.stored("ble:2A18"))


async def test_stored_glucose_records_are_fetched_then_deleted_once_durable(world: World) -> None:
    meter = await world.add("glucometer", seed=21, stored=12)
    expected = [r.sequence for r in meter.store.records]
    contexts = sum(len(r.values) == 2 for r in meter.store.records)
    early_deletes: list[RawFrame] = []

    def during(frame: RawFrame) -> None:  # inside each record's commit: the device must still hold it
        if frame.stored_record and OpCode.DELETE_STORED_RECORDS in _ops(meter.requests):
            early_deletes.append(frame)

    sink = FakeSink(during=during)
    async with world.running(world.ble_link(sink, meter.address)):
        await until(lambda: not meter.store.records)

    assert _sequences(sink) == expected
    assert len(sink.stored("ble:2A34")) == contexts
    assert early_deletes == []
    assert meter.requests == [
        REPORT_NUMBER_ALL,
        REPORT_ALL,
        bytes([OpCode.DELETE_STORED_RECORDS, 0x02, 0x01]) + max(expected).to_bytes(2, "little"),
    ]
    assert all(f.stored_record for f in sink.received("ble:2A18") + sink.received("ble:2A34"))
    assert meter.acknowledged == 12


async def test_a_download_cut_short_deletes_nothing_and_the_next_connection_completes_it(world: World) -> None:
    meter = await world.add("glucometer", seed=22, stored=10, drop_after=4)
    expected = [r.sequence for r in meter.store.records]
    held: list[int] = []  # how many records the meter holds while each one is being committed

    def during(frame: RawFrame) -> None:
        if frame.stored_record:
            held.append(len(meter.store.records))

    sink = FakeSink(during=during)

    async with world.running(world.ble_link(sink, meter.address, sleep=no_wait)):
        await until(lambda: not meter.store.records)

    first, second = meter.requests[:2], meter.requests[2:]
    assert first == [REPORT_NUMBER_ALL, REPORT_ALL], "cut off after 4 records: no delete"
    assert _ops(second) == [
        OpCode.REPORT_NUMBER_OF_STORED_RECORDS,
        OpCode.REPORT_STORED_RECORDS,
        OpCode.DELETE_STORED_RECORDS,
    ]
    assert len(sink.received("ble:2A18")) == 4 + 10, "fetched again in full"
    assert _sequences(sink) == expected, "every record stored exactly once"
    assert len(held) == len(sink.received("ble:2A18") + sink.received("ble:2A34"))
    assert set(held) == {10}, "nothing left the device before its commit"
    assert len(world.states_of("connected")) == 2


async def test_a_sink_that_cannot_store_means_nothing_is_deleted(world: World) -> None:
    meter = await world.add("glucometer", seed=23, stored=6)
    sink = FakeSink(failing=lambda frame: frame.protocol == "ble:2A18" and frame.data[1] % 3 == 0)

    async with world.running(world.ble_link(sink, meter.address)):
        await until(lambda: len([r for r in meter.requests if r[0] == OpCode.REPORT_STORED_RECORDS]) == 1)
        await until(lambda: len(sink.received("ble:2A52")) == 2)  # the count, then the end of the report

    assert len(meter.store.records) == 6
    assert OpCode.DELETE_STORED_RECORDS not in _ops(meter.requests)
    assert world.states_of("disconnected") == ["stopped"], "the link stays up for live values"


async def test_spot_checks_kept_by_a_pulse_oximeter_are_fetched_and_cleared(world: World) -> None:
    oximeter = await world.add("oximeter", seed=24, stored=5)
    stored = [r.values[0] for r in oximeter.store.records]
    sink = FakeSink()

    async with world.running(world.ble_link(sink, oximeter.address)):
        await until(lambda: not oximeter.store.records)

    assert [f.data for f in sink.received("ble:2A5E")] == stored
    assert all(f.stored_record for f in sink.received("ble:2A5E"))
    assert oximeter.requests == [REPORT_NUMBER_ALL, REPORT_ALL, bytes([OpCode.DELETE_STORED_RECORDS, 0x01])]


async def test_a_meter_that_never_deletes_is_asked_only_for_newer_records_next_time(world: World) -> None:
    meter = await world.add("glucometer", seed=25, stored=3)
    meter.store.op_codes = ALL_OP_CODES - {OpCode.DELETE_STORED_RECORDS}
    last = meter.store.records[-1].sequence
    sink = FakeSink()

    async with world.running(world.ble_link(sink, meter.address, sleep=no_wait)) as link:
        await until(lambda: bool(link.resume_after))  # count, report, delete refused (op code not supported)
        meter.take_reading()
        meter.take_reading()
        await meter.drop()  # the meter sleeps; the link reconnects when it wakes
        await until(lambda: len(_sequences(sink)) == 5)

    newer = bytes([OpCode.REPORT_STORED_RECORDS, 0x03, 0x01]) + (last + 1).to_bytes(2, "little")
    assert newer in meter.requests
    assert len(sink.received("ble:2A18")) == 5, "the old records were not fetched again"
    assert len(meter.store.records) == 5
    assert link.resume_after


async def test_an_empty_meter_is_only_asked_how_many(world: World) -> None:
    meter = await world.add("glucometer", seed=26, stored=0)
    sink = FakeSink()

    async with world.running(world.ble_link(sink, meter.address)):
        await until(lambda: len(sink.received("ble:2A52")) == 1)

    assert meter.requests == [REPORT_NUMBER_ALL]


async def test_a_meter_that_stops_answering_is_told_to_abort_and_keeps_its_records(world: World) -> None:
    meter = await world.add("glucometer", seed=27, stored=4)
    meter.store = _Silent(meter.store)
    sink = FakeSink()

    async with world.running(world.ble_link(sink, meter.address, response_timeout=0.2)):
        await until(lambda: bytes([OpCode.ABORT_OPERATION, 0x00]) in meter.requests)

    assert meter.requests[:2] == [REPORT_NUMBER_ALL, REPORT_ALL]
    assert len(meter.store.records) == 4


class _Silent(RecordStore):
    """A meter memory that answers "how many" but never finishes a report (it hangs)."""

    def __init__(self, inner: RecordStore) -> None:
        super().__init__()
        self.records, self.next_sequence = inner.records, inner.next_sequence

    def request(self, value: bytes):  # type: ignore[no-untyped-def]
        answer = super().request(value)
        if value[:1] == bytes([OpCode.REPORT_STORED_RECORDS]):
            return type(answer)(response=b"", records=())
        return answer


async def test_many_cut_downloads_lose_nothing_and_store_nothing_twice(world: World) -> None:
    meter = await world.add("glucometer", seed=28, stored=25)
    expected = [r.sequence for r in meter.store.records]
    rng, cuts = random.Random(28), list[int]()

    def cut_the_next_download(_connection: object) -> None:
        if len(cuts) < 6:
            cuts.append(rng.randint(0, 24))
            meter.drop_after = cuts[-1]

    assert meter.device is not None
    meter.device.on("connection", cut_the_next_download)
    held: list[int] = []

    def during(frame: RawFrame) -> None:
        if frame.stored_record:
            held.append(len(meter.store.records))

    sink = FakeSink(during=during)
    async with world.running(world.ble_link(sink, meter.address, sleep=no_wait)):
        await until(lambda: not meter.store.records, within=10)

    assert len(world.states_of("connected")) == 7
    assert len(sink.received("ble:2A18")) == sum(cuts) + 25
    assert _sequences(sink) == expected
    assert set(held) == {25}
    assert _ops(meter.requests).count(OpCode.DELETE_STORED_RECORDS) == 1


async def test_a_sink_that_raises_ends_the_link_with_that_error_and_nothing_is_deleted(world: World) -> None:
    meter = await world.add("glucometer", seed=29, stored=3)

    class Broken(FakeSink):
        async def __call__(self, frame: RawFrame) -> Receipt:
            if frame.protocol == "ble:2A18":
                raise RuntimeError("a bug in the ingest path")
            return await super().__call__(frame)

    link = world.ble_link(Broken(), meter.address)
    with pytest.raises(RuntimeError, match="a bug in the ingest path"):
        await asyncio.wait_for(link.run(asyncio.Event()), 15)

    assert len(meter.store.records) == 3
    assert OpCode.DELETE_STORED_RECORDS not in _ops(meter.requests)


async def test_a_meter_hanging_up_right_after_its_upload_has_its_records_stored_and_deleted_next_time(
    world: World,
) -> None:
    meter = await world.add("glucometer", seed=30, stored=6, hang_up_after_upload=True)
    expected = [r.sequence for r in meter.store.records]

    class SlowSink(FakeSink):
        async def __call__(self, frame: RawFrame) -> Receipt:
            await asyncio.sleep(0.005)  # commits lag behind the radio: the final answer waits in the queue
            return await super().__call__(frame)

    sink = SlowSink()
    async with world.running(world.ble_link(sink, meter.address, sleep=no_wait)):
        await until(lambda: world.states_of("disconnected"))
        meter.hang_up_after_upload = False
        await until(lambda: not meter.store.records)

    assert world.states_of("disconnected")[0] == "record request: the device disconnected", "it meant to delete"
    assert _sequences(sink) == expected
    assert _ops(meter.requests).count(OpCode.DELETE_STORED_RECORDS) == 1
