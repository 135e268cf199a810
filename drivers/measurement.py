"""What a codec hands on: measurements with LOINC codes and UCUM units, and the decoded frame."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

LOINC = "http://loinc.org"


@dataclass(frozen=True, slots=True, kw_only=True)
class Measurement:
    """One measured value.

    ``value_text`` keeps the device's precision ("2.00"); ``value`` is None for the IEEE 11073
    special values (NaN, NRes, +/-INF, reserved), which are named in ``flags``. ``unit`` is the
    UCUM unit as the device reported it (kPa stays kPa).
    """

    code: str
    display: str
    value: Decimal | None
    value_text: str
    unit: str
    system: str = LOINC
    taken_at: datetime | None = None
    flags: tuple[str, ...] = ()
    mdc_code: str | None = None

    def as_json(self) -> dict[str, Any]:
        """The JSON shape printed by `clinic-agent decode`."""
        return {
            "code": self.code,
            "system": self.system,
            "display": self.display,
            "value": None if self.value is None else float(self.value),
            "value_text": self.value_text,
            "unit": self.unit,
            "taken_at": self.taken_at.isoformat() if self.taken_at else None,
            "flags": list(self.flags),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Subject:
    """Who a frame says the measurement belongs to, as the device named them."""

    id_number: str | None = None
    health_record_number: str | None = None
    other_id: str | None = None
    name: str | None = None
    device_user: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DecodedFrame:
    """Everything decoded from one frame or message.

    ``panel`` is the LOINC code grouping the measurements into one event (85354-9 for blood
    pressure), or None when the frame holds a single measurement. ``sequence`` is the device's
    own record number when it has one (glucose sequence number, HL7 MSH-10, ...), used to
    collapse a re-sent frame to one reading. ``fields`` holds every decoded field under its
    specification name in snake_case.
    """

    protocol: str
    measurements: tuple[Measurement, ...]
    fields: dict[str, Any] = field(default_factory=dict)
    panel: str | None = None
    panel_display: str = ""
    device_time: datetime | None = None
    sequence: str | None = None
    subject: Subject | None = None
    final: bool = True

    def as_json(self) -> dict[str, Any]:
        """The JSON shape printed by `clinic-agent decode`."""
        return {
            "protocol": self.protocol,
            "measurements": [m.as_json() for m in self.measurements],
            "fields": self.fields,
        }
