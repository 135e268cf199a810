"""What a technician sees of ASTM bytes: any frame, several frames, a whole transfer or bare records.

The live receiver (``receiver.py``) takes only whole transfers and NAKs a bad frame; this view shows
whatever is there. Per frame: its number, terminator (ETX final, ETB intermediate), the checksum as
sent, whether it is right and the right value when it is not, and the action a receiver takes (ACK
or NAK). Per record: every E1394 field by name, and a measurement for each R record the code table
maps. Frames that join into whole H...L messages are decoded as ``decode_astm`` decodes them.
A frame is cut by its ETX or ETB; text before any STX is bare record text.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

from drivers.astm.codes import DEFAULT_CODES, CodeTable
from drivers.astm.framing import CR, ETB, ETX, LF, RESTRICTED, STX, checksum, ends_with_terminator
from drivers.astm.records import Record, parse_records
from drivers.astm.results import decode_astm, result_measurement, result_test_code, try_datetime
from drivers.errors import FrameError
from drivers.lab_common import decode_text
from drivers.measurement import DecodedFrame, Measurement

_HEX = b"0123456789ABCDEF"
_BETWEEN = frozenset({CR, LF, 0x04, 0x05, 0x06, 0x15})
_DATES = {"H": {14: "message_datetime"}, "O": {7: "requested_datetime", 8: "collection_datetime"}}
_DATES["R"] = {12: "test_started_datetime", 13: "test_completed_datetime"}


def inspect_astm(data: bytes, *, record: bool = False, codes: CodeTable = DEFAULT_CODES) -> DecodedFrame:
    """Everything readable in ``data``; ``fields["valid"]`` is False when a receiver would refuse it.

    ``record`` says the input is bare record text even if it looks otherwise. Raises FrameError
    only when nothing can be read (no frame end, a frame cut inside its checksum, no records).
    """
    data = bytes(data)
    framed = not record and (STX in data or ETX in data or ETB in data)
    frames = _split_frames(data) if framed else []
    text = b"".join(f["_text"] for f in frames if f["_text"] is not None) if framed else _plain(data)
    decoded_text, codec = decode_text(text, None)
    complete = bool(frames) and bool(frames[-1]["terminator"] == "ETX")
    partial = "" if not frames or complete else decoded_text.rsplit("\r", 1)[-1]
    body = decoded_text[: len(decoded_text) - len(partial)]
    records = parse_records(body)
    if not records and not partial:
        raise FrameError("no records")
    problems = [f["reason"] for f in frames if not f["valid"]] + _sequence_problems(frames)
    fields: dict[str, Any] = {
        "input": "frames" if framed else "records",
        "encoding": codec,
        "valid": not problems,
        "frames": [{k: v for k, v in f.items() if not k.startswith("_")} for f in frames],
        "records": [_record_json(r) for r in records],
    }
    if partial:
        fields["partial_record"] = partial  # an ETB frame may end inside a record
    if problems:
        fields["reason"] = "; ".join(problems)
    if frames:
        fields["receiver_action"] = "NAK" if problems else "ACK"
    message = _whole_message(body, records, codes) if not problems and not partial else None
    if message is not None:
        fields.update(message.fields, message_complete=True)
        measurements = message.measurements
    else:
        fields["message_complete"] = False
        measurements = _record_measurements(records, codes)
    return DecodedFrame(protocol="astm", measurements=measurements, fields=fields, final=message is not None)


def _plain(data: bytes) -> bytes:
    text = data.replace(b"\r\n", b"\r").replace(b"\n", b"\r")
    bad = sorted(RESTRICTED.intersection(text) - {LF})
    if bad:
        raise FrameError(f"control byte 0x{bad[0]:02X} in record text")
    if not text.endswith(b"\r"):
        text += b"\r"
    return text


def _split_frames(data: bytes) -> list[dict[str, Any]]:
    frames = []
    pos = 0
    while pos < len(data):
        if data[pos] in _BETWEEN:
            pos += 1
            continue
        end = next((i for i in range(pos, len(data)) if data[i] in (ETX, ETB)), None)
        if end is None:
            raise FrameError(f"bytes at offset {pos} have no <ETX> or <ETB>: not a frame")
        stop = end + 3 if data[end + 1 : end + 3] and all(c in _HEX for c in data[end + 1 : end + 3]) else end + 1
        while stop < len(data) and data[stop] in (CR, LF) and stop - end <= 4:
            stop += 1
        frames.append(_frame(data[pos:stop], end - pos))
        pos = stop
    if not frames:
        raise FrameError("no frames")
    return frames


def _frame(raw: bytes, end: int) -> dict[str, Any]:
    """One frame, read as far as it goes: ``end`` is the offset of its ETX or ETB."""
    has_stx = raw[:1] == bytes([STX])
    body = raw[1 if has_stx else 0 : end + 1]  # FN ... ETX/ETB: what the checksum covers
    tail = raw[end + 1 :]
    sent = tail[:2].decode("ascii", "replace") if len(tail) >= 2 and all(c in _HEX for c in tail[:2]) else None
    correct = checksum(body).decode()
    line_end = tail[2:] if sent is not None else tail
    number = body[0] - 0x30 if body[:1] and body[0] in b"01234567" else None
    text = body[1:-1]
    problems = []
    if not has_stx:
        problems.append("frame does not start with <STX>")
    if number is None:
        problems.append(f"frame number {body[:1]!r} is not a digit 0-7")
    if sent is None:
        problems.append(f"no checksum after <{'ETX' if raw[end] == ETX else 'ETB'}> (it would be {correct})")
    elif sent != correct:
        problems.append(f"checksum {sent} does not match {correct}")
    if sent is not None and line_end != b"\r\n":
        problems.append("frame not terminated by <CR><LF>")
    bad = RESTRICTED.intersection(text)
    if bad:
        problems.append(f"frame text holds restricted byte 0x{min(bad):02X}")
    info: dict[str, Any] = {
        "frame_number": number,
        "terminator": "ETX" if raw[end] == ETX else "ETB",
        "checksum": sent,
        "checksum_ok": sent == correct,
        "checksum_expected": correct,
        "line_end": {b"\r\n": "CR LF", b"\r": "CR", b"\n": "LF", b"": "none"}.get(line_end, line_end.hex()),
        "length_bytes": len(raw),
        "valid": not problems,
        "receiver_action": "NAK" if problems else "ACK",
        "_text": None if number is None else text,
    }
    if problems:
        info["reason"] = "; ".join(problems)
    return info


def _sequence_problems(frames: list[dict[str, Any]]) -> list[str]:
    problems = []
    for before, after in pairwise(frames):
        if before["frame_number"] is None or after["frame_number"] is None:
            continue
        if before["terminator"] == "ETB" and after["frame_number"] != (before["frame_number"] + 1) % 8:
            problems.append(f"frame number {after['frame_number']} follows {before['frame_number']}")
    return problems


def _whole_message(body: str, records: list[Record], codes: CodeTable) -> DecodedFrame | None:
    """The ``decode_astm`` view when the records are exactly one H...L message, else None."""
    complete = records and records[0].type == "H" and ends_with_terminator(body.encode("utf-8", "replace"))
    if not complete or sum(r.type == "H" for r in records) != 1:
        return None
    try:
        return decode_astm(body.encode("utf-8"), encoding="utf-8", codes=codes)
    except FrameError:
        return None  # the records are shown one by one instead


def _record_measurements(records: list[Record], codes: CodeTable) -> tuple[Measurement, ...]:
    found = []
    for r in records:
        if r.type != "R":
            continue
        try:
            found.append(result_measurement(r, codes))
        except FrameError:
            continue  # a date it cannot read: the record's fields still show it
    return tuple(found)


def _record_json(record: Record) -> dict[str, Any]:
    data = record.as_json()
    data["raw_fields"] = list(record.fields)
    if record.type == "H":
        data.update(
            sender_name=record.component(5, 1),
            sender_version=record.component(5, 2),
            sender_serial=record.component(5, 3),
        )
    if record.type == "R":
        data["test_code"] = result_test_code(record)
        data["test_name"] = record.component(3, 5)
    for number, name in _DATES.get(record.type, {}).items():
        data[f"{name}_iso"] = try_datetime(record, number)
    return data
