"""What every emulated BLE device shares: its GATT server on a bumble link, its advertising, its own
clock (set by a collector through Current Time or Date Time), its measuring schedule, and — for a
meter — a record memory behind the Record Access Control Point.

A result that could not be delivered waits, oldest first, until a collector subscribes; an
indication counts as acknowledged once the collector confirmed it, a stored record once the
collector deleted it.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, ClassVar

from bumble import att, gatt, gatt_server, hci
from bumble.controller import Controller
from bumble.core import UUID, AdvertisingData, BaseBumbleError
from bumble.device import Connection, Device
from bumble.host import Host
from bumble.link import LocalLink
from bumble.transport.common import AsyncPipeSink

from drivers.ble.racp import OpCode
from drivers.ble.uuids import Characteristic as C
from drivers.ble.uuids import Service
from drivers.errors import FrameError
from drivers.ieee11073 import (
    CurrentTime,
    DateTime,
    decode_current_time,
    decode_date_time,
    encode_current_time,
)
from drivers.simulators.ble.records import RecordStore

__all__ = ["ADDRESSES", "Peripheral", "RecordKeeper", "Step"]

ADDRESSES = {
    "bp-cuff": "F1:F1:F1:F1:F1:01",
    "glucometer": "F1:F1:F1:F1:F1:02",
    "thermometer": "F1:F1:F1:F1:F1:03",
    "scale": "F1:F1:F1:F1:F1:04",
    "oximeter": "F1:F1:F1:F1:F1:05",
}
ATT_CCCD_IMPROPERLY_CONFIGURED = 0xFD
ATT_PROCEDURE_IN_PROGRESS = 0xFE
ATT_WRITE_REJECTED = 0x80  # an application error: "data field ignored", as many devices answer a clock write
Properties = gatt.Characteristic.Properties
Step = tuple[gatt.Characteristic[bytes], bytes, bool]  # characteristic, value, indicate (else notify)


def gatt_characteristic(uuid16: int, properties: Properties, value: Any = b"") -> gatt.Characteristic[bytes]:
    permissions = gatt.Characteristic.READABLE | gatt.Characteristic.WRITEABLE
    return gatt.Characteristic(UUID.from_16_bits(uuid16), properties, permissions, value)


def protect_cccd(server: Any, characteristic: gatt.Characteristic[bytes]) -> None:
    """Protect a characteristic's CCCD: enabling it needs an encrypted (paired) link, as glucose meters do."""
    permissions = att.Attribute.READABLE | att.Attribute.WRITEABLE | att.Attribute.WRITE_REQUIRES_ENCRYPTION
    cccd = gatt.Descriptor(
        gatt.GATT_CLIENT_CHARACTERISTIC_CONFIGURATION_DESCRIPTOR,
        permissions,
        server.make_descriptor_value(characteristic),
    )
    characteristic.descriptors = (*characteristic.descriptors, cccd)


def uuid16_of(characteristic: gatt.Characteristic[bytes]) -> int:
    return int.from_bytes(characteristic.uuid.to_bytes(), "little")


def clamp(value: float, low: float, high: float) -> float:
    return max(low, min(high, value))


class Peripheral:
    """One emulated device: its GATT services, its advertising, and its measuring schedule."""

    kind: ClassVar[str]
    local_name: ClassVar[str]
    service: ClassVar[Service]

    def __init__(
        self,
        *,
        seed: int | None = None,
        interval: float = 5.0,
        clock: Callable[[], datetime] = datetime.now,
        address: str | None = None,
        advertising_interval: float = 20.0,
    ) -> None:
        self.rng = random.Random(seed)
        self.advertising_interval = advertising_interval  # ms; short by default, for quick tests
        self.interval = interval
        self.clock = clock
        self.address = address or ADDRESSES[self.kind]
        self.clock_offset = timedelta(minutes=self.rng.randint(-120, 120))  # an unset clock drifts
        self.clock_set_to: datetime | None = None  # what a collector last wrote to the device clock
        self.acknowledged = 0  # results a collector confirmed (indication) or deleted from memory (RACP)
        self.pending: deque[list[Step]] = deque(maxlen=30)
        self.sent: list[tuple[int, bytes]] = []  # (characteristic UUID, value) as sent, for tests
        self.device: Device | None = None
        self.link: LocalLink | None = None
        self._controller: Controller | None = None
        self._wake = asyncio.Event()
        self._delivery: asyncio.Task[None] | None = None
        self._limit: int | None = None  # deliver no more than this many results in all
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- what a kind defines ---------------------------------------------------------------------------

    def services(self, server: Any) -> list[gatt.Service]:
        """The GATT services (``server`` is the GATT server, for CCCDs the device builds itself)."""
        raise NotImplementedError

    def reading(self) -> list[Step]:
        """One measurement: what is sent, in order; the last step is the result."""
        raise NotImplementedError

    def take_reading(self) -> None:
        """Measure now; the result waits until a collector subscribes."""
        self.pending.append(self.reading())

    def measure(self) -> None:
        """Measure now, off schedule (someone pressed the start button), and deliver if someone listens."""
        self.take_reading()
        self._wake.set()

    # -- the device clock --------------------------------------------------------------------------------

    def device_time(self) -> datetime:
        """The device's own clock (local wall time, off until a collector sets it)."""
        return self.clock() + self.clock_offset

    def _set_clock(self, moment: datetime | None) -> None:
        if moment is None:
            raise att.ATT_Error(att.ErrorCode.VALUE_NOT_ALLOWED)
        self.clock_offset, self.clock_set_to = moment - self.clock(), moment

    def _write_current_time(self, connection: Connection, value: bytes) -> None:
        try:
            self._set_clock(decode_current_time(value).to_datetime())
        except FrameError as exc:
            raise att.ATT_Error(att.ErrorCode.INVALID_ATTRIBUTE_LENGTH) from exc

    def _write_date_time(self, connection: Connection, value: bytes) -> None:
        try:
            self._set_clock(decode_date_time(value).to_datetime())
        except FrameError as exc:
            raise att.ATT_Error(att.ErrorCode.INVALID_ATTRIBUTE_LENGTH) from exc

    def current_time_service(self, *, writable: bool = True) -> gatt.Service:
        """Current Time 0x1805; a device that refuses clock writes answers ATT 0x80."""

        def refuse(connection: Connection, value: bytes) -> None:
            raise att.ATT_Error(ATT_WRITE_REJECTED)

        value = gatt.CharacteristicValue(
            read=lambda _c: encode_current_time(CurrentTime.from_datetime(self.device_time(), 0)),
            write=self._write_current_time if writable else refuse,
        )
        time = gatt_characteristic(C.CURRENT_TIME, Properties.READ | Properties.WRITE | Properties.NOTIFY, value)
        return gatt.Service(UUID.from_16_bits(Service.CURRENT_TIME), [time])

    def _stamp(self) -> DateTime:
        return DateTime.from_datetime(self.device_time())

    # -- life on a link ------------------------------------------------------------------------------------

    async def attach(self, link: LocalLink) -> Device:
        """Power on as a controller on ``link`` and start advertising."""
        self.link, self._controller = link, Controller(self.kind, link=link)
        host = Host(self._controller, AsyncPipeSink(self._controller))
        device = Device(name=self.local_name, address=hci.Address(self.address), host=host)
        self.device = device
        device.add_services(self.services(device.gatt_server))
        device.on(Device.EVENT_CONNECTION, self._on_connection)
        device.on("characteristic_subscription", lambda *_: self._wake.set())
        device.advertising_data = bytes(
            AdvertisingData(
                [
                    (AdvertisingData.Type.FLAGS, bytes([0x06])),
                    (AdvertisingData.Type.COMPLETE_LOCAL_NAME, self.local_name.encode()),
                    (AdvertisingData.Type.INCOMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS, bytes(self._uuid())),
                ]
            )
        )
        await device.power_on()
        interval = self.advertising_interval
        await device.start_advertising(
            auto_restart=True, advertising_interval_min=interval, advertising_interval_max=interval
        )
        return device

    def _uuid(self) -> UUID:
        return UUID.from_16_bits(self.service)

    def _on_connection(self, connection: Connection) -> None:
        connection.on(Connection.EVENT_DISCONNECTION, lambda _reason: self._on_disconnection())
        self._wake.set()

    def _on_disconnection(self) -> None:
        if self._delivery is not None:
            self._delivery.cancel()  # an unconfirmed result stays pending, as on a real device
        self._wake.set()

    def spawn(self, coroutine: Any) -> asyncio.Task[Any]:
        """Run ``coroutine`` beside the schedule; it ends with the peripheral."""
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def drop(self, peer: hci.Address | None = None) -> None:
        """Disconnect from the peripheral side (every collector, or the one at ``peer``)."""
        if self.device is None:
            return
        for connection in list(self.device.connections.values()):
            if peer is None or connection.peer_address == peer:
                with contextlib.suppress(BaseBumbleError, TimeoutError):  # already gone is fine
                    await connection.disconnect()

    async def settle(self, within: float = 2.0) -> None:
        """Let what is under way finish (a result being confirmed, a record request being answered)."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=within)

    async def close(self) -> None:
        """Disconnect, stop advertising and leave the link."""
        for task in list(self._tasks):
            task.cancel()
        await self.drop()
        if self.device is not None:
            with contextlib.suppress(BaseBumbleError, TimeoutError):
                await self.device.stop_advertising()
            await self.device.power_off()
        if self.link is not None and self._controller is not None:
            self.link.remove_controller(self._controller)
        self.device, self._controller = None, None

    # -- the schedule ---------------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event, count: int | None = None) -> int:
        """Measure every ``interval`` seconds and deliver, until ``stop`` or ``count`` acknowledged results."""
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        self._limit = count
        while not stop.is_set() and (count is None or self.acknowledged < count):
            if loop.time() >= next_at:
                self.take_reading()
                next_at = loop.time() + self.interval
            self._deliver_pending()
            self._wake.clear()
            waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._wake.wait())]
            await asyncio.wait(waiters, timeout=max(0.0, next_at - loop.time()), return_when=asyncio.FIRST_COMPLETED)
            for waiter in waiters:
                waiter.cancel()
        self._limit = self.acknowledged  # what is under way may finish; nothing new starts
        return self.acknowledged

    @property
    def server(self) -> gatt_server.Server:
        """The GATT server (once attached)."""
        if self.device is None:
            raise RuntimeError(f"the {self.kind} is not attached to a link")
        return self.device.gatt_server

    def subscribed(self, connection: Connection, characteristic: gatt.Characteristic[bytes], indicate: bool) -> bool:
        """Whether the collector on ``connection`` enabled indications (or notifications) of ``characteristic``."""
        cccd = self.server.read_cccd(connection, characteristic)
        return bool(cccd[0] & (0x02 if indicate else 0x01))

    def _collector(self, step: Step) -> Connection | None:
        if self.device is None:
            return None
        char, _value, indicate = step
        return next((c for c in self.device.connections.values() if self.subscribed(c, char, indicate)), None)

    def _more(self) -> bool:
        return bool(self.pending) and (self._limit is None or self.acknowledged < self._limit)

    def _deliver_pending(self) -> None:
        if not self._more() or (self._delivery is not None and not self._delivery.done()):
            return
        connection = self._collector(self.pending[0][-1])
        if connection is not None:
            self._delivery = self.spawn(self._deliver(connection))

    async def _deliver(self, connection: Connection) -> None:
        server = self.server
        while self._more() and self.subscribed(connection, self.pending[0][-1][0], self.pending[0][-1][2]):
            for char, value, indicate in self.pending[0]:
                if indicate:
                    await server.indicate_subscriber(connection, char, value)  # returns once confirmed
                else:
                    await server.notify_subscriber(connection, char, value)
                    await asyncio.sleep(min(0.05, self.interval / 100))  # the cuff inflating, the probe warming
                self.sent.append((uuid16_of(char), value))
            self.pending.popleft()
            self.acknowledged += 1
            self._wake.set()


class RecordKeeper(Peripheral):
    """A device with a record memory behind a Record Access Control Point."""

    store: RecordStore
    record_steps: tuple[tuple[gatt.Characteristic[bytes], bool], ...]  # where each value of a record goes

    def __init__(
        self,
        *,
        drop_after: int | None = None,
        idle_disconnect: float | None = None,
        hang_up_after_upload: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.drop_after = drop_after  # tests: disconnect after sending this many records, once
        self.idle_disconnect = idle_disconnect  # hang up this long after the last request, as meters do
        self.hang_up_after_upload = hang_up_after_upload  # power off the moment the records are sent
        self.requests: list[bytes] = []  # every value written to the control point, for tests
        self.control_point = gatt_characteristic(
            C.RECORD_ACCESS_CONTROL_POINT,
            Properties.WRITE | Properties.INDICATE,
            gatt.CharacteristicValue(write=self._racp_write),
        )
        self._procedure: asyncio.Task[None] | None = None
        self._idle: asyncio.TimerHandle | None = None

    def _racp_write(self, connection: Connection, value: bytes) -> None:
        self.requests.append(bytes(value))
        if not self.subscribed(connection, self.control_point, indicate=True):
            raise att.ATT_Error(ATT_CCCD_IMPROPERLY_CONFIGURED)
        running = self._procedure is not None and not self._procedure.done()
        if running and (not value or value[0] != OpCode.ABORT_OPERATION):
            raise att.ATT_Error(ATT_PROCEDURE_IN_PROGRESS)
        answer = self.store.request(bytes(value))
        if answer.abort and self._procedure is not None:
            self._procedure.cancel()
        self.acknowledged += answer.deleted
        self._wake.set()
        self._procedure = self.spawn(self._answer(connection, answer.records, answer.response))

    def _on_disconnection(self) -> None:
        super()._on_disconnection()
        if self._procedure is not None:
            self._procedure.cancel()  # a lost connection ends the procedure (PLXS §3.4.9): not resumed

    async def _answer(self, connection: Connection, records: tuple[Any, ...], response: bytes) -> None:
        server = self.server
        if self._idle is not None:
            self._idle.cancel()
        for sent, record in enumerate(records):
            if sent == self.drop_after:
                self.drop_after = None
                await self.drop()
                return
            for (char, indicate), value in zip(self.record_steps, record.values, strict=False):
                if indicate:
                    await server.indicate_subscriber(connection, char, value)
                else:
                    await server.notify_subscriber(connection, char, value)
                self.sent.append((uuid16_of(char), value))
                await asyncio.sleep(0)
        if response:  # a hung meter (in tests) answers nothing
            await server.indicate_subscriber(connection, self.control_point, response)
        if records and self.hang_up_after_upload:
            await self.drop()
        elif self.idle_disconnect is not None:
            self._idle = asyncio.get_running_loop().call_later(self.idle_disconnect, lambda: self.spawn(self.drop()))
