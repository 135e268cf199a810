"""A BlueZ pairing agent: Just Works, for the devices the BLE links are serving and nothing else.

Linux asks the user to confirm every LE Secure Connections "Just Works" pairing, even one the PC
started, and bluetoothd hands that question to the default pairing agent. A clinic PC running the
agent as a service has no desktop and so no agent: bluetoothd refuses the pairing ("No agent
available for request type 2") and a glucose meter that wants an encrypted link is never read.
bleak registers no agent, so the link does: while it serves a device it keeps this agent registered
as BlueZ's default, and the agent confirms pairing with the devices being served only. PIN codes and
passkeys (devices that need a person to type or compare digits) are refused: nobody is there to do it.

Registration needs the system bus. Debian's D-Bus policy for BlueZ (bluez 5.66,
``/etc/dbus-1/system.d/bluetooth.conf``) lets any user call BlueZ, and lets BlueZ call an agent back,
so the service's user needs no ``bluetooth`` group: tests/bluez/guest/test_setup_pairing.py pairs as
that user. Without the bus the link logs why and carries on, and pairing then fails as it did before.
"""

import asyncio
import contextlib
import logging
import weakref
from collections.abc import AsyncIterator

from dbus_fast import BusType, DBusError, Message, MessageType
from dbus_fast.aio import MessageBus
from dbus_fast.annotations import DBusObjectPath, DBusStr, DBusUInt16, DBusUInt32
from dbus_fast.service import ServiceInterface, dbus_method

__all__ = ["AGENT_PATH", "PairingAgent", "address_of", "is_paired", "pairing_allowed"]

_LOGGER = logging.getLogger(__name__)
AGENT_PATH = "/org/clinicagent/pairing"
_BLUEZ = "org.bluez"
_REJECTED = "org.bluez.Error.Rejected"


def address_of(device_path: str) -> str | None:
    """The device address in a BlueZ object path (``/org/bluez/hci0/dev_F1_F1_F1_F1_F1_01``), upper case."""
    name = device_path.rsplit("/", 1)[-1]
    if not name.startswith("dev_") or len(name) != 21:
        return None
    return name[4:].replace("_", ":").upper()


class PairingAgent(ServiceInterface):
    """org.bluez.Agent1 with the NoInputNoOutput capability: confirms Just Works for allowed addresses."""

    def __init__(self) -> None:
        super().__init__("org.bluez.Agent1")
        self.allowed: dict[str, int] = {}  # address -> how many links serve it

    def confirms(self, device_path: str) -> bool:
        """Whether a pairing with the device at ``device_path`` is confirmed."""
        address = address_of(device_path)
        return address is not None and self.allowed.get(address, 0) > 0

    def _confirm(self, device_path: str) -> None:
        if not self.confirms(device_path):
            _LOGGER.warning("pairing with %s refused: no link is serving it", device_path)
            raise DBusError(_REJECTED, "not a device this agent serves")
        _LOGGER.info("pairing with %s confirmed (Just Works)", device_path)

    # -- org.bluez.Agent1 (D-Bus method names) --------------------------------------------------------

    @dbus_method()
    def Release(self) -> None:
        """BlueZ let go of the agent."""

    @dbus_method()
    def RequestAuthorization(self, device: DBusObjectPath) -> None:
        """Just Works: confirm, if the device is being served."""
        self._confirm(device)

    @dbus_method()
    def RequestConfirmation(self, device: DBusObjectPath, passkey: DBusUInt32) -> None:
        """Numeric comparison: on NoInputNoOutput, BlueZ asks this for Just Works too."""
        self._confirm(device)

    @dbus_method()
    def RequestPinCode(self, device: DBusObjectPath) -> DBusStr:
        """Refused: no one is there to type a PIN."""
        raise DBusError(_REJECTED, "no PIN codes")

    @dbus_method()
    def RequestPasskey(self, device: DBusObjectPath) -> DBusUInt32:
        """Refused: no one is there to type a passkey."""
        raise DBusError(_REJECTED, "no passkeys")

    @dbus_method()
    def DisplayPasskey(self, device: DBusObjectPath, passkey: DBusUInt32, entered: DBusUInt16) -> None:
        """Nothing to show it on."""

    @dbus_method()
    def DisplayPinCode(self, device: DBusObjectPath, pincode: DBusStr) -> None:
        """Nothing to show it on."""
        raise DBusError(_REJECTED, "no PIN codes")

    @dbus_method()
    def AuthorizeService(self, device: DBusObjectPath, uuid: DBusStr) -> None:
        """Classic profile connections are not ours to allow."""
        raise DBusError(_REJECTED, "no services")

    @dbus_method()
    def Cancel(self) -> None:
        """BlueZ gave up on a request."""


class _Registration:
    """The agent on the system bus, registered while at least one address is allowed (shared by every link)."""

    def __init__(self) -> None:
        self.agent = PairingAgent()
        self.bus: MessageBus | None = None
        self.lock = asyncio.Lock()

    async def add(self, address: str) -> None:
        async with self.lock:
            self.agent.allowed[address] = self.agent.allowed.get(address, 0) + 1
            if self.bus is None:
                self.bus = await self._register()

    async def remove(self, address: str) -> None:
        async with self.lock:
            left = self.agent.allowed.get(address, 0) - 1
            if left > 0:
                self.agent.allowed[address] = left
            else:
                self.agent.allowed.pop(address, None)
            if not self.agent.allowed and self.bus is not None:
                bus, self.bus = self.bus, None
                with contextlib.suppress(DBusError, OSError, EOFError):
                    await _call(bus, "UnregisterAgent", "o", [AGENT_PATH])
                bus.disconnect()

    async def _register(self) -> MessageBus | None:
        bus: MessageBus | None = None
        try:
            bus = await MessageBus(bus_type=BusType.SYSTEM).connect()
            bus.export(AGENT_PATH, self.agent)
            await _call(bus, "RegisterAgent", "os", [AGENT_PATH, "NoInputNoOutput"])
            await _call(bus, "RequestDefaultAgent", "o", [AGENT_PATH])
        except (DBusError, OSError, EOFError) as exc:
            _LOGGER.warning("no BlueZ pairing agent (devices that need pairing will fail): %s", exc)
            if bus is not None:
                bus.disconnect()
            return None
        return bus


async def _call(bus: MessageBus, member: str, signature: str, body: list[str]) -> None:
    reply = await bus.call(
        Message(
            destination=_BLUEZ,
            path="/org/bluez",
            interface="org.bluez.AgentManager1",
            member=member,
            signature=signature,
            body=body,
        )
    )
    if reply is None or reply.message_type == MessageType.ERROR:
        detail = reply.body[0] if reply is not None and reply.body else ""
        raise DBusError((reply.error_name if reply is not None else None) or "org.bluez.Error.Failed", str(detail))


_registrations: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Registration] = weakref.WeakKeyDictionary()


@contextlib.asynccontextmanager
async def pairing_allowed(address: str) -> AsyncIterator[PairingAgent]:
    """Keep the agent registered, confirming pairing with ``address``, for the duration of the block."""
    loop = asyncio.get_running_loop()
    registration = _registrations.setdefault(loop, _Registration())
    address = address.upper()
    await registration.add(address)
    try:
        yield registration.agent
    finally:
        await registration.remove(address)


async def is_paired(address: str) -> bool | None:
    """Whether BlueZ holds a bond with the device at ``address`` (None: BlueZ cannot be asked)."""
    try:
        bus = await MessageBus(bus_type=BusType.SYSTEM).connect()
    except (DBusError, OSError, EOFError):
        return None
    try:
        reply = await bus.call(
            Message(
                destination=_BLUEZ, path="/", interface="org.freedesktop.DBus.ObjectManager", member="GetManagedObjects"
            )
        )
    except (DBusError, OSError, EOFError):
        return None
    finally:
        bus.disconnect()
    if reply is None or reply.message_type == MessageType.ERROR:
        return None
    for interfaces in reply.body[0].values():
        device = interfaces.get("org.bluez.Device1")
        if device is not None and str(device["Address"].value).upper() == address.upper():
            return bool(device["Paired"].value) if "Paired" in device else False
    return False
