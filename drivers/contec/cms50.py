"""Contec CMS50 pulse oximeters: both wire formats, and their readings as measurements.

A serial link picks the decoder by the port settings: ``OldDecoder`` at 19200 8O1 (CMS50D+ up to
firmware 4.5; live data flows unasked) or ``NewDecoder`` at 115200 8N1 (send ``STOP_STORED`` and
``STOP_LIVE`` to reset, then ``START_LIVE`` and ``KEEP_ALIVE`` every few seconds). It feeds bytes,
and turns a live event into measurements with ``live_measurements(event, taken_at=now)``.
``decode_cms50`` decodes one packet or a short run for the ``decode`` command, detecting the format.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from drivers.contec.cms50_new import (
    COMMAND_PREFIX,
    PACKET_LENGTHS,
    Command,
    DeviceText,
    LiveData,
    NewDecoder,
    NewEvent,
    Packet,
    SessionCount,
    SessionDate,
    SessionDuration,
    SessionTime,
    StoredSample,
    StoredSamples,
    encode_command,
    encode_live,
    encode_packet,
    interpret,
    restore_msb,
    session_command,
    set_date_command,
    set_time_command,
)
from drivers.contec.cms50_old import (
    START_RECORDED,
    STOP_RECORDED,
    OldDecoder,
    OldEvent,
    OldLive,
    RecordedSample,
    RecordingHeader,
    encode_old_live,
    encode_recorded_sample,
    encode_recording_header,
)
from drivers.errors import FrameError
from drivers.measurement import DecodedFrame, Measurement, new_frame, new_measurement
from drivers.terminology import LOINC_SYSTEM, concept

__all__ = [
    "START_RECORDED",
    "STOP_RECORDED",
    "Command",
    "DeviceText",
    "Event",
    "LiveData",
    "NewDecoder",
    "OldDecoder",
    "OldLive",
    "Packet",
    "RecordedSample",
    "RecordingHeader",
    "SessionCount",
    "SessionDate",
    "SessionDuration",
    "SessionTime",
    "StoredSample",
    "StoredSamples",
    "absent_reasons",
    "decode_cms50",
    "encode_command",
    "encode_live",
    "encode_old_live",
    "encode_packet",
    "encode_recorded_sample",
    "encode_recording_header",
    "frame_from_events",
    "live_measurements",
    "live_status",
    "sample_measurements",
    "session_command",
    "set_date_command",
    "set_time_command",
]

Event = OldEvent | NewEvent
_NO_SPO2 = (0, 0x7F, 0xFF)  # the devices' "no value" markers (7-bit and 8-bit all-ones, zero)
_NO_PULSE = (0, 0xFF)


def _pair(spo2: int, pulse: int, taken_at: datetime | None, flags: tuple[str, ...] = ()) -> list[Measurement]:
    found = []
    if spo2 not in _NO_SPO2:
        found.append(_measurement(_SPO2, spo2, taken_at, flags))
    if pulse not in _NO_PULSE:
        found.append(_measurement(_PULSE, pulse, taken_at, ()))
    return found


# LOINC code, display, unit and MDC code of the two values an oximeter gives.
_SPO2 = ("59408-5", concept("59408-5").display, "%", "150456")
_PULSE = ("8867-4", concept("8867-4").display, "/min", "149530")
# Each byte value as a Decimal and as text, made once: every value the oximeters send is a byte.
_BYTE_VALUES = tuple((Decimal(value), str(value)) for value in range(256))
_LIVE_LENGTH = PACKET_LENGTHS[0x01]
_new_tuple = tuple.__new__


def _measurement(
    kind: tuple[str, str, str, str], value: int, taken_at: datetime | None, flags: tuple[str, ...]
) -> Measurement:
    code, display, unit, mdc = kind
    number, text = _BYTE_VALUES[value] if 0 <= value < 256 else (Decimal(value), str(value))
    return new_measurement(code, display, number, text, unit, taken_at, flags, mdc)


def live_status(event: OldLive | LiveData) -> tuple[str, ...]:
    """Why a live packet holds no reading: "finger-out", "searching", "probe-error", "no-spo2", ..."""
    status: list[str] = []
    if isinstance(event, OldLive):
        named = (
            ("finger-out", event.finger_out),
            ("searching", event.searching),
            ("probe-error", event.probe_error),
        )
        status += [name for name, on in named if on]
    if event.spo2 in _NO_SPO2:
        status.append("no-spo2")
    if event.pulse_rate in _NO_PULSE:
        status.append("no-pulse-rate")
    return tuple(status)


def absent_reasons(event: OldLive | LiveData) -> dict[str, str]:
    """Why a live packet carries no SpO2 or no pulse reading, by field ("spo2", "pulse_rate").

    The protocols have no "no value" flag: the oximeter sends 0 (0xFF, 0x7F) until it has a value,
    and no living patient has a pulse or SpO2 of 0, so such a value is no reading, never a 0.
    """
    if isinstance(event, OldLive):
        for reason, on in (
            ("finger out", event.finger_out),
            ("probe error", event.probe_error),
            ("searching for a pulse", event.searching),
        ):
            if on:
                return {"spo2": reason, "pulse_rate": reason}
    reasons = {}
    if event.spo2 in _NO_SPO2:
        reasons["spo2"] = f"SpO2 {event.spo2} with the finger in: no value yet"
    if event.pulse_rate in _NO_PULSE:
        reasons["pulse_rate"] = f"pulse rate {event.pulse_rate} with the finger in: no pulse found yet"
    return reasons


def live_measurements(event: OldLive | LiveData, taken_at: datetime | None = None) -> tuple[Measurement, ...]:
    """SpO2 (59408-5) and pulse (8867-4) of a live packet; none while the finger is out, the
    probe searches or reports an error, and none for a value the device marks as absent."""
    if isinstance(event, OldLive) and (event.finger_out or event.searching or event.probe_error):
        return ()
    flags = ("spo2-dropping",) if isinstance(event, OldLive) and event.dropping_spo2 else ()
    return tuple(_pair(event.spo2, event.pulse_rate, taken_at, flags))


def sample_measurements(sample: RecordedSample | StoredSample, taken_at: datetime | None) -> tuple[Measurement, ...]:
    """SpO2 and pulse of a stored sample; the caller computes ``taken_at`` from the session start."""
    if isinstance(sample, StoredSample) and not sample.valid:
        return ()
    return tuple(_pair(sample.spo2, sample.pulse_rate, taken_at))


def _event_fields(events: Sequence[Event], protocol: str, last: OldLive | LiveData | None) -> dict[str, Any]:
    fields: dict[str, Any] = {"format": protocol.partition(":")[2], "packets": [e.as_json() for e in events]}
    if last is not None:
        fields["status"] = list(live_status(last))
        fields["absent"] = absent_reasons(last)
    return fields


def frame_from_events(events: Sequence[Event], protocol: str, taken_at: datetime | None = None) -> DecodedFrame:
    """A frame for a run of events; measurements come from the last live packet only."""
    events = tuple(events)
    last = next((e for e in reversed(events) if isinstance(e, OldLive | LiveData)), None)
    measurements = () if last is None else live_measurements(last, taken_at)
    return DecodedFrame(
        protocol=protocol, measurements=measurements, fields=lambda: _event_fields(events, protocol, last)
    )


def _live_packet(packet: bytes) -> DecodedFrame:
    """One new-format live packet (the live path, 60 a second): ``frame_from_events`` of its event.

    Pulse rate and SpO2 are payload bytes 3 and 4 (packet bytes 5 and 6, their bit 7 in carrier
    bits 3 and 4), as ``interpret`` reads them; the typed event is made only for the fields,
    which only the `decode` command prints.
    """
    carrier = packet[1]
    pulse = packet[5] & 0x7F | (carrier & 0x08) << 4
    spo2 = packet[6] & 0x7F | (carrier & 0x10) << 3
    if spo2 in _NO_SPO2 or pulse in _NO_PULSE:
        measurements = tuple(_pair(spo2, pulse, None))
    else:  # the usual packet, both values there: made in place, a call fewer each (issue 13)
        measurements = (_live_value(_SPO2, spo2), _live_value(_PULSE, pulse))
    return new_frame(
        "cms50:new",
        measurements,
        lambda: frame_from_events([interpret(0x01, restore_msb(packet))], "cms50:new").fields,
    )


def _live_value(kind: tuple[str, str, str, str], value: int) -> Measurement:
    """``_measurement`` of a live packet's byte (no time, no flags), as ``new_measurement`` makes it."""
    code, display, unit, mdc = kind
    number, text = _BYTE_VALUES[value]
    return _new_tuple(Measurement, (code, display, number, text, unit, LOINC_SYSTEM, None, (), mdc))


def _commands(data: bytes) -> list[dict[str, Any]] | None:
    if data in (START_RECORDED, STOP_RECORDED):
        name = "start_recorded" if data == START_RECORDED else "stop_recorded"
        return [{"kind": "command", "command": name, "op_code": data[0], "parameters": []}]
    if not data.startswith(COMMAND_PREFIX):
        return None
    if len(data) % 9 or any(data[i : i + 2] != COMMAND_PREFIX for i in range(0, len(data), 9)):
        raise FrameError("CMS50 commands are 9 bytes each, starting 7D 81")
    found = []
    for start in range(0, len(data), 9):
        op, params = data[start + 2], data[start + 3 : start + 9]
        if op < 0x80 or any(p < 0x80 for p in params):
            raise FrameError("CMS50 command bytes after 7D 81 must have bit 7 set")
        name = Command(op).name.lower() if op in Command._value2member_map_ else "unknown"
        found.append({"kind": "command", "command": name, "op_code": op, "parameters": [p & 0x7F for p in params]})
    return found


def decode_cms50(data: bytes) -> DecodedFrame:
    """Decode one CMS50 packet or a short run (old or new format, or host commands).

    The whole input must be whole packets: any garbage or a truncated packet is a FrameError.
    """
    data = bytes(data)
    if not data:
        raise FrameError("CMS50: no bytes")
    if data[0] == 0x01 and len(data) == _LIVE_LENGTH and min(data[1:]) >= 0x80:
        return _live_packet(data)  # the live path, 60 a second: no command starts 01
    commands = _commands(data)
    if commands is not None:
        return DecodedFrame(
            protocol="cms50:command", measurements=(), fields={"format": "command", "packets": commands}
        )
    if len(data) == PACKET_LENGTHS.get(data[0]) and min(data[1:]) >= 0x80:
        # One whole new-format packet (other than live data): what the stream decoder would make of it.
        return frame_from_events([interpret(data[0], restore_msb(data))], "cms50:new")
    decoder: OldDecoder | NewDecoder = NewDecoder() if data[0] < 0x80 else OldDecoder()
    events: list[Event] = list(decoder.feed(data))
    if decoder.discarded or decoder.pending:
        raise FrameError(f"CMS50: {decoder.discarded + len(decoder.pending)} bytes are not whole packets")
    return frame_from_events(events, "cms50:new" if isinstance(decoder, NewDecoder) else "cms50:old")
