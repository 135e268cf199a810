"""Bluetooth SIG service and characteristic UUIDs of the health profiles, and what to subscribe to."""

from __future__ import annotations

from enum import IntEnum
from typing import Literal

_BASE_SUFFIX = "-0000-1000-8000-00805f9b34fb"


class Service(IntEnum):
    """16-bit UUIDs of the services the agent talks to."""

    CURRENT_TIME = 0x1805
    GLUCOSE = 0x1808
    HEALTH_THERMOMETER = 0x1809
    BLOOD_PRESSURE = 0x1810
    BODY_COMPOSITION = 0x181B
    WEIGHT_SCALE = 0x181D
    PULSE_OXIMETER = 0x1822


class Characteristic(IntEnum):
    """16-bit UUIDs of the characteristics the agent reads, writes or subscribes to."""

    DATE_TIME = 0x2A08
    DAY_DATE_TIME = 0x2A0A
    EXACT_TIME_256 = 0x2A0C
    TEMPERATURE_MEASUREMENT = 0x2A1C
    TEMPERATURE_TYPE = 0x2A1D
    INTERMEDIATE_TEMPERATURE = 0x2A1E
    MEASUREMENT_INTERVAL = 0x2A21
    CURRENT_TIME = 0x2A2B
    GLUCOSE_MEASUREMENT_CONTEXT = 0x2A34
    BLOOD_PRESSURE_MEASUREMENT = 0x2A35
    INTERMEDIATE_CUFF_PRESSURE = 0x2A36
    GLUCOSE_MEASUREMENT = 0x2A18
    BLOOD_PRESSURE_FEATURE = 0x2A49
    GLUCOSE_FEATURE = 0x2A51
    RECORD_ACCESS_CONTROL_POINT = 0x2A52
    PLX_SPOT_CHECK_MEASUREMENT = 0x2A5E
    PLX_CONTINUOUS_MEASUREMENT = 0x2A5F
    PLX_FEATURES = 0x2A60
    BODY_COMPOSITION_FEATURE = 0x2A9B
    BODY_COMPOSITION_MEASUREMENT = 0x2A9C
    WEIGHT_MEASUREMENT = 0x2A9D
    WEIGHT_SCALE_FEATURE = 0x2A9E


Delivery = Literal["indicate", "notify"]

# What a collector enables on each service (docs/devices.md): indications need CCCD 0x0002,
# notifications 0x0001. Optional characteristics are listed; subscribe only if the device has them.
SUBSCRIPTIONS: dict[Service, tuple[tuple[Characteristic, Delivery], ...]] = {
    Service.BLOOD_PRESSURE: (
        (Characteristic.BLOOD_PRESSURE_MEASUREMENT, "indicate"),
        (Characteristic.INTERMEDIATE_CUFF_PRESSURE, "notify"),
    ),
    Service.GLUCOSE: (
        (Characteristic.GLUCOSE_MEASUREMENT, "notify"),
        (Characteristic.GLUCOSE_MEASUREMENT_CONTEXT, "notify"),
        (Characteristic.RECORD_ACCESS_CONTROL_POINT, "indicate"),
    ),
    Service.HEALTH_THERMOMETER: (
        (Characteristic.TEMPERATURE_MEASUREMENT, "indicate"),
        (Characteristic.INTERMEDIATE_TEMPERATURE, "notify"),
    ),
    Service.PULSE_OXIMETER: (
        (Characteristic.PLX_SPOT_CHECK_MEASUREMENT, "indicate"),
        (Characteristic.PLX_CONTINUOUS_MEASUREMENT, "notify"),
        (Characteristic.RECORD_ACCESS_CONTROL_POINT, "indicate"),
    ),
    Service.WEIGHT_SCALE: ((Characteristic.WEIGHT_MEASUREMENT, "indicate"),),
    Service.BODY_COMPOSITION: ((Characteristic.BODY_COMPOSITION_MEASUREMENT, "indicate"),),
    Service.CURRENT_TIME: ((Characteristic.CURRENT_TIME, "notify"),),
}

# Characteristics read once after connecting (features tell which optional fields exist).
READ_ONCE: dict[Service, tuple[Characteristic, ...]] = {
    Service.BLOOD_PRESSURE: (Characteristic.BLOOD_PRESSURE_FEATURE,),
    Service.GLUCOSE: (Characteristic.GLUCOSE_FEATURE,),
    Service.HEALTH_THERMOMETER: (Characteristic.TEMPERATURE_TYPE, Characteristic.MEASUREMENT_INTERVAL),
    Service.PULSE_OXIMETER: (Characteristic.PLX_FEATURES,),
    Service.WEIGHT_SCALE: (Characteristic.WEIGHT_SCALE_FEATURE,),
    Service.BODY_COMPOSITION: (Characteristic.BODY_COMPOSITION_FEATURE,),
    Service.CURRENT_TIME: (Characteristic.CURRENT_TIME,),
}


def uuid128(uuid16: int) -> str:
    """The full 128-bit UUID string of a SIG 16-bit UUID, lower case as bleak prints it."""
    if not 0 <= uuid16 <= 0xFFFF:
        raise ValueError(f"{uuid16:#x} is not a 16-bit UUID")
    return f"0000{uuid16:04x}{_BASE_SUFFIX}"


def uuid16(uuid: str) -> int | None:
    """The 16-bit form of a UUID on the SIG base ("2a35", "0x2A35" or the 128-bit text), else None."""
    text = uuid.strip().lower().removeprefix("0x")
    if len(text) == 4:
        return int(text, 16) if all(c in "0123456789abcdef" for c in text) else None
    if len(text) == 36 and text.startswith("0000") and text.endswith(_BASE_SUFFIX):
        head = text[4:8]
        return int(head, 16) if all(c in "0123456789abcdef" for c in head) else None
    return None
