"""Body Composition Measurement 0x2A9C (with its two-packet form) and Feature 0x2A9B.

A scale may split one measurement over two indications, each with flag bit 12 set and its own
flags; ``BodyCompositionAssembler`` joins them. Masses use the weight-scale units (0.005 kg /
0.01 lb), percentages 0.1 %, impedance 0.1 ohm, basal metabolism whole kJ.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

from drivers._bits import bit_fields, pack_uint
from drivers.ble._frame import absent, fixed, measure, taken_at, time_json
from drivers.ble._wire import Reader, flag, flags_from
from drivers.ble.weight_scale import (
    HEIGHT_RESOLUTIONS,
    MASS_RESOLUTIONS,
    UNSUCCESSFUL,
    fixed_json,
    height_unit,
    height_value,
    mass_unit,
    mass_value,
    resolution_json,
)
from drivers.errors import FrameError
from drivers.ieee11073 import DateTime, encode_date_time
from drivers.measurement import DecodedFrame, Measurement, Subject

__all__ = [
    "BodyComposition",
    "BodyCompositionAssembler",
    "decode_body_composition",
    "decode_body_composition_feature",
    "encode_body_composition",
    "encode_body_composition_feature",
    "merge_body_composition",
    "parse_body_composition",
]

UNKNOWN_USER = 0xFF
_OPTIONAL = (
    "basal_metabolism",
    "muscle_percentage",
    "muscle_mass",
    "fat_free_mass",
    "soft_lean_mass",
    "body_water_mass",
    "impedance",
    "weight",
    "height",
)
_MASSES = ("muscle_mass", "fat_free_mass", "soft_lean_mass", "body_water_mass", "weight")
_FLAGS = (
    "imperial_units",
    "time_stamp_present",
    "user_id_present",
    *(f"{name}_present" for name in _OPTIONAL),
    "multiple_packet_measurement",
)
_FEATURES = ("time_stamp_supported", "multiple_users_supported", *(f"{name}_supported" for name in _OPTIONAL))


@dataclass(frozen=True, slots=True, kw_only=True)
class BodyComposition:
    """The fields of one 0x2A9C value (or of two merged packets) as raw counts."""

    body_fat_percentage: int
    imperial: bool = False
    time_stamp: DateTime | None = None
    user_id: int | None = None
    basal_metabolism: int | None = None
    muscle_percentage: int | None = None
    muscle_mass: int | None = None
    fat_free_mass: int | None = None
    soft_lean_mass: int | None = None
    body_water_mass: int | None = None
    impedance: int | None = None
    weight: int | None = None
    height: int | None = None
    multiple_packet: bool = False


def parse_body_composition(data: bytes) -> BodyComposition:
    """The typed fields of one 0x2A9C value; FrameError if shorter than its flags say."""
    reader = Reader(data, "body composition measurement")
    reader.require(2)
    flags = reader.uint(2)
    optional_sizes = sum(2 for bit in range(3, 12) if flag(flags, bit))
    reader.require(4 + (7 if flag(flags, 1) else 0) + (1 if flag(flags, 2) else 0) + optional_sizes)
    body_fat = reader.uint(2)
    time_stamp = reader.date_time() if flag(flags, 1) else None
    user_id = reader.uint(1) if flag(flags, 2) else None
    optional = {name: reader.uint(2) for bit, name in enumerate(_OPTIONAL, start=3) if flag(flags, bit)}
    return BodyComposition(
        body_fat_percentage=body_fat,
        imperial=flag(flags, 0),
        time_stamp=time_stamp,
        user_id=user_id,
        multiple_packet=flag(flags, 12),
        **optional,
    )


def _flags(record: BodyComposition) -> int:
    optional = (getattr(record, name) is not None for name in _OPTIONAL)
    return flags_from(
        record.imperial,
        record.time_stamp is not None,
        record.user_id is not None,
        *optional,
        record.multiple_packet,
    )


def encode_body_composition(record: BodyComposition) -> bytes:
    """The 0x2A9C value of ``record`` (one packet); flags follow the fields that are present."""
    parts = [pack_uint(_flags(record), 2, "flags"), pack_uint(record.body_fat_percentage, 2, "body fat")]
    if record.time_stamp is not None:
        parts.append(encode_date_time(record.time_stamp))
    if record.user_id is not None:
        parts.append(pack_uint(record.user_id, 1, "user id"))
    for name in _OPTIONAL:
        value = getattr(record, name)
        if value is not None:
            parts.append(pack_uint(value, 2, name.replace("_", " ")))
    return b"".join(parts)


def merge_body_composition(first: BodyComposition, second: BodyComposition) -> BodyComposition:
    """One record from the two packets of a multiple-packet measurement; the first packet wins ties."""
    if first.imperial != second.imperial:
        raise FrameError("body composition packets disagree on the unit system")
    merged = {}
    for item in fields(BodyComposition):
        mine, theirs = getattr(first, item.name), getattr(second, item.name)
        merged[item.name] = theirs if mine is None else mine
    if first.body_fat_percentage == UNSUCCESSFUL:
        merged["body_fat_percentage"] = second.body_fat_percentage
    return replace(first, **merged)


def _measurements(record: BodyComposition) -> tuple[Measurement, ...]:
    when = taken_at(record.time_stamp)
    if record.body_fat_percentage == UNSUCCESSFUL:
        found = [absent("41982-0", "%", "measurement-unsuccessful", taken_at=when)]
    else:
        found = [measure("41982-0", fixed(record.body_fat_percentage, 1, -1), "%", taken_at=when)]
    weight = None if record.weight is None else mass_value(record.weight, record.imperial)
    if record.weight is not None:
        unit = mass_unit(record.imperial)
        found.append(
            absent("29463-7", unit, "measurement-unsuccessful", taken_at=when)
            if weight is None
            else measure("29463-7", weight, unit, taken_at=when, mdc="188736")
        )
    if record.height is not None:
        height = height_value(record.height, record.imperial)
        found.append(measure("8302-2", height, height_unit(record.imperial), taken_at=when, mdc="188740"))
    return tuple(found)


def _value_fields(record: BodyComposition) -> dict[str, Any]:
    imperial = record.imperial
    out: dict[str, Any] = dict.fromkeys(_OPTIONAL)
    for name in _MASSES:
        raw = getattr(record, name)
        if raw is not None:
            out[name] = fixed_json(raw, mass_value(raw, imperial), mass_unit(imperial))
    if record.basal_metabolism is not None:
        out["basal_metabolism"] = {
            "raw": record.basal_metabolism,
            "value": record.basal_metabolism,
            "text": str(record.basal_metabolism),
            "unit": "kJ",
        }
    if record.muscle_percentage is not None:
        out["muscle_percentage"] = fixed_json(record.muscle_percentage, fixed(record.muscle_percentage, 1, -1), "%")
    if record.impedance is not None:
        out["impedance"] = fixed_json(record.impedance, fixed(record.impedance, 1, -1), "Ohm")
    if record.height is not None:
        out["height"] = fixed_json(record.height, height_value(record.height, imperial), height_unit(imperial))
    return out


def _frame(record: BodyComposition, flags: int, packets: int) -> DecodedFrame:
    body_fat = record.body_fat_percentage
    fat_value = None if body_fat == UNSUCCESSFUL else fixed(body_fat, 1, -1)
    fields_json = {
        "flags": bit_fields(flags, _FLAGS),
        "unit_system": "imperial" if record.imperial else "SI",
        "body_fat_percentage": fixed_json(body_fat, fat_value, "%"),
        "time_stamp": time_json(record.time_stamp),
        "user_id": record.user_id,
        **_value_fields(record),
        "packets": packets,
    }
    user = record.user_id
    return DecodedFrame(
        protocol="ble:2A9C",
        measurements=_measurements(record),
        fields=fields_json,
        device_time=taken_at(record.time_stamp),
        subject=Subject(device_user=user) if user is not None and user != UNKNOWN_USER else None,
        final=not (record.multiple_packet and packets == 1),
    )


def decode_body_composition(data: bytes) -> DecodedFrame:
    """Decode one 0x2A9C value; half of a two-packet measurement comes out with ``final=False``."""
    return _frame(parse_body_composition(data), int.from_bytes(data[:2], "little"), packets=1)


MULTIPLE_PACKET_FLAG = 1 << 12
PAIR_PROTOCOL = "ble:2A9C-pair"


def encode_pair(first: bytes, second: bytes) -> bytes:
    """Both indications of a two-packet measurement as one frame: length of the first, then both."""
    return len(first).to_bytes(2, "little") + first + second


def decode_pair(data: bytes) -> DecodedFrame:
    """The one measurement made of a two-packet frame (see ``encode_pair``)."""
    if len(data) < 2:
        raise FrameError("body composition pair: no length")
    length = int.from_bytes(data[:2], "little")
    first, second = data[2 : 2 + length], data[2 + length :]
    if len(first) != length or not second:
        raise FrameError("body composition pair: a half is missing")
    assembler = BodyCompositionAssembler()
    frames = assembler.feed(first) + assembler.feed(second)
    if len(frames) != 1 or not frames[0].final:
        raise FrameError("body composition pair: the two halves do not make one measurement")
    return frames[0]


class BodyCompositionAssembler:
    """Joins the two indications of a multiple-packet measurement (sans-I/O: bytes in, frames out)."""

    def __init__(self) -> None:
        self._pending: BodyComposition | None = None
        self._pending_flags = 0

    def feed(self, data: bytes) -> list[DecodedFrame]:
        """Frames completed by this indication; FrameError for a malformed one (pending half kept)."""
        record = parse_body_composition(data)
        flags = int.from_bytes(data[:2], "little")
        if not record.multiple_packet:
            return [*self.flush(), _frame(record, flags, packets=1)]
        if self._pending is None:
            self._pending, self._pending_flags = record, flags
            return []
        first, self._pending = self._pending, None
        merged = merge_body_composition(first, record)
        return [_frame(merged, _flags(merged), packets=2)]

    def flush(self) -> list[DecodedFrame]:
        """A half left waiting (its partner never came), as an incomplete frame; call on disconnect."""
        if self._pending is None:
            return []
        pending, self._pending = self._pending, None
        return [_frame(pending, self._pending_flags, packets=1)]


def decode_body_composition_feature(data: bytes) -> DecodedFrame:
    """Decode Body Composition Feature (0x2A9B, u32): supported fields and resolutions."""
    if len(data) < 4:
        raise FrameError(f"body composition feature: {len(data)} bytes, need 4")
    raw = int.from_bytes(data[:4], "little")
    fields_json = bit_fields(raw, _FEATURES)
    fields_json["mass_resolution"] = resolution_json(raw >> 11 & 0x0F, MASS_RESOLUTIONS)
    fields_json["height_resolution"] = resolution_json(raw >> 15 & 0x07, HEIGHT_RESOLUTIONS)
    return DecodedFrame(protocol="ble:2A9B", measurements=(), fields=fields_json)


def encode_body_composition_feature(features: int) -> bytes:
    """The 0x2A9B value for a feature bit mask."""
    return pack_uint(features, 4, "body composition feature")
