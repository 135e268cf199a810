"""Emulated Bluetooth LE health devices on bumble: a BP cuff, a glucometer, a thermometer, a scale
and a pulse oximeter, each speaking its SIG service with our own encoders and a seeded RNG.

In a test they sit on a bumble ``LocalLink`` beside the agent's central (``await cuff.attach(link)``,
then ``central_kwargs(link)``). Beside a real daemon, ``serve(kind, "tcp-server:127.0.0.1:9000")``
runs one in this process and offers the agent a virtual controller over HCI on TCP; the agent's
device entry names the simulator's address and ``transport = "tcp-client:127.0.0.1:9000"``.

Like real devices they measure on their own schedule: a cuff or thermometer keeps results it could
not deliver and sends them, oldest first, once a collector subscribes; a glucometer (and the
oximeter's spot-check memory) keeps records until the collector deletes them through the Record
Access Control Point. The glucometer wants an encrypted link (pair first), as real meters do.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, ClassVar, cast

from bumble import att, gatt, gatt_server, hci
from bumble.controller import Controller
from bumble.core import UUID, AdvertisingData
from bumble.device import Connection, Device
from bumble.host import Host
from bumble.link import LocalLink
from bumble.transport.common import AsyncPipeSink, StreamPacketSink, StreamPacketSource

from drivers.ble.blood_pressure import BloodPressure, encode_blood_pressure, encode_blood_pressure_feature
from drivers.ble.glucose import GlucoseMeasurement, encode_glucose, encode_glucose_feature
from drivers.ble.glucose_context import GlucoseContext, encode_glucose_context
from drivers.ble.pulse_oximeter import (
    Continuous,
    PlxFeatures,
    SpotCheck,
    encode_plx_continuous,
    encode_plx_features,
    encode_plx_spot_check,
)
from drivers.ble.racp import OpCode, Operator
from drivers.ble.thermometer import Temperature, encode_temperature
from drivers.ble.uuids import Characteristic as C
from drivers.ble.uuids import Service
from drivers.ble.weight_scale import WeightMeasurement, encode_weight, encode_weight_scale_feature
from drivers.errors import FrameError
from drivers.ieee11073 import (
    CurrentTime,
    DateTime,
    Mder,
    Special,
    decode_current_time,
    decode_date_time,
    encode_current_time,
    encode_date_time,
)
from drivers.simulators.ble_records import RecordStore

__all__ = ["ADDRESSES", "DEFAULT_TRANSPORT", "KINDS", "Peripheral", "make", "serve"]

_LOGGER = logging.getLogger(__name__)
DEFAULT_TRANSPORT = "tcp-server:127.0.0.1:9000"
ADDRESSES = {
    "bp-cuff": "F1:F1:F1:F1:F1:01",
    "glucometer": "F1:F1:F1:F1:F1:02",
    "thermometer": "F1:F1:F1:F1:F1:03",
    "scale": "F1:F1:F1:F1:F1:04",
    "oximeter": "F1:F1:F1:F1:F1:05",
}
KINDS = tuple(ADDRESSES)
ATT_CCCD_IMPROPERLY_CONFIGURED = 0xFD
ATT_PROCEDURE_IN_PROGRESS = 0xFE
ATT_WRITE_REJECTED = 0x80  # an application error: "data field ignored", as many devices answer a clock write
_P = gatt.Characteristic.Properties
Step = tuple[gatt.Characteristic[bytes], bytes, bool]  # characteristic, value, indicate (else notify)


def _char(uuid16: int, properties: _P, value: Any = b"") -> gatt.Characteristic[bytes]:
    permissions = gatt.Characteristic.READABLE | gatt.Characteristic.WRITEABLE
    return gatt.Characteristic(UUID.from_16_bits(uuid16), properties, permissions, value)


def _encrypted_cccd(server: Any, characteristic: gatt.Characteristic[bytes]) -> None:
    """Protect a characteristic's CCCD: enabling it needs an encrypted (paired) link, as glucose meters do."""
    permissions = att.Attribute.READABLE | att.Attribute.WRITEABLE | att.Attribute.WRITE_REQUIRES_ENCRYPTION
    cccd = gatt.Descriptor(
        gatt.GATT_CLIENT_CHARACTERISTIC_CONFIGURATION_DESCRIPTOR,
        permissions,
        server.make_descriptor_value(characteristic),
    )
    characteristic.descriptors = (*characteristic.descriptors, cccd)


def _uuid16(characteristic: gatt.Characteristic[bytes]) -> int:
    return int.from_bytes(characteristic.uuid.to_bytes(), "little")


def _clamp(value: float, low: float, high: float) -> float:
    return max(low, min(high, value))


class Peripheral:
    """One emulated device: its GATT services, its advertising, and its measuring schedule."""

    kind: ClassVar[str]
    local_name: ClassVar[str]
    service: ClassVar[Service]
    advertising_interval: ClassVar[float] = 20.0  # ms: fast discovery in tests

    def __init__(
        self,
        *,
        seed: int | None = None,
        interval: float = 5.0,
        clock: Callable[[], datetime] = datetime.now,
        address: str | None = None,
    ) -> None:
        self.rng = random.Random(seed)
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
        time = _char(C.CURRENT_TIME, _P.READ | _P.WRITE | _P.NOTIFY, value)
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
                with contextlib.suppress(Exception):  # already gone is fine
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
            with contextlib.suppress(Exception):
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
                    await asyncio.sleep(min(0.2, self.interval / 50))  # the cuff inflating, the probe warming
                self.sent.append((_uuid16(char), value))
            self.pending.popleft()
            self.acknowledged += 1
            self._wake.set()


class BloodPressureCuff(Peripheral):
    """An upper-arm cuff: cuff pressure notified while inflating, then the result indicated."""

    kind, local_name, service = "bp-cuff", "BP-Cuff Sim", Service.BLOOD_PRESSURE

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.measurement = _char(C.BLOOD_PRESSURE_MEASUREMENT, _P.INDICATE)
        self.cuff_pressure = _char(C.INTERMEDIATE_CUFF_PRESSURE, _P.NOTIFY)

    def services(self, server: Any) -> list[gatt.Service]:
        """Blood Pressure (measurement, cuff pressure, features) and a writable Current Time."""
        feature = _char(C.BLOOD_PRESSURE_FEATURE, _P.READ, encode_blood_pressure_feature(0b0000_0111))
        bp = gatt.Service(UUID.from_16_bits(Service.BLOOD_PRESSURE), [self.measurement, self.cuff_pressure, feature])
        return [bp, self.current_time_service()]

    def reading(self) -> list[Step]:
        """A few cuff pressures, then the result; now and then an irregular pulse or a loose cuff."""
        rng = self.rng
        systolic = round(_clamp(rng.gauss(128, 16), 88, 210))
        diastolic = round(_clamp(systolic * 0.62 + rng.gauss(0, 6), 48, 125))
        pulse, status = rng.randint(56, 98), 0
        if rng.random() < 0.08:
            status |= 0b100  # irregular pulse
        if rng.random() < 0.04:  # a cuff wrapped too loose reads nonsense: the agent must quarantine it
            systolic, diastolic, status = 36, 21, status | 0b010
        mean = round(diastolic + (systolic - diastolic) / 3)
        nan = Mder.of(Special.NAN)
        steps: list[Step] = []
        for pressure in range(20, systolic + 31, max(10, (systolic + 10) // 6)):
            value = encode_blood_pressure(
                BloodPressure(systolic=Mder(pressure), diastolic=nan, mean_arterial_pressure=nan)
            )
            steps.append((self.cuff_pressure, value, False))
        result = BloodPressure(
            systolic=Mder(systolic),
            diastolic=Mder(diastolic),
            mean_arterial_pressure=Mder(mean),
            time_stamp=self._stamp(),
            pulse_rate=Mder(pulse),
            user_id=1,
            measurement_status=status,
        )
        return [*steps, (self.measurement, encode_blood_pressure(result), True)]


class Thermometer(Peripheral):
    """An ear thermometer whose clock cannot be set (it answers a clock write with ATT error 0x80)."""

    kind, local_name, service = "thermometer", "Thermo Sim", Service.HEALTH_THERMOMETER

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.measurement = _char(C.TEMPERATURE_MEASUREMENT, _P.INDICATE)
        self.intermediate = _char(C.INTERMEDIATE_TEMPERATURE, _P.NOTIFY)

    def services(self, server: Any) -> list[gatt.Service]:
        """Health Thermometer (measurement, intermediate, type, interval) and a read-only Current Time."""
        kind = _char(C.TEMPERATURE_TYPE, _P.READ, bytes([9]))  # tympanum
        interval = _char(C.MEASUREMENT_INTERVAL, _P.READ, bytes(2))
        uuid = UUID.from_16_bits(Service.HEALTH_THERMOMETER)
        return [
            gatt.Service(uuid, [self.measurement, self.intermediate, kind, interval]),
            self.current_time_service(writable=False),
        ]

    def reading(self) -> list[Step]:
        """Warming-up values, then the result; a fever now and then, and a probe pointed at the air."""
        rng = self.rng
        celsius = _clamp(rng.gauss(36.8, 0.3), 35.8, 37.7)
        if rng.random() < 0.1:
            celsius = rng.uniform(38.1, 39.6)
        if rng.random() < 0.03:
            celsius = rng.uniform(24.0, 29.0)  # not aimed at the ear drum: implausible
        final = Decimal(f"{celsius:.2f}")
        steps: list[Step] = [
            (self.intermediate, encode_temperature(Temperature(temperature=Mder.of(final - Decimal(d)))), False)
            for d in ("1.20", "0.40", "0.10")
        ]
        result = Temperature(temperature=Mder.of(final), time_stamp=self._stamp(), temperature_type=9)
        return [*steps, (self.measurement, encode_temperature(result), True)]


class WeightScale(Peripheral):
    """An A&D-style scale: its clock is the Date Time 0x2A08 inside the Weight Scale service."""

    kind, local_name, service = "scale", "Scale Sim", Service.WEIGHT_SCALE

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.measurement = _char(C.WEIGHT_MEASUREMENT, _P.INDICATE)

    def services(self, server: Any) -> list[gatt.Service]:
        """Weight Scale (measurement, feature, Date Time); no Current Time service."""
        features = 0b1 | 0b100 | 4 << 3 | 1 << 7  # time stamp, BMI, 0.05 kg, 0.01 m
        feature = _char(C.WEIGHT_SCALE_FEATURE, _P.READ, encode_weight_scale_feature(features))
        date_time = _char(
            C.DATE_TIME,
            _P.READ | _P.WRITE,
            gatt.CharacteristicValue(read=lambda _c: encode_date_time(self._stamp()), write=self._write_date_time),
        )
        return [gatt.Service(UUID.from_16_bits(Service.WEIGHT_SCALE), [self.measurement, feature, date_time])]

    def reading(self) -> list[Step]:
        """Weight (0.05 kg steps), height and BMI."""
        rng = self.rng
        kilograms = round(_clamp(rng.gauss(62, 11), 34, 125) * 20) / 20
        metres = round(rng.uniform(1.48, 1.82), 2)
        bmi = round(kilograms / metres**2, 1)
        record = WeightMeasurement(
            weight=round(kilograms / 0.005), time_stamp=self._stamp(), bmi=round(bmi * 10), height=round(metres * 1000)
        )
        return [(self.measurement, encode_weight(record), True)]


class _RecordKeeper(Peripheral):
    """A device with a record memory behind a Record Access Control Point."""

    store: RecordStore
    record_steps: tuple[tuple[gatt.Characteristic[bytes], bool], ...]  # where each value of a record goes

    def __init__(
        self,
        *,
        drop_after: int | None = None,
        idle_disconnect: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.drop_after = drop_after  # tests: disconnect after sending this many records, once
        self.idle_disconnect = idle_disconnect  # hang up this long after the last request, as meters do
        self.requests: list[bytes] = []  # every value written to the control point, for tests
        self.control_point = _char(
            C.RECORD_ACCESS_CONTROL_POINT, _P.WRITE | _P.INDICATE, gatt.CharacteristicValue(write=self._racp_write)
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
                self.sent.append((_uuid16(char), value))
                await asyncio.sleep(0)
        if response:  # a hung meter (in tests) answers nothing
            await server.indicate_subscriber(connection, self.control_point, response)
        if self.idle_disconnect is not None:
            self._idle = asyncio.get_running_loop().call_later(self.idle_disconnect, lambda: self.spawn(self.drop()))


class Glucometer(_RecordKeeper):
    """A glucose meter: records with sequence numbers (some with a meal context), downloaded by RACP."""

    kind, local_name, service = "glucometer", "Glucose Sim", Service.GLUCOSE

    def __init__(self, *, stored: int = 0, require_pairing: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.require_pairing = require_pairing
        self.measurement = _char(C.GLUCOSE_MEASUREMENT, _P.NOTIFY)
        self.context = _char(C.GLUCOSE_MEASUREMENT_CONTEXT, _P.NOTIFY)
        self.record_steps = ((self.measurement, False), (self.context, False))
        self.store = RecordStore(first_sequence=self.rng.randint(0, 400))
        for _ in range(stored):
            self.take_reading()

    def services(self, server: Any) -> list[gatt.Service]:
        """Glucose (measurement, context, feature, RACP) and a writable Current Time."""
        feature = _char(C.GLUCOSE_FEATURE, _P.READ, encode_glucose_feature(0b0000_0100_0011_1111))
        racp = self.control_point
        if self.require_pairing:
            for characteristic in (self.measurement, self.context, racp):
                _encrypted_cccd(server, characteristic)
        uuid = UUID.from_16_bits(Service.GLUCOSE)
        return [gatt.Service(uuid, [self.measurement, self.context, feature, racp]), self.current_time_service()]

    def take_reading(self) -> None:
        """A strip is read: the record goes to memory."""
        rng, sequence = self.rng, self.store.next_sequence
        mg_dl = round(_clamp(rng.lognormvariate(4.7, 0.28), 48, 420))
        control = rng.random() < 0.05  # control solution: not a resident's value
        context = None
        if not control and rng.random() < 0.4:
            context = GlucoseContext(sequence_number=sequence, meal=rng.choice((1, 2, 3)), tester=1, health=5)
        record = GlucoseMeasurement(
            sequence_number=sequence,
            base_time=self._stamp(),
            time_offset=0,
            concentration=Mder(mg_dl, -5),  # kg/L on the wire: 95 mg/dL is 95e-5 kg/L
            type=10 if control else 1,
            sample_location=4 if control else 1,
            context_follows=context is not None,
        )
        values = (encode_glucose(record),) + (() if context is None else (encode_glucose_context(context),))
        self.store.add(values, self.device_time())


class PulseOximeter(_RecordKeeper):
    """A fingertip oximeter with spot-check storage: live results when a collector listens, else memory."""

    kind, local_name, service = "oximeter", "PLX Sim", Service.PULSE_OXIMETER

    def __init__(self, *, stored: int = 0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.spot = _char(C.PLX_SPOT_CHECK_MEASUREMENT, _P.INDICATE)
        self.continuous = _char(C.PLX_CONTINUOUS_MEASUREMENT, _P.NOTIFY)
        self.record_steps = ((self.spot, True),)
        self.store = RecordStore(operators=(Operator.ALL,))  # PLXS storage: "all records" only
        for _ in range(stored):
            self.store.add((self._spot_check(stored=True),), self.device_time())

    def services(self, server: Any) -> list[gatt.Service]:
        """Pulse Oximeter (spot-check, continuous, features, RACP) and a writable Current Time."""
        features = PlxFeatures(supported_features=0b0000_1101, measurement_status_support=0b0000_0011_1000_0000)
        feature = _char(C.PLX_FEATURES, _P.READ, encode_plx_features(features))
        uuid = UUID.from_16_bits(Service.PULSE_OXIMETER)
        return [
            gatt.Service(uuid, [self.spot, self.continuous, feature, self.control_point]),
            self.current_time_service(),
        ]

    def _spot_check(self, *, stored: bool) -> bytes:
        rng = self.rng
        spo2, pulse = Mder(rng.randint(93, 99)), Mder(rng.randint(56, 104))
        if rng.random() < 0.04:
            spo2 = Mder.of(Special.NAN)  # finger slipped out: no value, not "2047"
        status = 1 << 8 | (1 << 9 if stored else 0)  # fully qualified; from memory
        record = SpotCheck(
            spo2=spo2,
            pulse_rate=pulse,
            time_stamp=self._stamp(),
            measurement_status=status,
            device_clock_not_set=self.clock_set_to is None,
        )
        return encode_plx_spot_check(record)

    def take_reading(self) -> None:
        """Live to a listening collector (after a few continuous values), else into memory."""
        if self.device is not None and self._collector((self.spot, b"", True)) is not None:
            steps: list[Step] = [
                (self.continuous, encode_plx_continuous(Continuous(spo2=Mder(97 - i), pulse_rate=Mder(70 + i))), False)
                for i in range(3)
            ]
            self.pending.append([*steps, (self.spot, self._spot_check(stored=False), True)])
        else:
            self.store.add((self._spot_check(stored=True),), self.device_time())


_KINDS: dict[str, type[Peripheral]] = {
    cls.kind: cls for cls in (BloodPressureCuff, Glucometer, Thermometer, WeightScale, PulseOximeter)
}


def make(kind: str, **kwargs: Any) -> Peripheral:
    """A peripheral of ``kind`` (one of ``KINDS``); keywords go to its constructor."""
    if kind not in _KINDS:
        raise ValueError(f"unknown BLE device {kind!r}; known: {', '.join(KINDS)}")
    return _KINDS[kind](**kwargs)


class _AgentController(StreamPacketSource):
    """One agent connected over HCI/TCP: a virtual controller of its own on the simulator's link."""

    def __init__(self, link: LocalLink, gone: Callable[[Controller], None]) -> None:
        super().__init__()
        self.link, self.gone = link, gone
        self.controller: Controller | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        sink = StreamPacketSink(cast(asyncio.WriteTransport, transport))
        self.controller = Controller("agent", host_source=self, host_sink=sink, link=self.link)

    def connection_lost(self, exc: Exception | None) -> None:
        self.on_transport_lost()
        if self.controller is not None:
            self.gone(self.controller)


def _tcp_server(transport: str) -> tuple[str, int]:
    kind, _, where = transport.partition(":")
    host, _, port = where.rpartition(":")
    if kind != "tcp-server" or not port.isdigit():
        raise ValueError(f"a simulated BLE device serves HCI on 'tcp-server:HOST:PORT', not {transport!r}")
    return host or "127.0.0.1", int(port)


async def serve(
    kind: str,
    transport: str = DEFAULT_TRANSPORT,
    *,
    seed: int | None = None,
    interval: float = 5.0,
    count: int | None = None,
    stop: asyncio.Event | None = None,
) -> int:
    """Run one emulated device until ``stop`` or ``count`` acknowledged results; return how many.

    The agent reaches it with a device entry ``address = ADDRESSES[kind]`` and
    ``transport = "tcp-client:HOST:PORT"`` (the same host and port).
    """
    host, port = _tcp_server(transport)
    stop = stop or asyncio.Event()
    link = LocalLink()  # type: ignore[no-untyped-call]
    peripheral = make(kind, seed=seed, interval=interval)
    if isinstance(peripheral, _RecordKeeper):
        peripheral.idle_disconnect = 3.0  # a meter hangs up after its upload, and is reached again later
    type(peripheral).advertising_interval = 100.0

    def gone(controller: Controller) -> None:
        async def leave() -> None:
            await peripheral.drop(controller.random_address)  # the agent vanished: free the device
            link.remove_controller(controller)

        peripheral.spawn(leave())

    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _AgentController(link, gone), host, port)
    await peripheral.attach(link)
    _LOGGER.info(
        "%s %s advertising; the agent connects with address = %r, transport = 'tcp-client:%s:%d'",
        kind,
        peripheral.local_name,
        peripheral.address,
        host,
        port,
    )
    try:
        served = await peripheral.run(stop, count)
        await peripheral.settle()
        return served
    finally:
        server.close()
        await peripheral.close()
