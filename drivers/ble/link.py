"""The Bluetooth LE link: one configured health device, kept connected through bleak.

It finds the device (the configured address only, or else the first device advertising a health
service), connects, pairs when the device demands it (on BlueZ, confirmed by
the link's own pairing agent, ``drivers.ble.bluez_agent``), reads the features once, sets the device
clock, subscribes to every measurement, and hands each value to the sink as a raw frame. Stored
records (glucose, pulse-oximeter spot checks) are fetched through the Record Access Control Point
and deleted on the device only after the sink has made every one of them durable; a connection lost
half-way deletes nothing, and the next connection fetches them again (the sink keeps one copy).
It reconnects with exponential backoff and jitter for as long as the daemon runs.

bleak's errors stop here: everything above sees ``DeviceUnavailable``. ``scanner_kwargs`` and
``client_kwargs`` go to ``BleakScanner``/``BleakClient`` unchanged (empty in production; a bumble
backend in tests and demos, see ``drivers.ble.bumble_backend.central_kwargs``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib
import logging
import random
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bleak import BleakClient, BleakScanner
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData
from bleak.backends.service import BleakGATTService
from bleak.exc import BleakBluetoothNotAvailableError, BleakDBusError, BleakError, BleakGATTProtocolError

from drivers.ble.body_composition import MULTIPLE_PACKET_FLAG, PAIR_PROTOCOL, encode_pair
from drivers.ble.current_time import set_current_time, set_date_time
from drivers.ble.download import RecordDownload
from drivers.ble.racp import abort_operation
from drivers.ble.uuids import READ_ONCE, SUBSCRIPTIONS, Characteristic, Service, uuid16, uuid128
from drivers.errors import DeviceUnavailable
from drivers.frames import DeviceRef, FrameSink, RawFrame, StateCallback, StateReporting

__all__ = ["HEALTH_SERVICES", "BleLink", "BluetoothUnavailable", "FoundDevice", "scan"]

_LOGGER = logging.getLogger(__name__)
HEALTH_SERVICES = (
    Service.BLOOD_PRESSURE,
    Service.GLUCOSE,
    Service.HEALTH_THERMOMETER,
    Service.PULSE_OXIMETER,
    Service.WEIGHT_SCALE,
    Service.BODY_COMPOSITION,
)
_HEALTH = frozenset(HEALTH_SERVICES)
_NEEDS_PAIRING = (0x05, 0x0F)  # ATT: insufficient authentication, insufficient encryption
_BLUEZ_MISSING = {  # what the system bus answers when BlueZ is not there for this process
    "org.freedesktop.DBus.Error.ServiceUnknown": "BlueZ is not running (install bluez; systemctl start bluetooth)",
    "org.freedesktop.DBus.Error.NameHasNoOwner": "BlueZ is not running (install bluez; systemctl start bluetooth)",
    "org.freedesktop.DBus.Error.AccessDenied": "the system D-Bus policy refuses this user access to BlueZ",
}
_BLUEZ_NOT_PERMITTED = "org.bluez.Error.NotPermitted"  # with "Not paired": bleak cannot tell which ATT error
Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class FoundDevice:
    """A device seen advertising a health service."""

    address: str
    name: str | None
    services: tuple[str, ...]  # "blood pressure (0x1810)"
    rssi: int | None


def _service_names(uuids: list[str]) -> tuple[str, ...]:
    names = []
    for text in uuids:
        short = uuid16(text)
        if short in _HEALTH:
            names.append(f"{Service(short).name.lower().replace('_', ' ')} (0x{short:04X})")
    return tuple(names)


class BluetoothUnavailable(DeviceUnavailable):
    """This machine's Bluetooth cannot be used: no adapter, no BlueZ (D-Bus), or no permission."""


class _NotAHealthDevice(DeviceUnavailable):
    """The configured device offers none of the health services."""


@contextlib.contextmanager
def _unavailable(device: str) -> Iterator[None]:
    """bleak's (and the OS's) errors, translated once: the device is unavailable, and why."""
    try:
        yield
    except BleakBluetoothNotAvailableError as exc:  # args: (message, reason); str() would show the tuple
        reason = exc.args[0] if exc.args else type(exc).__name__
        raise BluetoothUnavailable(device, f"Bluetooth is not available: {reason}") from exc
    except BleakDBusError as exc:
        missing = _BLUEZ_MISSING.get(exc.dbus_error)
        if missing is not None:
            raise BluetoothUnavailable(device, f"Bluetooth is not available: {missing}") from exc
        raise DeviceUnavailable(device, str(exc) or type(exc).__name__) from exc
    except BleakError as exc:
        raise DeviceUnavailable(device, str(exc) or type(exc).__name__) from exc
    except TimeoutError as exc:
        raise DeviceUnavailable(device, "timed out") from exc
    except (FileNotFoundError, ConnectionRefusedError) as exc:  # the bus's socket is not there
        reason = f"the system D-Bus is not running (BlueZ is reached through it): {exc}"
        raise BluetoothUnavailable(device, reason) from exc
    except OSError as exc:  # no adapter, permission denied
        raise BluetoothUnavailable(device, f"the system's Bluetooth cannot be reached: {exc}") from exc


async def scan(seconds: float = 5.0, **scanner_kwargs: Any) -> list[FoundDevice]:
    """Devices advertising a Bluetooth SIG health service, for ``clinic-agent devices scan``."""
    wanted = [uuid128(service) for service in HEALTH_SERVICES]
    with _unavailable("bluetooth"):
        seen = await BleakScanner.discover(seconds, return_adv=True, service_uuids=wanted, **scanner_kwargs)
    found = [
        FoundDevice(device.address, adv.local_name or device.name, _service_names(adv.service_uuids), adv.rssi)
        for device, adv in seen.values()
    ]
    return sorted(found, key=lambda f: f.address)


class BleLink(StateReporting):
    """One configured Bluetooth LE health device, kept connected for as long as the daemon runs."""

    def __init__(
        self,
        device: DeviceRef,
        sink: FrameSink,
        *,
        scanner_kwargs: dict[str, Any] | None = None,
        client_kwargs: dict[str, Any] | None = None,
        on_state: StateCallback | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        sleep: Sleep = asyncio.sleep,
        backoff_base: float = 1.0,
        backoff_cap: float = 60.0,
        scan_timeout: float = 10.0,
        connect_timeout: float = 20.0,
        response_timeout: float = 10.0,
        rng: random.Random | None = None,
    ) -> None:
        self.device = device
        self.sink = sink
        self.scanner_kwargs = dict(scanner_kwargs or {})
        self.client_kwargs = dict(client_kwargs or {})
        self.on_state = on_state
        self.clock = clock
        self.sleep = sleep
        self.backoff_base, self.backoff_cap = backoff_base, backoff_cap
        self.scan_timeout, self.connect_timeout = scan_timeout, connect_timeout
        self.response_timeout = response_timeout
        self.rng = rng or random.Random()
        self.resume_after: dict[Service, int] = {}  # last sequence number kept by a device that would not delete
        self.state = "disconnected"
        self.connected = False

    async def run(self, stop: asyncio.Event) -> None:
        """Find, connect, receive, reconnect; until ``stop`` is set."""
        failures = 0
        while not stop.is_set():
            self.connected = False
            try:
                await self._attempt(stop)
            except DeviceUnavailable as exc:
                wrong = isinstance(exc, (BluetoothUnavailable, _NotAHealthDevice))  # not a matter of range
                self._report("error" if wrong else "disconnected", exc.reason)
            failures = 1 if self.connected else failures + 1  # a lost connection is retried soon
            if not stop.is_set():
                await self._pause(stop, self._backoff(failures))
        self._report("disconnected", "stopped")

    def _backoff(self, failures: int) -> float:
        """Exponential, capped, with jitter so that links do not retry in step."""
        delay = min(self.backoff_cap, self.backoff_base * 2.0 ** min(failures - 1, 16))
        return delay * (0.5 + self.rng.random() / 2)

    async def _pause(self, stop: asyncio.Event, seconds: float) -> None:
        sleeping = asyncio.ensure_future(self.sleep(seconds))
        stopping = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait((sleeping, stopping), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sleeping, stopping):
                task.cancel()

    async def _attempt(self, stop: asyncio.Event) -> None:
        """Search, connect and serve the device once."""
        where = self.device.address or "any device advertising a health service"
        self._report("searching", where)
        found = await self._find()
        if found is None:
            self._report("searching", f"{where}: not found")
            return
        await self._serve(found, stop)

    async def _find(self) -> BLEDevice | None:
        wanted = self.device.address.upper()
        health = {uuid128(service) for service in HEALTH_SERVICES}

        def match(device: BLEDevice, adv: AdvertisementData) -> bool:
            if wanted:  # the allow-list: the configured address, whatever it advertises
                return device.address.upper() == wanted
            return bool(health.intersection(u.lower() for u in adv.service_uuids))

        with _unavailable(self.device.id):
            return await BleakScanner.find_device_by_filter(match, timeout=self.scan_timeout, **self.scanner_kwargs)

    async def _serve(self, found: BLEDevice, stop: asyncio.Event) -> None:
        if "backend" in self.client_kwargs or sys.platform != "linux":
            await self._connected(found, stop)
            return
        # BlueZ: Linux has every Just Works pairing confirmed by an agent, and a service has none of its own
        bluez_agent = importlib.import_module("drivers.ble.bluez_agent")
        async with bluez_agent.pairing_allowed(found.address):
            await self._connected(found, stop)

    async def _connected(self, found: BLEDevice, stop: asyncio.Event) -> None:
        gone = asyncio.Event()
        client = BleakClient(
            found, disconnected_callback=lambda _c: gone.set(), timeout=self.connect_timeout, **self.client_kwargs
        )
        with _unavailable(self.device.id):
            await client.connect()
        self.connected = True
        try:
            self._report("connected", found.address)
            async with _Session(self, client, gone).running() as session:
                await session.serve(stop)
        finally:
            with contextlib.suppress(BleakError, TimeoutError, OSError):
                await asyncio.wait_for(client.disconnect(), self.connect_timeout)
        if not stop.is_set():
            raise DeviceUnavailable(self.device.id, "the device disconnected")


def _needs_pairing(error: BaseException | None) -> bool:
    """Whether a refused GATT operation asks for an encrypted link (docs/devices.md, Pairing)."""
    if isinstance(error, BleakGATTProtocolError):
        return error.code in _NEEDS_PAIRING
    if isinstance(error, BleakDBusError):  # BlueZ answers a CCCD write on an unpaired link like this
        return error.dbus_error == _BLUEZ_NOT_PERMITTED and "paired" in (error.dbus_error_details or "").lower()
    return False


def _quietly(task: asyncio.Future[Any]) -> None:
    """Collect the outcome of an abandoned operation, so that nothing is logged as never retrieved."""
    if not task.cancelled():
        task.exception()


@dataclass(frozen=True, slots=True)
class _Value:
    characteristic: BleakGATTCharacteristic
    data: bytes
    received_at: datetime


class _Session:
    """One connection: features, clock, subscriptions, record downloads, and the values to the sink."""

    def __init__(self, link: BleLink, client: BleakClient, gone: asyncio.Event) -> None:
        self.link, self.client, self.gone = link, client, gone
        self.queue: asyncio.Queue[_Value | None] = asyncio.Queue()
        self.download: RecordDownload | None = None
        self.answers: dict[int, asyncio.Queue[bytes]] = {}  # control point handle -> its indications
        self.paired = False
        self.consumer: asyncio.Future[None] | None = None
        self.half: bytes | None = None  # the first indication of a two-packet body composition

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[_Session]:
        """The session with its sink consumer; on the way out every value received is still sunk."""
        consumer = self.consumer = asyncio.ensure_future(self._consume())
        try:
            yield self
        finally:
            self.queue.put_nowait(None)
            await asyncio.shield(consumer)  # a sink that raised (a bug) raises here

    def _fail(self, reason: str) -> DeviceUnavailable:
        return DeviceUnavailable(self.link.device.id, reason)

    async def _gatt(self, what: str, operation: Awaitable[Any]) -> Any:
        """One GATT operation, bounded in time, failing at once if the link drops meanwhile."""
        task = asyncio.ensure_future(operation)
        lost = asyncio.ensure_future(self.gone.wait())
        try:
            done, _ = await asyncio.wait(
                (task, lost), timeout=self.link.response_timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            lost.cancel()
            if not task.done():
                task.cancel()
                task.add_done_callback(_quietly)
        if task not in done:
            raise self._fail(f"{what}: {'the device disconnected' if self.gone.is_set() else 'no answer'}")
        error = task.exception()
        if error is not None and self.gone.is_set():  # whatever the stack said, the device is gone
            raise self._fail(f"{what}: the device disconnected") from error
        with _unavailable(self.link.device.id):
            return task.result()

    async def serve(self, stop: asyncio.Event) -> None:
        """Set up the connection, fetch stored records, then receive until ``stop`` or a disconnect."""
        services = self._health_services()
        if not services:
            raise _NotAHealthDevice(self.link.device.id, "the device offers no health service")
        await self._read_features(services)
        await self._set_clock()
        for service in services:
            await self._subscribe(service)
        for service in services:
            control_point = self._characteristic(service, Characteristic.RECORD_ACCESS_CONTROL_POINT)
            if control_point is not None:
                await self._download(service, control_point)
        waits: list[asyncio.Future[Any]] = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self.gone.wait())]
        watched = [*waits, self.consumer] if self.consumer is not None else waits  # it ends early if the sink raised
        try:
            await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waits:
                waiter.cancel()

    # -- discovery, features and clock ------------------------------------------------------------------

    def _health_services(self) -> list[tuple[Service, BleakGATTService]]:
        found = []
        for service in self.client.services:
            short = uuid16(service.uuid)
            if short is not None and short in _HEALTH:
                found.append((Service(short), service))
        return found

    @staticmethod
    def _characteristic(service: tuple[Service, BleakGATTService], uuid: int) -> BleakGATTCharacteristic | None:
        return service[1].get_characteristic(uuid128(uuid))

    def _time_service(self) -> BleakGATTService | None:
        return self.client.services.get_service(uuid128(Service.CURRENT_TIME))

    async def _read_features(self, services: list[tuple[Service, BleakGATTService]]) -> None:
        for service in services:
            for uuid in READ_ONCE.get(service[0], ()):
                characteristic = self._characteristic(service, uuid)
                if characteristic is not None and "read" in characteristic.properties:
                    await self._read_to_sink(characteristic)

    async def _read_to_sink(self, characteristic: BleakGATTCharacteristic) -> None:
        try:
            data = await self._gatt("read", self.client.read_gatt_char(characteristic))
        except DeviceUnavailable as exc:
            if not isinstance(exc.__cause__, BleakGATTProtocolError):
                raise
            _LOGGER.info("%s: %s not readable: %s", self.link.device.id, characteristic.uuid, exc.reason)
            return
        self.queue.put_nowait(_Value(characteristic, bytes(data), self.link.clock()))

    async def _set_clock(self) -> None:
        """Current Time 0x2A2B when writable, else an A&D-style Date Time 0x2A08 in the measurement service."""
        now = self.link.clock().astimezone()  # devices keep local wall-clock time
        target, value = None, b""
        time_service = self._time_service()
        if time_service is not None:
            current = time_service.get_characteristic(uuid128(Characteristic.CURRENT_TIME))
            if current is not None and "write" in current.properties:
                target, value = current, set_current_time(now)
        if target is None:
            for service in (Service.BLOOD_PRESSURE, Service.WEIGHT_SCALE):
                found = self.client.services.get_service(uuid128(service))
                date_time = found.get_characteristic(uuid128(Characteristic.DATE_TIME)) if found else None
                if date_time is not None and "write" in date_time.properties:
                    target, value = date_time, set_date_time(now)
                    break
        if target is None:
            return
        try:
            await self._gatt("set clock", self.client.write_gatt_char(target, value, response=True))
        except DeviceUnavailable as exc:
            if not isinstance(exc.__cause__, BleakGATTProtocolError):
                raise
            _LOGGER.info("%s: the device refused the clock: %s", self.link.device.id, exc.reason)

    # -- subscriptions ----------------------------------------------------------------------------------------

    async def _subscribe(self, service: tuple[Service, BleakGATTService]) -> None:
        for uuid, _delivery in SUBSCRIPTIONS.get(service[0], ()):
            characteristic = self._characteristic(service, uuid)
            if characteristic is None or not {"notify", "indicate"} & set(characteristic.properties):
                continue
            if uuid == Characteristic.RECORD_ACCESS_CONTROL_POINT:
                self.answers[characteristic.handle] = asyncio.Queue()
            start = functools.partial(self.client.start_notify, characteristic, self._on_value)
            await self._paired_if_needed("subscribe", start)

    def _on_value(self, characteristic: BleakGATTCharacteristic, data: bytearray) -> None:
        self.queue.put_nowait(_Value(characteristic, bytes(data), self.link.clock()))

    async def _paired_if_needed(self, what: str, operation: Callable[[], Awaitable[Any]]) -> Any:
        """Run ``operation``; if the device wants an encrypted link, pair (Just Works) and run it again."""
        try:
            return await self._gatt(what, operation())
        except DeviceUnavailable as exc:
            if self.paired or not _needs_pairing(exc.__cause__):
                raise
        _LOGGER.info("%s: the device wants an encrypted link; pairing", self.link.device.id)
        self.paired = True
        await self._gatt("pair", self.client.pair())
        return await self._gatt(what, operation())

    # -- the sink ---------------------------------------------------------------------------------------------

    async def _consume(self) -> None:
        while (value := await self.queue.get()) is not None:
            try:
                await self._take(value)
            finally:
                self.queue.task_done()

    async def _take(self, value: _Value) -> None:
        """Hand one value to the sink, and note what it means for a download or a pending request."""
        short = uuid16(value.characteristic.uuid) or 0
        download = self.download if self.download is not None and short in self.download.record_uuids else None
        protocol, data = f"ble:{short:04X}", value.data
        if short == Characteristic.BODY_COMPOSITION_MEASUREMENT:
            protocol, data = self._body_composition(value.data)
        frame = RawFrame(
            device=self.link.device,
            protocol=protocol,
            data=data,
            received_at=value.received_at,
            stored_record=download is not None,
        )
        receipt = await self.link.sink(frame)
        if download is not None:
            download.received(short, value.data, receipt.durable)
        elif not receipt.durable:
            _LOGGER.warning("%s: a %s value was not stored: %s", self.link.device.id, frame.protocol, receipt.failed)
        answers = self.answers.get(value.characteristic.handle)
        if answers is not None:
            answers.put_nowait(value.data)

    def _body_composition(self, data: bytes) -> tuple[str, bytes]:
        """A measurement split over two indications goes on as one frame holding both halves.

        The first half is handed on alone too (archived, not a reading), so nothing waits in memory
        only; the pair then makes the one reading.
        """
        first, self.half = self.half, None
        if len(data) >= 2 and int.from_bytes(data[:2], "little") & MULTIPLE_PACKET_FLAG:
            if first is None:
                self.half = data
                return "ble:2A9C", data
            return PAIR_PROTOCOL, encode_pair(first, data)
        return "ble:2A9C", data

    # -- stored records ---------------------------------------------------------------------------------------

    async def _download(
        self, service: tuple[Service, BleakGATTService], control_point: BleakGATTCharacteristic
    ) -> None:
        """Fetch the stored records, and delete on the device only what the sink made durable."""
        if control_point.handle not in self.answers:
            return
        download = RecordDownload(service[0], resume_after=self.link.resume_after.get(service[0]))
        for request in download.requests():
            self.download = download if download.is_report(request) else None
            answer = await self._ask(control_point, request, download)
            self.download = None
            if answer is None:  # refused, or silent: stop here and delete nothing
                break
            download.answered(answer)
        if download.resume_after is None:
            self.link.resume_after.pop(service[0], None)
        else:
            self.link.resume_after[service[0]] = download.resume_after
        _LOGGER.info("%s: %s", self.link.device.id, download.outcome)

    async def _ask(
        self, control_point: BleakGATTCharacteristic, request: bytes, download: RecordDownload
    ) -> bytes | None:
        """Write one RACP request and wait for its answer (a report may take long, record by record)."""
        answers = self.answers[control_point.handle]
        try:
            await self._paired_if_needed(
                "record request", lambda: self.client.write_gatt_char(control_point, request, response=True)
            )
        except DeviceUnavailable as exc:
            if not isinstance(exc.__cause__, BleakGATTProtocolError):
                raise
            download.outcome = f"the device refused a record request ({exc.reason}); nothing deleted"
            return None
        seen = -1
        while seen != download.progress:  # a report is alive while records keep coming
            seen = download.progress
            answer = await self._next(answers)
            if answer is not None:
                return answer
        download.outcome = "the device stopped answering a record request; nothing deleted"
        await self._abort(control_point)
        return None

    async def _next(self, answers: asyncio.Queue[bytes]) -> bytes | None:
        getting = asyncio.ensure_future(answers.get())
        lost = asyncio.ensure_future(self.gone.wait())
        watched: list[asyncio.Future[Any]] = [getting, lost, *([self.consumer] if self.consumer else [])]
        try:
            done, _ = await asyncio.wait(
                watched, timeout=self.link.response_timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            lost.cancel()
        if getting in done:
            return getting.result()
        getting.cancel()
        if self.consumer is not None and self.consumer.done():
            self.consumer.result()  # the sink raised: that error, now
        if lost in done:
            await self._settled()  # meters often hang up right after their last answer: it still counts
            if not answers.empty():
                return answers.get_nowait()
            raise self._fail("the device disconnected during a record download")
        return None

    async def _settled(self) -> None:
        """Wait until the sink has taken every value received so far."""
        joined = asyncio.ensure_future(self.queue.join())
        watched: list[asyncio.Future[Any]] = [joined, *([self.consumer] if self.consumer else [])]
        try:
            await asyncio.wait(watched, timeout=self.link.response_timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            joined.cancel()

    async def _abort(self, control_point: BleakGATTCharacteristic) -> None:
        with contextlib.suppress(DeviceUnavailable):
            await self._gatt("abort", self.client.write_gatt_char(control_point, abort_operation(), response=True))
