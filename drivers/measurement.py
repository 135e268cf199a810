"""What a codec hands on: measurements with LOINC codes and UCUM units, and the decoded frame."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import FrozenInstanceError, dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, NamedTuple

from drivers.terminology import LOINC_SYSTEM


class Measurement(NamedTuple):
    """One measured value.

    ``value_text`` keeps the device's precision ("2.00"); ``value`` is None for the IEEE 11073
    special values (NaN, NRes, +/-INF, reserved), which are named in ``flags``. ``unit`` is the
    UCUM unit as the device reported it (kPa stays kPa).

    Immutable, compared and hashed by value. A named tuple rather than a frozen dataclass: a
    codec makes one per value of every frame, and a tuple is made in a third of the time a
    frozen dataclass needs to store nine attributes (bench/bench_decode.py). Codecs make them with
    ``new_measurement``; elsewhere the keywords read better.
    """

    code: str
    display: str
    value: Decimal | None
    value_text: str
    unit: str
    system: str = LOINC_SYSTEM
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


_tuple_new = tuple.__new__


def new_measurement(
    code: str,
    display: str,
    value: Decimal | None,
    value_text: str,
    unit: str,
    taken_at: datetime | None,
    flags: tuple[str, ...],
    mdc_code: str | None,
    system: str = LOINC_SYSTEM,
    /,
) -> Measurement:
    """``Measurement(...)`` from positional values, for codecs that make one per value of every frame.

    The same object the keyword constructor makes, without binding nine keywords.
    """
    return _tuple_new(Measurement, (code, display, value, value_text, unit, system, taken_at, flags, mdc_code))


@dataclass(frozen=True, slots=True, kw_only=True)
class Subject:
    """Who a frame says the measurement belongs to, as the device named them."""

    id_number: str | None = None
    health_record_number: str | None = None
    other_id: str | None = None
    name: str | None = None
    device_user: int | None = None


FieldsSource = dict[str, Any] | Callable[[], dict[str, Any]]
"""A frame's ``fields``: the dict itself, or a function that builds it when it is first read."""

_FRAME_ATTRIBUTES = (
    "protocol",
    "measurements",
    "panel",
    "panel_display",
    "device_time",
    "sequence",
    "subject",
    "final",
)


class DecodedFrame:
    """Everything decoded from one frame or message (immutable).

    ``panel`` is the LOINC code grouping the measurements into one event (85354-9 for blood
    pressure), or None when the frame holds a single measurement. ``sequence`` is the device's
    own record number when it has one (glucose sequence number, HL7 MSH-10, ...), used to
    collapse a re-sent frame to one reading. ``fields`` holds every decoded field under its
    specification name in snake_case; a codec may pass a function that builds it, because only
    the `decode` command prints it and the ingest path never reads it.
    """

    __slots__ = ("_fields", *_FRAME_ATTRIBUTES)
    _fields: FieldsSource
    protocol: str
    measurements: tuple[Measurement, ...]
    panel: str | None
    panel_display: str
    device_time: datetime | None
    sequence: str | None
    subject: Subject | None
    final: bool

    def __init__(
        self,
        *,
        protocol: str,
        measurements: tuple[Measurement, ...],
        fields: FieldsSource | None = None,
        panel: str | None = None,
        panel_display: str = "",
        device_time: datetime | None = None,
        sequence: str | None = None,
        subject: Subject | None = None,
        final: bool = True,
    ) -> None:
        _frame_protocol(self, protocol)
        _frame_measurements(self, measurements)
        _frame_fields(self, {} if fields is None else fields)
        _frame_panel(self, panel)
        _frame_panel_display(self, panel_display)
        _frame_device_time(self, device_time)
        _frame_sequence(self, sequence)
        _frame_subject(self, subject)
        _frame_final(self, final)

    @property
    def fields(self) -> dict[str, Any]:
        """Every decoded field under its specification name, built on first use and kept."""
        source = self._fields
        if isinstance(source, dict):
            return source
        fields = source()
        _frame_fields(self, fields)
        return fields

    def replace(self, **changes: Any) -> DecodedFrame:
        """A copy with some attributes changed (``fields`` is shared, built or not)."""
        values: dict[str, Any] = {name: getattr(self, name) for name in _FRAME_ATTRIBUTES}
        values["fields"] = self._fields
        values.update(changes)
        return DecodedFrame(**values)

    def __setattr__(self, name: str, value: object) -> None:
        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise FrozenInstanceError(f"cannot delete field {name!r}")

    def _key(self) -> tuple[Any, ...]:
        return (*(getattr(self, name) for name in _FRAME_ATTRIBUTES), self.fields)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        assert isinstance(other, DecodedFrame)  # noqa: S101  (narrowing for mypy)
        return self._key() == other._key()

    __hash__ = None  # type: ignore[assignment]  # ``fields`` is a dict: unhashable, as before

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in ("protocol", "measurements"))
        rest = ", ".join(f"{name}={getattr(self, name)!r}" for name in _FRAME_ATTRIBUTES[2:])
        return f"DecodedFrame({shown}, fields={self.fields!r}, {rest})"

    def as_json(self) -> dict[str, Any]:
        """The JSON shape printed by `clinic-agent decode`."""
        return {
            "protocol": self.protocol,
            "measurements": [m.as_json() for m in self.measurements],
            "fields": self.fields,
        }


(
    _frame_fields,
    _frame_protocol,
    _frame_measurements,
    _frame_panel,
    _frame_panel_display,
    _frame_device_time,
    _frame_sequence,
    _frame_subject,
    _frame_final,
) = (getattr(DecodedFrame, name).__set__ for name in DecodedFrame.__slots__)
_new_object = object.__new__


def new_frame(
    protocol: str,
    measurements: tuple[Measurement, ...],
    fields: FieldsSource,
    panel: str | None = None,
    panel_display: str = "",
    device_time: datetime | None = None,
    sequence: str | None = None,
    subject: Subject | None = None,
    final: bool = True,
    /,
) -> DecodedFrame:
    """``DecodedFrame(...)`` from positional values, for the decoders of frames that come many a second.

    The same object the keyword constructor makes, without binding nine keywords (a streaming
    oximeter sends 60 packets a second).
    """
    made: DecodedFrame = _new_object(DecodedFrame)
    _frame_protocol(made, protocol)
    _frame_measurements(made, measurements)
    _frame_fields(made, fields)
    _frame_panel(made, panel)
    _frame_panel_display(made, panel_display)
    _frame_device_time(made, device_time)
    _frame_sequence(made, sequence)
    _frame_subject(made, subject)
    _frame_final(made, final)
    return made
