"""A&D Medical BLE extras (UA-651BLE cuff, UC-352BLE scale, UT-201BLE thermometer).

The measurements themselves are standard BLS/WSS/HTS values (``drivers.ble``). Before enabling
0x2A35 indications, write ``SEND_ALL_DATA`` to the custom characteristic so the device sends its
unsent records, and set its clock with ``drivers.ble.current_time.set_date_time`` written to Date
Time 0x2A08 inside the measurement service. The device must be paired first.

``decode_and`` reads a write to the custom characteristic back for the ``decode`` command. The
only command public sources document is "send all data" (docs/devices.md); any other bytes are
refused, since we cannot say what they mean.
"""

from __future__ import annotations

from drivers.errors import FrameError
from drivers.measurement import DecodedFrame

__all__ = ["CUSTOM_CHARACTERISTIC", "CUSTOM_SERVICE", "SEND_ALL_DATA", "decode_and"]

CUSTOM_SERVICE = "233bf000-5a34-1b6d-975c-000d5690abe4"
CUSTOM_CHARACTERISTIC = "233bf001-5a34-1b6d-975c-000d5690abe4"
SEND_ALL_DATA = b"\x02\x00\xe1"  # "send all (stored) data", per the A&D BLE spec as cited by obniz

_COMMANDS = {SEND_ALL_DATA: ("send_all_data", "send all (stored) data")}


def decode_and(data: bytes) -> DecodedFrame:
    """A write to the A&D custom characteristic: which command it is; FrameError for unknown bytes."""
    known = _COMMANDS.get(bytes(data))
    if known is None:
        raise FrameError(f"A&D: {bytes(data).hex(' ').upper() or 'no bytes'} is not a documented command (02 00 E1)")
    return DecodedFrame(
        protocol="and",
        measurements=(),
        fields={
            "service": CUSTOM_SERVICE,
            "characteristic": CUSTOM_CHARACTERISTIC,
            "direction": "write from the client",
            "command": known[0],
            "meaning": known[1],
        },
    )
