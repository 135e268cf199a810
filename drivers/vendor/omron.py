"""Omron HEM-xxxxT proprietary BLE packets (service ecbe3980-c9a2-11e1-b1bd-0002a5d5c51b).

Packet: ``len u8, type u16 BE, address u16 BE, size u8, data..., 0x00, xor`` where ``len`` counts
every byte and the XOR of all bytes is 0. A packet travels in 16-byte pieces over four channels
(channel i carries bytes 16i..16i+15). Reading only: EEPROM writes (type 0x01C0) can corrupt a
cuff's calibration and are deliberately not offered. Prefer the standard BLS/CTS when a model has them.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import reduce
from typing import Any

from drivers.errors import FrameError
from drivers.measurement import DecodedFrame, Measurement
from drivers.terminology import concept

__all__ = [
    "PAIRING_REQUEST",
    "RX_CHARACTERISTICS",
    "SERVICE",
    "TX_CHARACTERISTICS",
    "UNLOCK_CHARACTERISTIC",
    "OmronAssembler",
    "OmronPacket",
    "decode_hem7322t_record",
    "decode_omron",
    "encode_omron",
    "end_transmission",
    "parse_omron",
    "read_eeprom",
    "split_channels",
    "start_transmission",
    "unlock",
]

SERVICE = "ecbe3980-c9a2-11e1-b1bd-0002a5d5c51b"
TX_CHARACTERISTICS = (
    "db5b55e0-aee7-11e1-965e-0002a5d5c51b",
    "e0b8a060-aee7-11e1-92f4-0002a5d5c51b",
    "0ae12b00-aee8-11e1-a192-0002a5d5c51b",
    "10e1ba60-aee8-11e1-89e5-0002a5d5c51b",
)
# The four notify channels (userx14/omblepy; public sources give only their count).
RX_CHARACTERISTICS = (
    "49123040-aee8-11e1-a74d-0002a5d5c51b",
    "4d0bf320-aee8-11e1-a0d9-0002a5d5c51b",
    "5128ce60-aee8-11e1-b84b-0002a5d5c51b",
    "560f1420-aee8-11e1-8184-0002a5d5c51b",
)
UNLOCK_CHARACTERISTIC = "b305b680-aee7-11e1-a730-0002a5d5c51b"
CHUNK = 16
CHANNELS = 4
_MIN_SIZE = 8

TYPE_NAMES = {
    0x0000: "start transmission",
    0x8000: "start transmission reply",
    0x0100: "read eeprom",
    0x8100: "read eeprom reply",
    0x01C0: "write eeprom",
    0x81C0: "write eeprom reply",
    0x0F00: "end transmission",
    0x8F00: "end transmission reply",
}


@dataclass(frozen=True, slots=True)
class OmronPacket:
    """One packet: ``size`` is the byte count a read asks for (or the data length of a reply)."""

    type: int
    address: int = 0
    size: int = 0
    data: bytes = b""
    padding: int = 0

    @property
    def type_name(self) -> str:
        """What the type means ("read eeprom reply"), or "unknown"."""
        return TYPE_NAMES.get(self.type, "unknown")


def _xor(data: bytes) -> int:
    result = 0
    for byte in data:
        result ^= byte
    return result


def encode_omron(packet: OmronPacket) -> bytes:
    """The bytes of ``packet``, length and XOR filled in."""
    length = _MIN_SIZE + len(packet.data)
    if length > CHUNK * CHANNELS or not (0 <= packet.type <= 0xFFFF and 0 <= packet.address <= 0xFFFF):
        raise FrameError("Omron packet: type/address must be 16-bit and the packet at most 64 bytes")
    if not (0 <= packet.size <= 0xFF and 0 <= packet.padding <= 0xFF):
        raise FrameError("Omron packet: size and padding must be bytes")
    body = bytes([length]) + packet.type.to_bytes(2, "big") + packet.address.to_bytes(2, "big")
    body += bytes([packet.size]) + packet.data + bytes([packet.padding])
    return body + bytes([_xor(body)])


def parse_omron(data: bytes) -> OmronPacket:
    """The packet in ``data`` (trailing bytes after ``len`` ignored); FrameError if short or XOR fails."""
    if len(data) < _MIN_SIZE or data[0] < _MIN_SIZE or len(data) < data[0]:
        raise FrameError(f"Omron packet: {len(data)} bytes, length byte {data[0] if data else None}")
    packet = bytes(data[: data[0]])
    if _xor(packet):
        raise FrameError(f"Omron packet: XOR of all bytes is {_xor(packet):#04x}, not 0")
    return OmronPacket(
        type=int.from_bytes(packet[1:3], "big"),
        address=int.from_bytes(packet[3:5], "big"),
        size=packet[5],
        data=packet[6:-2],
        padding=packet[-2],  # 0x00 by the layout; kept, not enforced (checksums are what we trust)
    )


def decode_omron(data: bytes) -> DecodedFrame:
    """Decode one Omron packet into a frame with no measurements (records need a model layout)."""
    packet = parse_omron(data)
    fields: dict[str, Any] = {
        "length": data[0],
        "type": packet.type,
        "type_name": packet.type_name,
        "address": packet.address,
        "size": packet.size,
        "data_hex": packet.data.hex().upper(),
        "padding": packet.padding,
        "xor": data[data[0] - 1],
        "xor_of_all_bytes": reduce(operator.xor, data[: data[0]], 0),  # 0 for a sound packet
    }
    if packet.type == 0x8F00 and packet.data:
        fields["error_code"] = packet.data[0]
    return DecodedFrame(protocol="omron", measurements=(), fields=fields)


def start_transmission() -> bytes:
    """``08 00 00 00 00 10 00 18``: open a session (reply type 0x8000)."""
    return encode_omron(OmronPacket(type=0x0000, size=0x10))


def end_transmission() -> bytes:
    """``08 0F 00 00 00 00 00 07``: close the session (reply 0x8F00, data[0] = error code)."""
    return encode_omron(OmronPacket(type=0x0F00))


def read_eeprom(address: int, size: int) -> bytes:
    """Ask for ``size`` bytes of EEPROM at ``address`` (reply 0x8100 with the data)."""
    return encode_omron(OmronPacket(type=0x0100, address=address, size=size))


PAIRING_REQUEST = b"\x02" + bytes(16)  # enter key programming (cuff shows "-P-"); reply 82 00


def unlock(key: bytes, *, program: bool = False) -> bytes:
    """The write to ``UNLOCK_CHARACTERISTIC``: ``01 <key>`` each session, ``00 <key>`` to program it
    after ``PAIRING_REQUEST`` while the cuff shows "-P-"."""
    if len(key) != 16:
        raise FrameError(f"Omron unlock key must be 16 bytes, not {len(key)}")
    return bytes([0x00 if program else 0x01]) + key


def split_channels(packet: bytes) -> list[bytes]:
    """The 16-byte pieces of a packet, one per TX channel in order."""
    if len(packet) > CHUNK * CHANNELS:
        raise FrameError(f"Omron packet of {len(packet)} bytes does not fit four channels")
    return [packet[i : i + CHUNK] for i in range(0, len(packet), CHUNK)]


class OmronAssembler:
    """Joins the pieces notified on the RX channels into packets (sans-I/O)."""

    def __init__(self) -> None:
        self._pieces: dict[int, bytes] = {}

    def feed(self, channel: int, piece: bytes) -> OmronPacket | None:
        """The packet completed by this piece, or None; FrameError (and a reset) for a bad one."""
        if not 0 <= channel < CHANNELS or len(piece) > CHUNK:
            self._pieces.clear()
            raise FrameError(f"Omron piece on channel {channel} of {len(piece)} bytes")
        self._pieces[channel] = bytes(piece)
        first = self._pieces.get(0)
        if not first:
            return None
        needed = -(-first[0] // CHUNK)
        if any(i not in self._pieces for i in range(needed)):
            return None
        joined = b"".join(self._pieces[i] for i in range(needed))
        self._pieces.clear()
        return parse_omron(joined)


def _bits(value: int, first: int, last: int, width: int) -> int:
    """Bits ``first..last`` counted from the most significant bit of a ``width``-bit number."""
    return value >> (width - last - 1) & ((1 << (last - first + 1)) - 1)


def decode_hem7322t_record(record: bytes) -> DecodedFrame:
    """Decode one 14-byte HEM-7322T stored record (omblepy's layout, docs/devices.md; not seen on a device)."""
    if len(record) < 14:
        raise FrameError(f"HEM-7322T record: {len(record)} bytes, need 14")
    value, width = int.from_bytes(record[:14], "big"), 14 * 8
    fields: dict[str, Any] = {
        "diastolic": _bits(value, 0, 7, width),
        "systolic": _bits(value, 8, 15, width) + 25,
        "year": _bits(value, 16, 23, width) + 2000,
        "pulse_rate": _bits(value, 24, 31, width),
        "body_movement": bool(_bits(value, 32, 32, width)),
        "irregular_heartbeat": bool(_bits(value, 33, 33, width)),
        "month": _bits(value, 34, 37, width),
        "day": _bits(value, 38, 42, width),
        "hours": _bits(value, 43, 47, width),
        "minutes": _bits(value, 52, 57, width),
        "seconds": _bits(value, 58, 63, width),
    }
    when = _record_time(fields)
    fields["iso"] = None if when is None else when.isoformat()
    return DecodedFrame(
        protocol="omron:hem-7322t",
        measurements=_bp_measurements(fields, when),
        fields=fields,
        panel="85354-9",
        panel_display=concept("85354-9").display,
        device_time=when,
    )


def _record_time(fields: dict[str, Any]) -> datetime | None:
    try:
        # The cuff stores seconds up to 63; read anything above 59 as 59 rather than lose the time.
        return datetime(
            fields["year"],
            fields["month"],
            fields["day"],
            fields["hours"],
            fields["minutes"],
            min(fields["seconds"], 59),
        )
    except ValueError:
        return None


def _bp_measurements(fields: dict[str, Any], when: datetime | None) -> tuple[Measurement, ...]:
    flags = tuple(
        name
        for name, on in (
            ("body-movement", fields["body_movement"]),
            ("irregular-pulse", fields["irregular_heartbeat"]),
        )
        if on
    )
    values = (
        ("8480-6", "systolic", "mm[Hg]"),
        ("8462-4", "diastolic", "mm[Hg]"),
        ("8867-4", "pulse_rate", "/min"),
    )
    return tuple(
        Measurement(
            code=code,
            display=concept(code).display,
            value=Decimal(fields[key]),
            value_text=str(fields[key]),
            unit=unit,
            taken_at=when,
            flags=flags,
        )
        for code, key, unit in values
    )
