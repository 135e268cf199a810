"""Pairing a Bluetooth LE health device at commissioning (``clinic-agent setup``), where it needs it.

A meter that uploads only to a bonded peer (most glucose meters; docs/devices.md, Pairing) is best
paired while the technician is there to put it in pairing mode. ``pair`` finds the device, connects,
and asks it the questions that tell whether it wants an encrypted link without taking anything from
it: it enables and clears the Record Access Control Point's indications (a meter sends nothing there
until it is asked for records) and reads the feature characteristics. A device that refuses one of
them for want of encryption is paired (Just Works, confirmed by ``drivers.ble.bluez_agent`` on
BlueZ) and asked again; BlueZ keeps the bond, and the daemon's link finds it. A measurement
characteristic is never enabled here: a cuff or thermometer would send its stored readings at once,
and setup has nowhere to keep them. Such a device that wants encryption only there is paired by the
link when it first asks (``BleLink``), as before.

``scanner_kwargs`` and ``client_kwargs`` are those of ``BleLink`` (empty on a clinic PC: BlueZ).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from bleak import BleakClient, BleakScanner
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.device import BLEDevice
from bleak.exc import BleakError

from drivers.ble.link import HEALTH_SERVICES, _needs_pairing, _unavailable
from drivers.ble.uuids import READ_ONCE, Characteristic, Service, uuid16, uuid128
from drivers.errors import DeviceUnavailable

__all__ = ["Outcome", "Pairing", "pair"]

Outcome = Literal["paired", "already paired", "not needed", "failed"]
_HEALTH = frozenset(HEALTH_SERVICES)


@dataclass(frozen=True, slots=True)
class Pairing:
    """What pairing one device came to, in words a technician can act on."""

    address: str
    outcome: Outcome
    detail: str

    @property
    def ok(self) -> bool:
        """Whether the device can be read as it is now (paired, or asking for no pairing)."""
        return self.outcome != "failed"

    def describe(self) -> str:
        """One line for the commissioning report."""
        words = "NOT paired" if self.outcome == "failed" else self.outcome
        return f"{words}: {self.detail}"


async def pair(
    address: str,
    *,
    scan_timeout: float = 10.0,
    connect_timeout: float = 20.0,
    scanner_kwargs: dict[str, Any] | None = None,
    client_kwargs: dict[str, Any] | None = None,
) -> Pairing:
    """Find the device at ``address``, pair with it if it wants an encrypted link, and say what happened."""
    address = address.upper()
    client_kwargs = dict(client_kwargs or {})
    bluez = "backend" not in client_kwargs and sys.platform == "linux"
    try:
        with _unavailable(address):
            found = await BleakScanner.find_device_by_address(address, timeout=scan_timeout, **(scanner_kwargs or {}))
        if found is None:
            return Pairing(address, "failed", "not found: is it switched on, in pairing mode and near the PC?")
        async with _agent(address, bluez) as agent:
            before = await agent.paired() if agent else None
            asked = await asyncio.wait_for(_connect_and_ask(found, connect_timeout, client_kwargs), connect_timeout * 3)
            after = await agent.paired() if agent else None
    except DeviceUnavailable as exc:
        return Pairing(address, "failed", exc.reason)
    except TimeoutError:
        return Pairing(address, "failed", "the device stopped answering")
    if before:
        return Pairing(address, "already paired", "BlueZ holds a bond with it")
    if asked or after:  # BlueZ pairs by itself when a request is refused for want of encryption
        return Pairing(address, "paired", "it asked for an encrypted link; paired (Just Works) and bonded")
    return Pairing(address, "not needed", "it answered without asking for pairing")


class _Agent:
    """BlueZ's side: the pairing agent registered for this address, and whether BlueZ holds a bond."""

    def __init__(self, module: Any, address: str) -> None:
        self.module, self.address = module, address

    async def paired(self) -> bool | None:
        result: bool | None = await self.module.is_paired(self.address)
        return result


@contextlib.asynccontextmanager
async def _agent(address: str, bluez: bool) -> AsyncIterator[_Agent | None]:
    if not bluez:
        yield None
        return
    module = importlib.import_module("drivers.ble.bluez_agent")  # dbus_fast: Linux only
    async with module.pairing_allowed(address):
        yield _Agent(module, address)


async def _connect_and_ask(found: BLEDevice, connect_timeout: float, client_kwargs: dict[str, Any]) -> bool:
    """Connect and ask the device its harmless questions; whether it had to be paired for them."""
    client = BleakClient(found, timeout=connect_timeout, **client_kwargs)
    with _unavailable(found.address):
        await client.connect()
    try:
        with _unavailable(found.address):
            return await _ask(client, found.address)
    finally:
        with contextlib.suppress(BleakError, TimeoutError, OSError):
            await asyncio.wait_for(client.disconnect(), connect_timeout)


async def _ask(client: BleakClient, address: str) -> bool:
    services = [
        (Service(short), service)
        for service in client.services
        if (short := uuid16(service.uuid)) is not None and short in _HEALTH
    ]
    if not services:
        raise DeviceUnavailable(address, "it offers none of the health services the agent reads")
    paired = False

    async def asked(operation: Callable[[], Awaitable[Any]]) -> None:
        nonlocal paired
        try:
            await operation()
        except BleakError as exc:
            if paired or not _needs_pairing(exc):
                raise
            paired = True
            await client.pair()
            await operation()

    for kind, service in services:
        control_point = service.get_characteristic(uuid128(Characteristic.RECORD_ACCESS_CONTROL_POINT))
        if control_point is not None and "indicate" in control_point.properties:
            await asked(functools.partial(_enable_and_clear, client, control_point))
        for uuid in READ_ONCE.get(kind, ()):
            characteristic = service.get_characteristic(uuid128(uuid))
            if characteristic is not None and "read" in characteristic.properties:
                await asked(functools.partial(client.read_gatt_char, characteristic))
    return paired


async def _enable_and_clear(client: BleakClient, characteristic: BleakGATTCharacteristic) -> None:
    await client.start_notify(characteristic, lambda _c, _data: None)
    await client.stop_notify(characteristic)
