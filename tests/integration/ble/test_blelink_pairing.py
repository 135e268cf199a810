"""Pairing at commissioning (drivers/ble/pairing.py) against the emulated devices, through bleak on bumble:
a meter that wants an encrypted link is paired, one that does not is left alone, and nothing a device
holds (stored records, a reading waiting for a collector) is taken or lost on the way."""

from __future__ import annotations

from drivers.ble.bumble_backend import central_kwargs
from drivers.ble.pairing import pair
from tests.integration.ble.blelink_support import World, until
from tests.integration.ble.test_blelink_live import BatteryTag


async def _pair(world: World, address: str) -> tuple[str, str]:
    result = await pair(address, scan_timeout=2.0, connect_timeout=5.0, **central_kwargs(world.link))
    return result.outcome, result.describe()


async def test_a_meter_that_wants_an_encrypted_link_is_paired_and_keeps_its_records(world: World) -> None:
    meter = await world.add("glucometer", seed=31, stored=5)
    held = [r.sequence for r in meter.store.records]

    outcome, words = await _pair(world, meter.address)

    assert outcome == "paired", words
    assert "asked for an encrypted link" in words
    assert [r.sequence for r in meter.store.records] == held  # nothing fetched, nothing deleted
    assert meter.requests == []  # no record request was written
    assert meter.sent == []


async def test_devices_that_ask_for_no_pairing_are_not_paired_and_send_nothing(world: World) -> None:
    meter = await world.add("glucometer", seed=32, stored=2, require_pairing=False, address="F1:F1:F1:F1:F1:12")
    cuff = await world.add("bp-cuff", seed=33, run=True, interval=3600)  # one reading, waiting for a collector
    await until(lambda: len(cuff.pending) == 1)

    assert (await _pair(world, meter.address))[0] == "not needed"
    outcome, words = await _pair(world, cuff.address.lower())

    assert outcome == "not needed", words
    assert words == "not needed: it answered without asking for pairing"
    assert cuff.sent == []
    assert len(cuff.pending) == 1


async def test_a_device_not_there_or_not_a_health_device_is_said_so(world: World) -> None:
    tag = BatteryTag(address="F2:F2:F2:F2:F2:F2")
    await tag.attach(world.link)
    world.peripherals.append(tag)

    absent = await pair("F1:F1:F1:F1:F1:99", scan_timeout=0.5, **central_kwargs(world.link))
    other = await pair(tag.address, scan_timeout=2.0, **central_kwargs(world.link))

    assert (absent.outcome, absent.ok) == ("failed", False)
    assert absent.describe().startswith("NOT paired: not found: is it switched on, in pairing mode")
    assert other.outcome == "failed"
    assert "none of the health services" in other.detail
