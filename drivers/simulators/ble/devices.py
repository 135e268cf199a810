"""The five emulated devices, each with realistic values from a seeded RNG (and, now and then, the
kind of reading a real device produces and the agent must quarantine): a BP cuff, an ear
thermometer that refuses clock writes, an A&D-style scale, a glucometer that wants pairing, and a
pulse oximeter with spot-check memory.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from bumble import gatt
from bumble.core import UUID

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
from drivers.ble.racp import Operator
from drivers.ble.thermometer import Temperature, encode_temperature
from drivers.ble.uuids import Characteristic as C
from drivers.ble.uuids import Service
from drivers.ble.weight_scale import WeightMeasurement, encode_weight, encode_weight_scale_feature
from drivers.ieee11073 import (
    Mder,
    Special,
    encode_date_time,
)
from drivers.simulators.ble.peripheral import (
    ADDRESSES,
    Peripheral,
    Properties,
    RecordKeeper,
    Step,
    clamp,
    gatt_characteristic,
    protect_cccd,
)
from drivers.simulators.ble.records import RecordStore

__all__ = ["KINDS", "BloodPressureCuff", "Glucometer", "PulseOximeter", "Thermometer", "WeightScale", "make"]

KINDS = tuple(ADDRESSES)


class BloodPressureCuff(Peripheral):
    """An upper-arm cuff: cuff pressure notified while inflating, then the result indicated."""

    kind, local_name, service = "bp-cuff", "BP-Cuff Sim", Service.BLOOD_PRESSURE

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.measurement = gatt_characteristic(C.BLOOD_PRESSURE_MEASUREMENT, Properties.INDICATE)
        self.cuff_pressure = gatt_characteristic(C.INTERMEDIATE_CUFF_PRESSURE, Properties.NOTIFY)

    def services(self, server: Any) -> list[gatt.Service]:
        """Blood Pressure (measurement, cuff pressure, features) and a writable Current Time."""
        feature = gatt_characteristic(
            C.BLOOD_PRESSURE_FEATURE, Properties.READ, encode_blood_pressure_feature(0b0000_0111)
        )
        bp = gatt.Service(UUID.from_16_bits(Service.BLOOD_PRESSURE), [self.measurement, self.cuff_pressure, feature])
        return [bp, self.current_time_service()]

    def reading(self) -> list[Step]:
        """A few cuff pressures, then the result; now and then an irregular pulse or a loose cuff."""
        rng = self.rng
        systolic = round(clamp(rng.gauss(128, 16), 88, 210))
        diastolic = round(clamp(systolic * 0.62 + rng.gauss(0, 6), 48, 125))
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
        self.measurement = gatt_characteristic(C.TEMPERATURE_MEASUREMENT, Properties.INDICATE)
        self.intermediate = gatt_characteristic(C.INTERMEDIATE_TEMPERATURE, Properties.NOTIFY)

    def services(self, server: Any) -> list[gatt.Service]:
        """Health Thermometer (measurement, intermediate, type, interval) and a read-only Current Time."""
        kind = gatt_characteristic(C.TEMPERATURE_TYPE, Properties.READ, bytes([9]))  # tympanum
        interval = gatt_characteristic(C.MEASUREMENT_INTERVAL, Properties.READ, bytes(2))
        uuid = UUID.from_16_bits(Service.HEALTH_THERMOMETER)
        return [
            gatt.Service(uuid, [self.measurement, self.intermediate, kind, interval]),
            self.current_time_service(writable=False),
        ]

    def reading(self) -> list[Step]:
        """Warming-up values, then the result; a fever now and then, and a probe pointed at the air."""
        rng = self.rng
        celsius = clamp(rng.gauss(36.8, 0.3), 35.8, 37.7)
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
        self.measurement = gatt_characteristic(C.WEIGHT_MEASUREMENT, Properties.INDICATE)

    def services(self, server: Any) -> list[gatt.Service]:
        """Weight Scale (measurement, feature, Date Time); no Current Time service."""
        features = 0b1 | 0b100 | 4 << 3 | 1 << 7  # time stamp, BMI, 0.05 kg, 0.01 m
        feature = gatt_characteristic(C.WEIGHT_SCALE_FEATURE, Properties.READ, encode_weight_scale_feature(features))
        date_time = gatt_characteristic(
            C.DATE_TIME,
            Properties.READ | Properties.WRITE,
            gatt.CharacteristicValue(read=lambda _c: encode_date_time(self._stamp()), write=self._write_date_time),
        )
        return [gatt.Service(UUID.from_16_bits(Service.WEIGHT_SCALE), [self.measurement, feature, date_time])]

    def reading(self) -> list[Step]:
        """Weight (0.05 kg steps), height and BMI."""
        rng = self.rng
        kilograms = round(clamp(rng.gauss(62, 11), 34, 125) * 20) / 20
        metres = round(rng.uniform(1.48, 1.82), 2)
        bmi = round(kilograms / metres**2, 1)
        record = WeightMeasurement(
            weight=round(kilograms / 0.005), time_stamp=self._stamp(), bmi=round(bmi * 10), height=round(metres * 1000)
        )
        return [(self.measurement, encode_weight(record), True)]


class Glucometer(RecordKeeper):
    """A glucose meter: records with sequence numbers (some with a meal context), downloaded by RACP."""

    kind, local_name, service = "glucometer", "Glucose Sim", Service.GLUCOSE

    def __init__(self, *, stored: int = 0, require_pairing: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.require_pairing = require_pairing
        self.measurement = gatt_characteristic(C.GLUCOSE_MEASUREMENT, Properties.NOTIFY)
        self.context = gatt_characteristic(C.GLUCOSE_MEASUREMENT_CONTEXT, Properties.NOTIFY)
        self.record_steps = ((self.measurement, False), (self.context, False))
        self.store = RecordStore(first_sequence=self.rng.randint(0, 400))
        for _ in range(stored):
            self.take_reading()

    def services(self, server: Any) -> list[gatt.Service]:
        """Glucose (measurement, context, feature, RACP) and a writable Current Time."""
        feature = gatt_characteristic(C.GLUCOSE_FEATURE, Properties.READ, encode_glucose_feature(0b0000_0100_0011_1111))
        racp = self.control_point
        if self.require_pairing:
            for characteristic in (self.measurement, self.context, racp):
                protect_cccd(server, characteristic)
        uuid = UUID.from_16_bits(Service.GLUCOSE)
        return [gatt.Service(uuid, [self.measurement, self.context, feature, racp]), self.current_time_service()]

    def take_reading(self) -> None:
        """A strip is read: the record goes to memory."""
        rng, sequence = self.rng, self.store.next_sequence
        mg_dl = round(clamp(rng.lognormvariate(4.7, 0.28), 48, 420))
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


class PulseOximeter(RecordKeeper):
    """A fingertip oximeter with spot-check storage: live results when a collector listens, else memory."""

    kind, local_name, service = "oximeter", "PLX Sim", Service.PULSE_OXIMETER

    def __init__(self, *, stored: int = 0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.spot = gatt_characteristic(C.PLX_SPOT_CHECK_MEASUREMENT, Properties.INDICATE)
        self.continuous = gatt_characteristic(C.PLX_CONTINUOUS_MEASUREMENT, Properties.NOTIFY)
        self.record_steps = ((self.spot, True),)
        self.store = RecordStore(operators=(Operator.ALL,))  # PLXS storage: "all records" only
        for _ in range(stored):
            self.store.add((self._spot_check(stored=True),), self.device_time())

    def services(self, server: Any) -> list[gatt.Service]:
        """Pulse Oximeter (spot-check, continuous, features, RACP) and a writable Current Time."""
        features = PlxFeatures(supported_features=0b0000_1101, measurement_status_support=0b0000_0011_1000_0000)
        feature = gatt_characteristic(C.PLX_FEATURES, Properties.READ, encode_plx_features(features))
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
