"""Inside the BlueZ VM: the adapter BlueZ drives and the emulated health devices, on one bumble link.

The adapter is a bumble controller behind ``/dev/vhci``: the kernel registers it as hci0 and bluetoothd
manages it, so the agent's ``BleLink`` runs with no bleak backend given, exactly as on a clinic PC
(bleak's BlueZ D-Bus backend, bluetoothd, the kernel's HCI, L2CAP, ATT and SMP). The devices are the
project's simulators, each a second bumble controller on the same link, where the radio would be.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from bumble import core, hci
from bumble.controller import Controller
from bumble.link import LocalLink
from bumble.transport import open_transport
from bumble.transport.common import Transport
from dbus_fast import BusType, Message, MessageType, Variant
from dbus_fast.aio import MessageBus

from drivers.ble.link import BleLink
from drivers.frames import DeviceRef, FrameSink
from tests.integration.ble.blelink_support import NOW, World

ADAPTER_ADDRESS = "00:1A:7D:DA:71:01"  # the adapter's public address (a made-up one)
BLUEZ = "org.bluez"


class AddressFaithfulLink(LocalLink):
    """A ``LocalLink`` that stamps LE data with the address the sender uses on that connection.

    bumble's link stamps it with the sending controller's random address. BlueZ scans with a
    throw-away private address and then connects with the adapter's public one, so a device would
    drop everything BlueZ sends as "no connection for" that private address.
    """

    def send_acl_data(
        self, sender_controller: Controller, destination_address: hci.Address, transport: Any, data: bytes
    ) -> None:
        connection = sender_controller.le_connections.get(destination_address)
        if transport != core.PhysicalTransport.LE or connection is None:
            super().send_acl_data(sender_controller, destination_address, transport, data)
            return
        receiver = self.find_le_controller(destination_address)
        if receiver is not None:
            source = connection.self_address
            asyncio.get_running_loop().call_soon(receiver.on_link_acl_data, source, transport, data)


async def bluez_objects() -> dict[str, dict[str, dict[str, Any]]]:
    """BlueZ's D-Bus objects: path -> interface -> property -> value (variants unpacked)."""
    bus = await MessageBus(bus_type=BusType.SYSTEM).connect()
    try:
        reply = await bus.call(
            Message(
                destination=BLUEZ,
                path="/",
                interface="org.freedesktop.DBus.ObjectManager",
                member="GetManagedObjects",
            )
        )
    finally:
        bus.disconnect()
    assert reply is not None
    assert reply.message_type == MessageType.METHOD_RETURN, reply.body
    objects: dict[str, dict[str, dict[str, Any]]] = {}
    for path, interfaces in reply.body[0].items():
        objects[path] = {
            name: {key: value.value if isinstance(value, Variant) else value for key, value in props.items()}
            for name, props in interfaces.items()
        }
    return objects


async def device_properties(address: str) -> dict[str, Any]:
    """BlueZ's org.bluez.Device1 properties of the device at ``address`` (empty if BlueZ knows none)."""
    for interfaces in (await bluez_objects()).values():
        device = interfaces.get("org.bluez.Device1")
        if device is not None and str(device.get("Address", "")).upper() == address.upper():
            return device
    return {}


async def _adapters() -> dict[str, dict[str, Any]]:
    return {
        path: interfaces["org.bluez.Adapter1"]
        for path, interfaces in (await bluez_objects()).items()
        if "org.bluez.Adapter1" in interfaces
    }


async def _eventually(what: str, check: Any, within: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not await check():
        if loop.time() > deadline:
            raise AssertionError(f"BlueZ: {what} not seen within {within} s")
        await asyncio.sleep(0.1)


class Adapter:
    """hci0: a bumble controller on ``/dev/vhci``, on the devices' link; plugged in and pulled out at will."""

    def __init__(self, link: LocalLink) -> None:
        self.link = link
        self.transport: Transport | None = None
        self.controller: Controller | None = None

    async def plug(self) -> None:
        """Open /dev/vhci (the kernel adds hci0), then wait until BlueZ has it powered."""
        self.transport = await open_transport("vhci")
        self.controller = Controller(
            "hci0",
            host_source=self.transport.source,
            host_sink=self.transport.sink,
            link=self.link,
            public_address=ADAPTER_ADDRESS,
        )

        async def powered() -> bool:
            adapters = await _adapters()
            for path, adapter in adapters.items():
                if str(adapter.get("Address", "")).upper() == ADAPTER_ADDRESS and not adapter.get("Powered"):
                    await _set_powered(path)
            return any(bool(a.get("Powered")) for a in adapters.values())

        await _eventually("a powered adapter", powered)

    async def unplug(self) -> None:
        """Take the controller off the radio and close /dev/vhci (the kernel removes hci0)."""
        if self.controller is not None:
            with contextlib.suppress(KeyError):
                self.link.remove_controller(self.controller)
            # a real device notices the adapter is gone by its supervision timeout; bumble's link has none
            for device in list(self.link.controllers):
                for connection in list(device.le_connections.values()):
                    if connection.peer_address == self.controller.public_address:
                        device.on_le_disconnected(connection, hci.HCI_CONNECTION_TIMEOUT_ERROR)
        if self.transport is not None:
            await self.transport.close()
        self.transport, self.controller = None, None

        async def gone() -> bool:
            return not await _adapters()

        await _eventually("the adapter gone", gone)


async def _set_powered(path: str) -> None:
    bus = await MessageBus(bus_type=BusType.SYSTEM).connect()
    try:
        await bus.call(
            Message(
                destination=BLUEZ,
                path=path,
                interface="org.freedesktop.DBus.Properties",
                member="Set",
                signature="ssv",
                body=["org.bluez.Adapter1", "Powered", Variant("b", True)],
            )
        )
    finally:
        bus.disconnect()


class BluezWorld(World):
    """The test's world: emulated devices on a link, and BlueZ's adapter on the same link."""

    def __init__(self) -> None:
        super().__init__()
        self.link = AddressFaithfulLink()  # type: ignore[no-untyped-call]
        self.adapter = Adapter(self.link)

    def ble_link(self, sink: FrameSink, address: str = "", **kwargs: Any) -> BleLink:
        """The agent's link as the daemon builds it for a BLE device: no bleak backend, so BlueZ."""
        options: dict[str, Any] = {
            "clock": lambda: NOW,
            "on_state": lambda *s: self.states.append(s),
            "backoff_base": 0.2,
            **kwargs,
        }
        return BleLink(DeviceRef(id="dev-1", protocol="ble", address=address), sink, **options)

    @contextlib.asynccontextmanager
    async def running(self, link: BleLink) -> AsyncIterator[BleLink]:
        """Run ``link`` for the duration of the block, then stop it (a BlueZ disconnect takes a moment)."""
        stop = asyncio.Event()
        task = asyncio.create_task(link.run(stop))
        try:
            yield link
        finally:
            stop.set()
            await asyncio.wait_for(task, 30)
