"""Reconnecting with backoff (an injected sleep, no real waiting); bleak's errors translated once, or read as
"pair first"."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest
from bleak.backends.scanner import BaseBleakScanner
from bleak.exc import (
    BleakBluetoothNotAvailableError,
    BleakBluetoothNotAvailableReason,
    BleakDBusError,
    BleakError,
    BleakGATTProtocolError,
)

from drivers.ble.link import BluetoothUnavailable, _needs_pairing, scan
from drivers.errors import DeviceUnavailable
from tests.integration.ble.blelink_support import FakeSink, World, until


class _Sleeps:
    """An injected sleep that records each delay, returns at once, and stops the link after ``limit``."""

    def __init__(self, stop: asyncio.Event, limit: int) -> None:
        self.stop, self.limit = stop, limit
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        if len(self.delays) >= self.limit:
            self.stop.set()
        await asyncio.sleep(0)


async def test_a_missing_device_is_searched_for_again_with_growing_jittered_delays(world: World) -> None:
    stop = asyncio.Event()
    sleeps = _Sleeps(stop, limit=8)
    link = world.ble_link(
        FakeSink(), "F1:00:00:00:00:99", sleep=sleeps, scan_timeout=0.02, backoff_cap=16.0, rng=random.Random(3)
    )

    await asyncio.wait_for(link.run(stop), 5)

    for attempt, delay in enumerate(sleeps.delays):
        ceiling = min(16.0, 2.0**attempt)
        assert ceiling / 2 <= delay <= ceiling
    assert len(set(sleeps.delays)) == len(sleeps.delays), "jitter: two links do not retry in step"
    assert set(world.states_of("searching")) == {"F1:00:00:00:00:99", "F1:00:00:00:00:99: not found"}
    assert world.states[-1][1:] == ("disconnected", "stopped")


async def test_after_a_lost_connection_the_link_comes_back_quickly_every_time(world: World) -> None:
    cuff = await world.add("bp-cuff", seed=31, interval=0.05, run=True)
    stop = asyncio.Event()
    sleeps = _Sleeps(stop, limit=1000)
    sink = FakeSink()
    task = asyncio.create_task(world.ble_link(sink, cuff.address, sleep=sleeps, rng=random.Random(4)).run(stop))

    def listening() -> bool:  # connected and subscribed: the session is set up
        connections = cuff.device.connections.values() if cuff.device else ()
        return any(cuff.subscribed(c, cuff.cuff_pressure, indicate=False) for c in connections)  # the last one

    for round_ in range(1, 4):
        await until(lambda: len(world.states_of("connected")) == round_ and listening())  # noqa: B023
        await cuff.drop()
    await until(lambda: len(world.states_of("connected")) == 4)
    stop.set()
    await asyncio.wait_for(task, 5)

    assert world.states_of("disconnected")[:3] == ["the device disconnected"] * 3
    assert len(sleeps.delays) == 3
    assert all(0.5 <= d <= 1.0 for d in sleeps.delays), "no growing backoff after a connection"


class _NoAdapter(BaseBleakScanner):
    """A scanner backend on a machine without Bluetooth."""

    def __init__(self, detection_callback: Any, service_uuids: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(detection_callback, service_uuids)

    async def start(self) -> None:
        raise BleakBluetoothNotAvailableError("no adapter", BleakBluetoothNotAvailableReason.NO_BLUETOOTH)

    async def stop(self) -> None:
        return None


async def test_scan_without_bluetooth_says_so_as_device_unavailable() -> None:
    with pytest.raises(BluetoothUnavailable, match="Bluetooth is not available") as raised:
        await scan(0.1, backend=_NoAdapter)
    assert isinstance(raised.value, DeviceUnavailable)


class _Failing(_NoAdapter):
    """A scanner backend whose start fails with ``error`` (set on the class by the test)."""

    error: BaseException = OSError()

    async def start(self) -> None:
        raise self.error


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (
            BleakDBusError("org.freedesktop.DBus.Error.ServiceUnknown", ["The name org.bluez was not provided"]),
            "Bluetooth is not available: BlueZ is not running (install bluez; systemctl start bluetooth)",
        ),
        (
            BleakDBusError("org.freedesktop.DBus.Error.AccessDenied", ["Rejected send message"]),
            "Bluetooth is not available: the system D-Bus policy refuses this user access to BlueZ",
        ),
        (
            FileNotFoundError(2, "No such file or directory"),
            "the system D-Bus is not running (BlueZ is reached through it): [Errno 2] No such file or directory",
        ),
    ],
)
async def test_a_machine_without_bluez_or_its_bus_is_said_in_words_a_technician_can_act_on(
    error: BaseException, reason: str
) -> None:
    _Failing.error = error
    with pytest.raises(BluetoothUnavailable) as raised:
        await scan(0.1, backend=_Failing)
    assert raised.value.reason == reason


async def test_a_link_without_bluetooth_reports_an_error_and_keeps_trying(world: World) -> None:
    stop = asyncio.Event()
    sleeps = _Sleeps(stop, limit=3)
    link = world.ble_link(FakeSink(), "F1:F1:F1:F1:F1:01", sleep=sleeps, scanner_kwargs={"backend": _NoAdapter})

    await asyncio.wait_for(link.run(stop), 5)

    assert world.states_of("error") == ["Bluetooth is not available: no adapter"] * 3  # not the args tuple


@pytest.mark.parametrize(
    ("error", "pair"),
    [
        (BleakGATTProtocolError(0x05), True),
        (BleakGATTProtocolError(0x0F), True),
        (BleakGATTProtocolError(0x80), False),
        (BleakDBusError("org.bluez.Error.NotPermitted", ["Not paired"]), True),
        (BleakDBusError("org.bluez.Error.NotPermitted", ["Write not permitted"]), False),
        (BleakError("Not connected"), False),
        (None, False),
    ],
)
def test_which_refusals_make_the_link_pair(error: BaseException | None, pair: bool) -> None:
    # the BlueZ form cannot be produced without BlueZ: bleak's own note says it answers "Not paired"
    assert _needs_pairing(error) is pair
