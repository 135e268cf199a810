"""Small helpers shared by the codecs: named bit fields and range-checked packing."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from drivers.errors import FrameError


def bit_fields(raw: int, names: Sequence[str | None]) -> dict[str, Any]:
    """``{"raw": raw, name: bool, ...}`` for bit i named ``names[i]`` (None = reserved, left out)."""
    fields: dict[str, Any] = {"raw": raw}
    fields.update({name: bool(raw >> bit & 1) for bit, name in enumerate(names) if name})
    return fields


def set_bits(raw: int, names: Sequence[str | None]) -> tuple[str, ...]:
    """The names of the set bits of ``raw``, in bit order; reserved bits are left out."""
    return tuple(name for bit, name in enumerate(names) if name and raw >> bit & 1)


def pack_uint(value: int, size: int, what: str, byteorder: str = "little") -> bytes:
    """``value`` as an unsigned integer of ``size`` bytes; FrameError if it does not fit."""
    if not 0 <= value < 1 << (8 * size):
        raise FrameError(f"{what} {value} does not fit {8 * size} bits")
    return value.to_bytes(size, "little" if byteorder == "little" else "big")


def pack_sint(value: int, size: int, what: str) -> bytes:
    """``value`` as a little-endian two's complement integer of ``size`` bytes."""
    half = 1 << (8 * size - 1)
    if not -half <= value < half:
        raise FrameError(f"{what} {value} does not fit {8 * size} signed bits")
    return value.to_bytes(size, "little", signed=True)
