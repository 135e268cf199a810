"""A bleak backend on a bumble host, so the real ``BleakScanner`` and ``BleakClient`` reach emulated
peripherals: in this process over a bumble ``LocalLink`` (tests), or in another process over HCI on
TCP (``clinic-agent simulate ... --ble`` beside a running daemon).

bleak hands every extra keyword of ``BleakScanner(...)``/``BleakClient(...)`` to the backend when
``backend=`` is given, so the whole seam is the two keyword dicts ``central_kwargs`` returns; the
BLE link passes them through unchanged, and in production they are empty. Pairing uses bumble's
SMP (Just Works). Not emulated: MTU exchange (23), cached reads, the ``services=`` filter.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from typing import Any, TypedDict, cast

from bleak.args import SizedBuffer
from bleak.assigned_numbers import CharacteristicPropertyName
from bleak.backends.characteristic import BleakGATTCharacteristic, GattCharacteristicsFlags
from bleak.backends.client import BaseBleakClient, NotifyCallback
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, AdvertisementDataCallback, BaseBleakScanner
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import BleakError, BleakGATTProtocolError
from bleak.uuids import normalize_uuid_str
from bumble import att, core, gatt, hci
from bumble.controller import Controller
from bumble.device import Advertisement, Connection, Device, Peer
from bumble.gatt_client import CharacteristicProxy
from bumble.host import Host
from bumble.link import LocalLink
from bumble.transport import open_transport
from bumble.transport.common import AsyncPipeSink, Transport

__all__ = ["BumbleCentral", "BumbleClient", "BumbleScanner", "CentralKwargs", "central_kwargs"]

_LOGGER = logging.getLogger(__name__)
_MIN_MTU = 23


class BumbleCentral:
    """The bumble host bleak drives: on a ``LocalLink`` here, or behind an HCI transport ("tcp-client:H:P").

    It is opened when a scanner or client first needs it and closed when the last one lets go, so a
    link between connections holds no socket and a simulator restarted meanwhile is simply reached again.
    """

    def __init__(self, where: LocalLink | str, *, address: str | None = None) -> None:
        self.where = where
        # each central its own static address: two on one simulator's link must not be mistaken for each other
        self.address = hci.Address(address) if address else hci.Address.generate_static_address()
        self.known: dict[str, hci.Address] = {}  # address text -> address with its type, from adverts
        self.connect_lock = asyncio.Lock()
        self._lock = asyncio.Lock()
        self._users = 0
        self._scanners = 0
        self._device: Device | None = None
        self._transport: Transport | None = None
        self._controller: Controller | None = None

    async def open(self) -> Device:
        """The powered-on central; each ``open`` needs one ``release``."""
        async with self._lock:
            if self._device is None or self._lost():
                await self._close()
                try:
                    self._device = await self._power_on()
                except BaseException as exc:
                    await self._close()
                    if isinstance(exc, OSError):  # the simulator (or HCI bridge) is not there (yet)
                        raise BleakError(f"the HCI transport {self.where} cannot be reached: {exc}") from exc
                    raise
            self._users += 1
            return self._device

    async def release(self) -> None:
        """Let go of the central; the last user closes it."""
        async with self._lock:
            self._users = max(0, self._users - 1)
            if self._users == 0:
                await self._close()

    async def start_scanning(self, device: Device) -> None:
        """Scan (shared by every open scanner)."""
        self._scanners += 1
        if self._scanners == 1:
            await device.start_scanning(filter_duplicates=False)

    async def stop_scanning(self, device: Device) -> None:
        """Stop scanning when no scanner is left."""
        self._scanners = max(0, self._scanners - 1)
        if self._scanners == 0 and device.is_scanning and not self._lost():
            await device.stop_scanning()

    def _lost(self) -> bool:
        return self._transport is not None and self._transport.source.terminated.done()

    async def _power_on(self) -> Device:
        if isinstance(self.where, LocalLink):
            self._controller = Controller("clinic-agent", link=self.where)
            host = Host(self._controller, AsyncPipeSink(self._controller))
            device = Device(name="clinic-agent", address=self.address, host=host)
        else:
            self._transport = await open_transport(self.where)
            device = Device.with_hci("clinic-agent", self.address, self._transport.source, self._transport.sink)
        await device.power_on()
        return device

    async def _close(self) -> None:
        self._device, self._scanners = None, 0
        if self._controller is not None and isinstance(self.where, LocalLink):
            self.where.remove_controller(self._controller)
        self._controller = None
        if self._transport is not None:
            await self._transport.close()
        self._transport = None


class CentralKwargs(TypedDict):
    """The keywords ``BleLink`` takes to reach a bumble world instead of the system's Bluetooth."""

    scanner_kwargs: dict[str, Any]
    client_kwargs: dict[str, Any]


def central_kwargs(where: LocalLink | str, *, address: str | None = None) -> CentralKwargs:
    """``{"scanner_kwargs": ..., "client_kwargs": ...}`` for ``BleLink`` and ``scan`` to reach a bumble world.

    ``where`` is a ``LocalLink`` shared with in-process peripherals, or an HCI transport such as
    ``"tcp-client:127.0.0.1:9000"`` where ``clinic-agent simulate <kind> --ble tcp-server:127.0.0.1:9000`` listens.
    """
    central = BumbleCentral(where, address=address)
    return {
        "scanner_kwargs": {"backend": BumbleScanner, "central": central},
        "client_kwargs": {"backend": BumbleClient, "central": central},
    }


@contextlib.contextmanager
def _as_bleak(what: str) -> Iterator[None]:
    """bumble's errors as bleak's: ATT errors keep their code, a lost connection is a BleakError."""
    try:
        yield
    except att.ATT_Error as exc:
        raise BleakGATTProtocolError(exc.error_code) from exc
    except asyncio.CancelledError:
        # bumble cancels a pending GATT request when the link drops; a real cancel must go on
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise
        raise BleakError(f"{what}: the connection was lost") from None
    except (core.BaseBumbleError, TimeoutError) as exc:
        raise BleakError(f"{what}: {exc}") from exc


def _uuid(uuid: core.UUID) -> str:
    return normalize_uuid_str(uuid.to_hex_str("-"))


def _address_text(address: hci.Address) -> str:
    return address.to_string(with_type_qualifier=False)


class BumbleScanner(BaseBleakScanner):
    """bleak's scanner interface over a bumble central's advertising reports."""

    def __init__(
        self,
        detection_callback: AdvertisementDataCallback | None,
        service_uuids: list[str] | None,
        scanning_mode: str = "active",
        *,
        central: BumbleCentral,
        **kwargs: Any,
    ) -> None:
        super().__init__(detection_callback, service_uuids)
        self.central = central
        self._device: Device | None = None

    async def start(self) -> None:
        """Start scanning; ``seen_devices`` starts empty."""
        self.seen_devices = {}
        with _as_bleak("scan"):
            device = await self.central.open()
            device.on(Device.EVENT_ADVERTISEMENT, self._on_advertisement)
            self._device = device
            await self.central.start_scanning(device)

    async def stop(self) -> None:
        """Stop scanning and let go of the central."""
        device, self._device = self._device, None
        if device is None:
            return
        device.remove_listener(Device.EVENT_ADVERTISEMENT, self._on_advertisement)
        with _as_bleak("scan"):
            try:
                await self.central.stop_scanning(device)
            finally:
                await self.central.release()

    def _on_advertisement(self, advertisement: Advertisement) -> None:
        data = advertisement.data
        uuids = [
            _uuid(uuid)
            for kind in (
                core.AdvertisingData.Type.COMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS,
                core.AdvertisingData.Type.INCOMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS,
                core.AdvertisingData.Type.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
                core.AdvertisingData.Type.INCOMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
            )
            for uuid in data.get(kind) or []
        ]
        if not self.is_allowed_uuid(uuids):
            return
        name = data.get(core.AdvertisingData.Type.COMPLETE_LOCAL_NAME) or data.get(
            core.AdvertisingData.Type.SHORTENED_LOCAL_NAME
        )
        text = _address_text(advertisement.address)
        self.central.known[text] = advertisement.address
        tx_power = advertisement.tx_power if advertisement.tx_power != Advertisement.TX_POWER_NOT_AVAILABLE else None
        adv = AdvertisementData(
            local_name=name if isinstance(name, str) else None,
            manufacturer_data={},
            service_data={},
            service_uuids=uuids,
            tx_power=tx_power,
            rssi=advertisement.rssi,
            platform_data=(advertisement,),
        )
        found = self.create_or_update_device(text, text, adv.local_name, advertisement.address, adv)
        self.call_detection_callbacks(found, adv)


class _Dispatch:
    """One subscriber per characteristic: bumble keeps it even when the CCCD write fails, so a retry
    after pairing must reuse it rather than add a second (which would deliver every value twice)."""

    def __init__(self) -> None:
        self.callback: NotifyCallback | None = None

    def __call__(self, value: bytes) -> None:
        if self.callback is not None:
            self.callback(bytearray(value))


class BumbleClient(BaseBleakClient):
    """bleak's client interface over a bumble central's connection and GATT client."""

    def __init__(self, address_or_ble_device: BLEDevice | str, *, central: BumbleCentral, **kwargs: Any) -> None:
        kwargs.setdefault("disconnected_callback", None)
        kwargs.setdefault("timeout", 10.0)
        super().__init__(address_or_ble_device, **kwargs)
        self.central = central
        details = address_or_ble_device.details if isinstance(address_or_ble_device, BLEDevice) else None
        self._target = details if isinstance(details, hci.Address) else None
        self._name = address_or_ble_device.name if isinstance(address_or_ble_device, BLEDevice) else None
        self._connection: Connection | None = None
        self._peer: Peer | None = None
        self._subscribers: dict[int, _Dispatch] = {}
        self._leaving = False
        self._holding = False  # whether this client has the central open

    @property
    def name(self) -> str:
        """The advertised name, or the address."""
        return self._name or self.address

    @property
    def mtu_size(self) -> int:
        """The ATT MTU (23: no exchange is made)."""
        return self._connection.att_mtu if self._connection is not None else _MIN_MTU

    @property
    def is_connected(self) -> bool:
        """Whether the connection is up."""
        return self._connection is not None

    async def connect(self, pair: bool, **kwargs: Any) -> None:
        """Connect, discover every service, characteristic and descriptor, and pair if asked."""
        with _as_bleak("connect"):
            device = await self.central.open()
        self._holding = True
        try:
            target = self._target or self.central.known.get(self.address.upper())
            target = target or hci.Address(self.address, hci.Address.RANDOM_DEVICE_ADDRESS)
            with _as_bleak("connect"):
                async with self.central.connect_lock:
                    connection = await device.connect(target, timeout=self._timeout)
            self._leaving = False
            self._connection, self._peer = connection, Peer(connection)
            connection.on(Connection.EVENT_DISCONNECTION, self._on_disconnection)
            with _as_bleak("service discovery"):
                self.services = await self._discover(self._peer)
            if pair:
                await self.pair()
        except BaseException:
            await self.disconnect()
            raise

    async def _discover(self, peer: Peer) -> BleakGATTServiceCollection:
        collection = BleakGATTServiceCollection()
        for service in await peer.discover_services():
            entry = BleakGATTService(service, service.handle, _uuid(service.uuid))
            collection.add_service(entry)
            for char in await service.discover_characteristics():
                flags = cast(
                    list[CharacteristicPropertyName],
                    [flag.name.replace("_", "-") for flag in GattCharacteristicsFlags if char.properties & flag.value],
                )
                item = BleakGATTCharacteristic(
                    char,
                    char.handle,
                    _uuid(char.uuid),
                    flags,
                    lambda: self.mtu_size - 3,
                    entry,
                )
                collection.add_characteristic(item)
                for descriptor in await char.discover_descriptors():
                    collection.add_descriptor(
                        BleakGATTDescriptor(descriptor, descriptor.handle, _uuid(descriptor.type), item)
                    )
        return collection

    def _on_disconnection(self, reason: int) -> None:
        self._connection, self._peer = None, None
        if not self._leaving and self._disconnected_callback is not None:
            self._disconnected_callback()

    async def disconnect(self) -> None:
        """Disconnect (if connected) and let go of the central."""
        connection, self._leaving = self._connection, True
        try:
            if connection is not None:
                with contextlib.suppress(core.BaseBumbleError, TimeoutError):
                    await connection.disconnect()
        finally:
            self._connection, self._peer = None, None
            if self._holding:
                self._holding = False
                await self.central.release()

    def _need_peer(self) -> Peer:
        if self._peer is None:
            raise BleakError("not connected")
        return self._peer

    async def pair(self, *args: Any, **kwargs: Any) -> None:
        """Pair (Just Works) and encrypt the link."""
        if self._connection is None:
            raise BleakError("not connected")
        with _as_bleak("pairing"):
            await self._connection.pair()

    async def unpair(self) -> None:
        """Forget the bond: bumble keeps none without a key store, so only disconnect."""
        await self.disconnect()

    async def read_gatt_char(self, characteristic: BleakGATTCharacteristic, **kwargs: Any) -> bytearray:
        """Read a characteristic's value."""
        with _as_bleak("read"):
            return bytearray(await self._need_peer().read_value(characteristic.obj))

    async def read_gatt_descriptor(self, descriptor: BleakGATTDescriptor, **kwargs: Any) -> bytearray:
        """Read a descriptor's value."""
        with _as_bleak("read"):
            return bytearray(await self._need_peer().read_value(descriptor.obj))

    async def write_gatt_char(self, characteristic: BleakGATTCharacteristic, data: SizedBuffer, response: bool) -> None:
        """Write a characteristic, with or without response."""
        with _as_bleak("write"):
            await self._need_peer().write_value(characteristic.obj, bytes(data), with_response=response)

    async def write_gatt_descriptor(self, descriptor: BleakGATTDescriptor, data: SizedBuffer) -> None:
        """Write a descriptor."""
        with _as_bleak("write"):
            await self._need_peer().write_value(descriptor.obj, bytes(data), with_response=True)

    async def start_notify(
        self, characteristic: BleakGATTCharacteristic, callback: NotifyCallback, **kwargs: Any
    ) -> None:
        """Write the CCCD (notifications preferred when both are offered, as bleak does)."""
        proxy: CharacteristicProxy[bytes] = characteristic.obj
        if proxy.get_descriptor(gatt.GATT_CLIENT_CHARACTERISTIC_CONFIGURATION_DESCRIPTOR) is None:
            raise BleakError(f"{characteristic.uuid} has no client characteristic configuration descriptor")
        dispatch = self._subscribers.setdefault(characteristic.handle, _Dispatch())
        dispatch.callback = callback
        with _as_bleak("subscribe"):
            try:
                await self._need_peer().subscribe(proxy, dispatch, prefer_notify=True)
            except BaseException:
                dispatch.callback = None
                raise

    async def stop_notify(self, characteristic: BleakGATTCharacteristic) -> None:
        """Clear the CCCD."""
        dispatch = self._subscribers.get(characteristic.handle)
        if dispatch is not None:
            dispatch.callback = None
            with _as_bleak("unsubscribe"):
                await self._need_peer().unsubscribe(characteristic.obj, dispatch)
