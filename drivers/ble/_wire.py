"""Reading and building characteristic values: every read checks the length first."""

from __future__ import annotations

from drivers.errors import FrameError
from drivers.ieee11073 import DateTime, Mder, decode_date_time, decode_float, decode_sfloat


class Reader:
    """A cursor over one characteristic value; a read past the end raises FrameError."""

    def __init__(self, data: bytes, name: str) -> None:
        self._data = bytes(data)
        self._pos = 0
        self._name = name

    def require(self, total: int) -> None:
        """Reject the value unless it holds at least ``total`` bytes (computed from its flags)."""
        if len(self._data) < total:
            raise FrameError(f"{self._name}: {len(self._data)} bytes, the flags announce {total}")

    def _take(self, size: int) -> bytes:
        if len(self._data) - self._pos < size:
            raise FrameError(f"{self._name}: truncated at byte {self._pos} (value has {len(self._data)})")
        chunk = self._data[self._pos : self._pos + size]
        self._pos += size
        return chunk

    def uint(self, size: int) -> int:
        """An unsigned little-endian integer of ``size`` bytes."""
        return int.from_bytes(self._take(size), "little")

    def sint(self, size: int) -> int:
        """A signed little-endian integer of ``size`` bytes."""
        return int.from_bytes(self._take(size), "little", signed=True)

    def sfloat(self) -> Mder:
        """An IEEE 11073 SFLOAT."""
        return decode_sfloat(self._take(2))

    def float32(self) -> Mder:
        """An IEEE 11073 FLOAT."""
        return decode_float(self._take(4))

    def date_time(self) -> DateTime:
        """A 7-byte Date Time."""
        return decode_date_time(self._take(7))


def flag(flags: int, bit: int) -> bool:
    """Whether bit ``bit`` of ``flags`` is set."""
    return bool(flags >> bit & 1)


def flags_from(*present: bool) -> int:
    """Flag bits from booleans, bit 0 first."""
    return sum(1 << bit for bit, value in enumerate(present) if value)
