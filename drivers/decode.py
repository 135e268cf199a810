"""Every decoder by protocol name: one table for the ingest path and the `decode` command."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from drivers.astm import decode_astm_readings
from drivers.astm.inspect import inspect_astm
from drivers.ble import SUPPORTED_UUIDS, decode_characteristic
from drivers.ble.body_composition import PAIR_PROTOCOL, decode_pair
from drivers.ble.characteristics import DECODERS
from drivers.contec.cms50 import decode_cms50
from drivers.errors import FrameError
from drivers.hl7 import decode_hl7, decode_hl7_readings
from drivers.ieee11073 import Mder, decode_float, decode_sfloat
from drivers.measurement import DecodedFrame
from drivers.vendor.and_medical import decode_and
from drivers.vendor.bcm_h10 import decode_bcm_h10
from drivers.vendor.omron import decode_omron


def _number(name: str, size: int, decode: Callable[[bytes], Mder]) -> Callable[[bytes], DecodedFrame]:
    """One IEEE 11073 SFLOAT or FLOAT, little-endian as on the wire."""

    def decode_number(data: bytes) -> DecodedFrame:
        if len(data) != size:
            raise FrameError(f"{name} is {size} bytes, not {len(data)}")
        number = decode(data)
        fields = {**number.as_json(), "data_absent_reason": number.data_absent_reason}
        return DecodedFrame(protocol=name.lower(), measurements=(), fields=fields)

    return decode_number


# The `decode` command's view: what a technician pastes, shown as far as it can be read. ASTM
# takes lone frames and records here; the ingest path (``decode``) takes whole messages only.
_ONE: dict[str, Callable[[bytes], DecodedFrame]] = {
    "astm": inspect_astm,
    "hl7": decode_hl7,
    "cms50": decode_cms50,
    "omron": decode_omron,
    "bcm-h10": decode_bcm_h10,
    "and": decode_and,
    "sfloat": _number("SFLOAT", 2, decode_sfloat),
    "float": _number("FLOAT", 4, decode_float),
}
_MANY: dict[str, Callable[[bytes], list[DecodedFrame]]] = {
    "astm": decode_astm_readings,
    "hl7": decode_hl7_readings,
}


def protocols() -> list[str]:
    """Every protocol name the decoders know."""
    return sorted(_ONE) + [f"ble:{uuid:04X}" for uuid in sorted(SUPPORTED_UUIDS)]


def _ble_uuid(protocol: str) -> int | None:
    if not protocol.startswith("ble:"):
        return None
    try:
        return int(protocol[4:], 16)
    except ValueError:
        return None


def _resolve_one(protocol: str) -> Callable[[bytes], DecodedFrame]:
    name = protocol.lower()
    if name == PAIR_PROTOCOL.lower():
        return decode_pair
    uuid = _ble_uuid(name)
    if uuid in SUPPORTED_UUIDS:
        return partial(decode_characteristic, uuid)
    if uuid is not None:
        raise FrameError(f"characteristic {uuid:#06x} is not supported")
    decoder = _ONE.get(name.split(":", 1)[0])
    if decoder is None:
        raise FrameError(f"unknown protocol {protocol!r}; known: {', '.join(protocols())}")
    return decoder


def _resolve_many(protocol: str) -> Callable[[bytes], list[DecodedFrame]]:
    many = _MANY.get(protocol.lower().split(":", 1)[0])
    if many is not None:
        return many
    uuid = _ble_uuid(protocol.lower())
    if uuid in DECODERS:
        # The characteristic's own decoder, not through decode_characteristic: a cuff or an
        # oximeter notifies many times a second, and each layer is a call per frame (issue 13).
        characteristic = DECODERS[uuid]
        return lambda data: [characteristic(bytes(data))]
    one = _resolve_one(protocol)
    return lambda data: [one(data)]


# A link names its protocol on every frame: the name is looked up once (only known names are kept).
_ONE_BY_NAME: dict[str, Callable[[bytes], DecodedFrame]] = {}
_MANY_BY_NAME: dict[str, Callable[[bytes], list[DecodedFrame]]] = {}


def decode_one(protocol: str, data: bytes) -> DecodedFrame:
    """Decode one frame or message into one result (the `decode` command's view)."""
    decoder = _ONE_BY_NAME.get(protocol)
    if decoder is None:
        decoder = _ONE_BY_NAME[protocol] = _resolve_one(protocol)
    return decoder(data)


def decode(protocol: str, data: bytes) -> list[DecodedFrame]:
    """Decode one frame or message into readings, split per patient and per panel where it can hold several."""
    decoder = _MANY_BY_NAME.get(protocol)
    if decoder is None:
        decoder = _MANY_BY_NAME[protocol] = _resolve_many(protocol)
    return decoder(data)


def is_known(protocol: str) -> bool:
    """Whether a protocol name has a decoder."""
    if protocol.lower() == PAIR_PROTOCOL.lower():
        return True
    uuid = _ble_uuid(protocol.lower())
    return uuid in SUPPORTED_UUIDS if uuid is not None else protocol.lower().split(":", 1)[0] in _ONE
