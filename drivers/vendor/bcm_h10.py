"""BCM-H10 height/weight/body-composition kiosk module (protocol V4.22, 2020-09-04).

Frame: ``A5 5A LEN body... SUM`` where LEN counts the bytes after it including SUM, and
SUM = (sum of all preceding bytes + 1) & 0xFF; numbers are big-endian. A host command's body is
``DEV FUNC DATA...`` (DEV = measuring mode for body composition); a module response's body is
``ID DATA...``. The response data-id table is not public, so responses decode to raw bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Literal

from drivers._bits import pack_uint
from drivers.errors import FrameError
from drivers.measurement import DecodedFrame

__all__ = [
    "HEADER",
    "BcmCommand",
    "BcmReceiver",
    "BcmResponse",
    "Function",
    "Mode",
    "body_composition",
    "calibrate_height",
    "checksum",
    "decode_bcm_h10",
    "encode_command",
    "encode_response",
    "link_test",
    "measure_height",
    "parse_command",
    "parse_response",
    "read_indicator",
    "tare",
    "weigh",
]

HEADER = b"\xa5\x5a"
DEFAULT_DEVICE = 0x03  # the device id every non-composition example in the document uses


class Function(IntEnum):
    """Command function codes."""

    CALIBRATE_HEIGHT = 0x33
    TARE = 0x34
    MEASURE_HEIGHT = 0x35
    WEIGH = 0x36
    BODY_COMPOSITION = 0x37
    READ_INDICATOR = 0x38
    CALIBRATE_WEIGHT = 0x3B
    LINK_TEST = 0x3C


class Mode(IntEnum):
    """Body-composition measuring modes, sent as DEV."""

    HANDS = 0x01
    FEET = 0x03
    WHOLE_BODY = 0x08


@dataclass(frozen=True, slots=True)
class BcmCommand:
    """A host command."""

    device: int
    function: int
    data: bytes = b""


@dataclass(frozen=True, slots=True)
class BcmResponse:
    """A module response: its id byte and raw data."""

    id: int
    data: bytes = b""


def checksum(data: bytes) -> int:
    """(sum of ``data`` + 1) & 0xFF, over everything from A5 to the last body byte."""
    return (sum(data) + 1) & 0xFF


def _frame(body: bytes) -> bytes:
    if not 1 <= len(body) <= 254:
        raise FrameError(f"BCM-H10 body of {len(body)} bytes")
    head = HEADER + bytes([len(body) + 1]) + body
    return head + bytes([checksum(head)])


def encode_command(function: int, data: bytes = b"", device: int = DEFAULT_DEVICE) -> bytes:
    """A command frame ``A5 5A LEN DEV FUNC DATA SUM``."""
    return _frame(pack_uint(device, 1, "device") + pack_uint(function, 1, "function") + data)


def encode_response(response: BcmResponse) -> bytes:
    """A response frame ``A5 5A LEN ID DATA SUM`` (for a simulator)."""
    return _frame(pack_uint(response.id, 1, "response id") + response.data)


def link_test() -> bytes:
    """Link test (0x3C)."""
    return encode_command(Function.LINK_TEST)


def tare() -> bytes:
    """Zero the scale (0x34)."""
    return encode_command(Function.TARE)


def weigh() -> bytes:
    """Weigh (0x36)."""
    return encode_command(Function.WEIGH)


def measure_height() -> bytes:
    """Measure height (0x35)."""
    return encode_command(Function.MEASURE_HEIGHT)


def read_indicator(item: int) -> bytes:
    """Read one result item (0x38), e.g. 0x01 body-water ratio."""
    return encode_command(Function.READ_INDICATOR, pack_uint(item, 1, "item"))


def calibrate_height(height_mm: int) -> bytes:
    """Calibrate height against a known ``height_mm`` (0x33, u16 big-endian)."""
    return encode_command(Function.CALIBRATE_HEIGHT, pack_uint(height_mm, 2, "height", "big"))


def body_composition(
    sex: Literal["M", "W"], age: int, height_mm: int, weight_100g: int, mode: Mode = Mode.WHOLE_BODY
) -> bytes:
    """Measure body composition (0x37) for a person: sex 'M'/'W', age, height mm, weight in 100 g."""
    if sex not in ("M", "W"):
        raise FrameError(f"BCM-H10 sex must be 'M' or 'W', not {sex!r}")
    data = sex.encode("ascii") + pack_uint(age, 1, "age") + pack_uint(height_mm, 2, "height", "big")
    return encode_command(Function.BODY_COMPOSITION, data + pack_uint(weight_100g, 2, "weight", "big"), mode)


def _body(data: bytes) -> bytes:
    """The checked body of one frame at the start of ``data`` (trailing bytes ignored)."""
    if len(data) < 5 or data[:2] != HEADER:
        raise FrameError("BCM-H10 frame must start A5 5A and hold at least 5 bytes")
    end = 3 + data[2]
    if data[2] < 2 or len(data) < end:
        raise FrameError(f"BCM-H10 frame: LEN {data[2]} but {len(data) - 3} bytes follow it")
    if checksum(data[: end - 1]) != data[end - 1]:
        raise FrameError(f"BCM-H10 checksum {data[end - 1]:#04x}, expected {checksum(data[: end - 1]):#04x}")
    return bytes(data[3 : end - 1])


def parse_command(data: bytes) -> BcmCommand:
    """The command in one frame; FrameError for a bad header, length or checksum."""
    body = _body(data)
    if len(body) < 2:
        raise FrameError("BCM-H10 command needs a device and a function byte")
    return BcmCommand(body[0], body[1], body[2:])


def parse_response(data: bytes) -> BcmResponse:
    """The response in one frame; FrameError for a bad header, length or checksum."""
    body = _body(data)
    return BcmResponse(body[0], body[1:])


def _name(enum: type[IntEnum], value: int) -> str | None:
    return enum(value).name.lower() if value in enum._value2member_map_ else None


def _command_fields(command: BcmCommand) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "device": command.device,
        "function": command.function,
        "function_name": _name(Function, command.function),
        "data_hex": command.data.hex().upper(),
    }
    data = command.data
    if command.function == Function.BODY_COMPOSITION and len(data) >= 6:
        fields.update(
            mode_name=_name(Mode, command.device),
            sex=chr(data[0]),
            age=data[1],
            height_mm=int.from_bytes(data[2:4], "big"),
            weight_100g=int.from_bytes(data[4:6], "big"),
        )
    elif command.function == Function.CALIBRATE_HEIGHT and len(data) >= 2:
        fields["height_mm"] = int.from_bytes(data[:2], "big")
    elif command.function == Function.READ_INDICATOR and data:
        fields["item"] = data[0]
    return fields


def decode_bcm_h10(data: bytes, direction: Literal["command", "response"] | None = None) -> DecodedFrame:
    """Decode one frame; without ``direction``, a body whose second byte is a function code is a command."""
    body = _body(data)
    if direction is None:
        direction = "command" if len(body) >= 2 and body[1] in Function._value2member_map_ else "response"
    fields: dict[str, Any] = {
        "direction": direction,
        "header": "A55A",
        "length": data[2],
        "checksum": data[2 + data[2]],
        "checksum_ok": True,
    }
    if direction == "command":
        fields.update(_command_fields(parse_command(data)))
    else:
        response = parse_response(data)
        fields.update(id=response.id, data_hex=response.data.hex().upper())
    return DecodedFrame(protocol="bcm-h10", measurements=(), fields=fields)


class BcmReceiver:
    """Stream decoder for module responses: resynchronises on ``A5 5A`` and never raises.

    Bytes that cannot start a frame, and frames with a bad checksum, are dropped and counted in
    ``discarded``.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()
        self.discarded = 0

    def feed(self, data: bytes) -> list[BcmResponse]:
        """The responses completed by ``data``."""
        self._buffer += data
        found: list[BcmResponse] = []
        while len(self._buffer) >= 2:
            if self._buffer[:2] != HEADER:
                self._skip(1)
                continue
            if len(self._buffer) < 3 or len(self._buffer) < 3 + self._buffer[2]:
                break
            try:
                found.append(parse_response(bytes(self._buffer)))
            except FrameError:
                self._skip(1)  # a false header or a damaged frame: look for the next A5 5A
                continue
            del self._buffer[: 3 + self._buffer[2]]
        return found

    def _skip(self, count: int) -> None:
        del self._buffer[:count]
        self.discarded += count
