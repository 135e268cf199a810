"""HL7 v2 ORU^R01 (IHE PCD-01 and plain lab results) to measurements.

ORU^R01 needs an OBR before its OBX segments; PID may be absent (a device not bound to a patient).
When MSH-21 declares the IHE PCD profile, every OBX must carry OBX-4, the dotted 11073 containment
``MDS.VMD.Channel.Metric``; the metrics under a blood-pressure compound (MDC 150020) become one
85354-9 panel, with the cuff's pulse rate. Plain HL7 lab messages (no profile) may leave OBX-4
empty; there systolic and diastolic in one OBR form the panel. OBX-14 gives the observation time,
else the nearest containing OBX's OBX-14, else OBR-7.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

from drivers.errors import FrameError
from drivers.hl7 import mdc
from drivers.hl7.ack import ack_preview
from drivers.hl7.message import (
    Encoding,
    Message,
    Segment,
    first_component,
    message_of,
    new_segment,
    parse_datetime,
    parse_message,
    split_field,
    split_message,
    unescape,
)
from drivers.hl7.mllp import unwrap
from drivers.lab_common import (
    loinc_check_digit_ok,
    normalise_unit,
    parse_number,
    person_name,
    subject_from_ids,
)
from drivers.measurement import DecodedFrame, Measurement, Subject, new_frame, new_measurement
from drivers.terminology import LOINC_SYSTEM

PCD_PROFILE = "1.3.6.1.4.1.19376.1.6.1.1.1"
# OBX-11 statuses that are not a result to keep as final: preliminary, pending, partial, deleted,
# wrong, cannot obtain, not asked, order detail. R (unverified) is what PCD devices always send.
_NOT_FINAL = frozenset({"P", "I", "S", "D", "W", "X", "N", "O"})
_NUMERIC_TYPES = frozenset({"NM", "SN", "ST", ""})
_CODING_SYSTEM = re.compile(r"[A-Z0-9_.-]{1,20}")


# The decoders read an ORU straight from each segment's list of raw fields (``split_message``):
# every segment is split once, and the fields a reading needs are read from the lists by position.
# A Segment is built only for the MSH and each PID (whose identifiers and name are read through it),
# and the whole Message only when a frame's ``fields`` are first read. An OBX's list is padded to
# OBX-14 (padding reads as an absent field, "" as ``Segment.field`` gives), an OBR's to OBR-7.
_OBX_FIELDS = 15
_OBR_FIELDS = 8
_OBX_PADDING = [[""] * (_OBX_FIELDS - length) for length in range(_OBX_FIELDS)]  # only ever copied


def _padded(row: list[str], size: int) -> list[str]:
    return row if len(row) >= size else row + [""] * (size - len(row))


class _Obx:
    """One OBX: its raw fields (padded), its OBR and PID, and the measurement made of it."""

    __slots__ = ("fields", "in_panel", "is_container", "measurement", "order", "patient", "raw", "sub_id")

    def __init__(self, raw: list[str], order: int, patient: int | None) -> None:
        self.raw = raw
        self.fields = fields = raw if len(raw) >= _OBX_FIELDS else raw + _OBX_PADDING[len(raw)]
        self.order = order
        self.patient = patient
        self.measurement: Measurement | None = None
        self.in_panel = False  # set when a blood-pressure panel takes it
        self.sub_id = fields[4].strip()
        # A device, channel or compound header: no value type and no value.
        self.is_container = not fields[2].strip() and not fields[5].strip()

    @property
    def label(self) -> str:
        return f"OBX {self.fields[1] or '?'}"


@dataclass(slots=True)
class _Oru:
    msh: Segment
    rows: list[list[str]]
    pcd: bool
    patients: list[Segment] = field(default_factory=list)
    orders: list[tuple[list[str], int | None]] = field(default_factory=list)
    observations: list[_Obx] = field(default_factory=list)

    def message(self) -> Message:
        """The whole message as Segments, for ``fields``."""
        return message_of(self.msh.encoding, self.msh.charset, self.rows)


@dataclass(slots=True)
class _Reading:
    patient: int | None
    members: list[_Obx]
    panel: bool


def decode_hl7(data: bytes) -> DecodedFrame:
    """Decode one ORU^R01 (or ACK) message, bare or MLLP-framed.

    ``panel`` is 85354-9 only when the whole message is one blood-pressure reading; ingest should
    use ``decode_hl7_readings``, which splits a message into its readings.
    """
    message = parse_message(unwrap(data))
    if message.message_type[0] == "ACK":
        return _frame(message.msh, lambda: message_fields(message), (), None, message.control_id, False)
    oru = _read_oru(message.msh, [list(s.fields) for s in message.segments])
    readings = _readings(oru)
    measurements = tuple(o.measurement for o in oru.observations if o.measurement)
    panel = len(readings) == 1 and readings[0].panel
    return _frame(
        message.msh,
        lambda: {**message_fields(message), "ack": ack_preview(message)},
        measurements,
        _only_subject(oru, None),
        message.control_id,
        panel,
    )


def decode_hl7_readings(data: bytes) -> list[DecodedFrame]:
    """One DecodedFrame per reading: each blood-pressure panel, and per patient the other measurements.

    ``sequence`` is MSH-10, suffixed ``#1``, ``#2`` ... when the message holds several readings.
    """
    encoding, charset, rows = split_message(unwrap(data))
    msh = new_segment(tuple(rows[0]), encoding, charset)
    oru = _read_oru(msh, rows)
    readings = _readings(oru)
    control_id = msh.text(10)
    fields = _lazy_fields(oru)
    frames = []
    for number, reading in enumerate(readings, start=1):
        sequence = control_id if len(readings) == 1 else f"{control_id}#{number}"
        measurements = tuple([o.measurement for o in reading.members if o.measurement])
        subject = _only_subject(oru, reading.patient)
        frames.append(_frame(msh, fields, measurements, subject, sequence, reading.panel))
    return frames


def _lazy_fields(oru: _Oru) -> Callable[[], dict[str, Any]]:
    return lambda: message_fields(oru.message())


def _message_type(msh: Segment) -> tuple[str, str]:
    """MSH-9's message code and trigger event, upper-cased: ("ORU", "R01")."""
    raw, e = msh.field(9), msh.encoding
    if e.escape in raw:
        return msh.component(9, 1).strip().upper(), msh.component(9, 2).strip().upper()
    parts = raw.split(e.repetition, 1)[0].split(e.component, 2)  # nothing to unescape: split it here
    return parts[0].strip().upper(), parts[1].strip().upper() if len(parts) > 1 else ""


def _read_oru(msh: Segment, rows: list[list[str]]) -> _Oru:
    """Check an ORU^R01's structure and map its observations; FrameError says what is wrong.

    ``rows`` are the raw fields of every segment, ``msh`` the first of them as a Segment.
    """
    message_type = _message_type(msh)
    if message_type[:2] != ("ORU", "R01"):
        kind = "^".join(message_type)
        raise FrameError(f"unsupported message type {kind}: only ORU^R01 carries results")
    oru = _Oru(msh=msh, rows=rows, pcd=_declares_pcd(msh))
    patients, orders, observations = oru.patients, oru.orders, oru.observations
    for row in rows[1:]:
        name = row[0]
        if name == "OBX":
            if not orders:
                raise FrameError(f"OBX {row[1] if len(row) > 1 and row[1] else '?'} comes before any OBR")
            obx = _Obx(row, len(orders) - 1, orders[-1][1])
            if not obx.sub_id and oru.pcd:
                raise FrameError(f"{obx.label} has no OBX-4 sub-ID, which IHE PCD-01 requires")
            observations.append(obx)
        elif name == "OBR":
            orders.append((_padded(row, _OBR_FIELDS), len(patients) - 1 if patients else None))
        elif name == "PID":
            patients.append(new_segment(tuple(row), msh.encoding, msh.charset))
    if not orders:
        raise FrameError("ORU^R01 has no OBR segment")
    _measure(oru)
    return oru


def _declares_pcd(msh: Segment) -> bool:
    profile = msh.field(21)
    return "IHE PCD" in profile.upper() or PCD_PROFILE in profile


def _measure(oru: _Oru) -> None:
    e, charset = oru.msh.encoding, oru.msh.charset
    times: dict[tuple[int, str], datetime] = {}
    order_times: dict[int, datetime | None] = {}
    for obx in oru.observations:
        stamp = obx.fields[14]
        stamp = first_component(stamp, e, charset) if stamp else ""
        own = _obx_time(stamp, obx) if stamp else None  # most OBX have none
        if obx.is_container:
            if own and obx.sub_id:
                times[(obx.order, obx.sub_id)] = own
            continue
        taken = own or _inherited_time(times, obx) or _order_time(oru, obx.order, order_times)
        obx.measurement = _measurement(obx.fields, taken, e, charset)


def _obx_time(stamp: str, obx: _Obx) -> datetime | None:
    """OBX-14; the OBX's label is written only into the error of a bad one."""
    try:
        return parse_datetime(stamp, "OBX-14")
    except FrameError:
        return parse_datetime(stamp, f"OBX-14 of {obx.label}")  # raises the same error, naming the OBX


def _order_time(oru: _Oru, order: int, known: dict[int, datetime | None]) -> datetime | None:
    """OBR-7 of an order, read the first time an OBX falls back to it (a bad OBR-7 fails only then)."""
    if order in known:
        return known[order]
    e, charset = oru.msh.encoding, oru.msh.charset
    found = known[order] = parse_datetime(first_component(oru.orders[order][0][7], e, charset), "OBR-7")
    return found


def _inherited_time(times: dict[tuple[int, str], datetime], obx: _Obx) -> datetime | None:
    """The time of the nearest containing OBX (by OBX-4, ``1.0.1`` then ``1.0`` then ``1``) that has one."""
    if not times:
        return None
    sub_id, order = obx.sub_id, obx.order
    while "." in sub_id:
        sub_id = sub_id.rpartition(".")[0]
        found = times.get((order, sub_id))
        if found:
            return found
    return None


def _measurement(f: list[str], taken_at: datetime | None, e: Encoding, charset: str) -> Measurement:
    code, display, mdc_code, unit, flags = _meaning(f[3], f[6], f[8], f[11], e, charset)
    value_text = f[5]
    value: Decimal | None
    if f[2] == "NM" and value_text.isascii() and value_text.replace(".", "", 1).isdigit():
        value = Decimal(value_text)  # what devices send: a plain decimal, which _value would read the same
    else:
        value_text, value, value_flags = _value(f[2], value_text, e, charset)
        if value_flags:
            flags = (*value_flags, *flags)
    return new_measurement(
        code, display, value, value_text, unit, taken_at, flags, mdc_code, LOINC_SYSTEM if code else ""
    )


# What OBX-3, OBX-6, OBX-8 and OBX-11 mean depends on their text alone, and a device sends the same
# few codes, units and statuses in every message: each is worked out once (a FrameError is not kept,
# it is raised again each time).


@lru_cache(maxsize=512)
def _meaning(
    code_raw: str, unit_raw: str, abnormal: str, status: str, e: Encoding, charset: str
) -> tuple[str, str, str | None, str, tuple[str, ...]]:
    """LOINC code, display, MDC code, UCUM unit and the flags after the value's, from OBX-3, -6, -8, -11."""
    unit, unit_flags = _unit(unit_raw, e, charset)
    code, display, mdc_code, code_flags = _code(code_raw, unit, e, charset)
    return code, display, mdc_code, unit, (*_status_flags(abnormal, status, e), *code_flags, *unit_flags)


@lru_cache(maxsize=512)
def _code(raw: str, unit: str, e: Encoding, charset: str) -> tuple[str, str, str | None, tuple[str, ...]]:
    """LOINC code, display, MDC code and flags from OBX-3 (its first or its alternate coding)."""
    components = [*split_field(raw, e, charset)[0], *[""] * 6]
    mdc_code = None
    for ident, text, system in (components[0:3], components[3:6]):
        system = system.strip().upper()
        if system == "MDC" or (not system and text.strip().upper().startswith("MDC_")):
            metric = mdc.metric(ident, text)
            if metric is None:
                mdc_code = mdc_code or ident.strip() or None
                continue
            found = metric.loinc_for(unit)
            if found is None:
                return "", text or metric.refid, metric.code, ("unmapped-unit",)
            return found[0], found[1], metric.code, ()
        if system == "LN" and ident.strip():
            return ident.strip(), text, mdc_code, ()
    ident, text, system = (c.strip() for c in components[0:3])
    if not _CODING_SYSTEM.fullmatch(system) and loinc_check_digit_ok(ident):
        # No usable coding system, but the code has LOINC's shape and check digit.
        return ident, text, mdc_code, ("assumed-loinc",)
    return "", text or ident, mdc_code, ("unmapped-code",)


def _unit(raw: str, e: Encoding, charset: str) -> tuple[str, tuple[str, ...]]:
    """UCUM unit from OBX-6 (MDC, UCUM or free text) and flags."""
    ident, text, system = ([*split_field(raw, e, charset)[0], "", ""])[:3]
    ident, text, system = ident.strip(), text.strip(), system.strip().upper()
    if not (ident or text):
        return "", ()
    if system == "MDC" or text.upper().startswith("MDC_DIM") or ident.upper().startswith("MDC_DIM"):
        refid = text if text.upper().startswith("MDC_") else ident if ident.upper().startswith("MDC_") else ""
        ucum = mdc.unit_to_ucum("" if ident.upper().startswith("MDC_") else ident, refid)
        return (ucum, ()) if ucum else (ident or text, ("unmapped-unit",))
    if system == "UCUM":
        return ident or text, ()
    ucum = normalise_unit(ident) or normalise_unit(text)
    return (ucum, ()) if ucum else (ident or text, ("unmapped-unit",))


def _value(kind_raw: str, raw: str, e: Encoding, charset: str) -> tuple[str, Decimal | None, list[str]]:
    """Value text, its number (or None) and flags from OBX-2 and OBX-5 as sent."""
    kind = kind_raw.strip().upper()
    if kind != "SN" and e.repetition not in raw and e.escape not in raw:
        return _number(raw, kind, [])  # one repetition, nothing to unescape: what devices send
    repetitions = raw.split(e.repetition)
    flags = ["repeated-value"] if len(repetitions) > 1 else []
    if kind == "SN":
        sign, number, separator, second = ([*split_field(raw, e, charset)[0], "", "", "", ""])[:4]
        if separator or second:
            return sign + number + separator + second, None, [*flags, "structured"]
        text = (sign if sign != "=" else "") + number
    else:
        text = unescape(repetitions[0], e, charset)
    return _number(text, kind, flags)


def _number(text: str, kind: str, flags: list[str]) -> tuple[str, Decimal | None, list[str]]:
    """The value's number from its text, or the flag that says why there is none."""
    if not text.strip():
        return text, None, [*flags, "no-value"]
    if kind not in _NUMERIC_TYPES:
        return text, None, [*flags, "non-numeric"]
    value, comparator = parse_number(text)
    if comparator:
        return text, None, [*flags, f"comparator:{comparator}"]
    return text, value, flags if value is not None else [*flags, "non-numeric"]


def _status_flags(abnormal: str, result_status: str, e: Encoding) -> tuple[str, ...]:
    """Flags from OBX-8 (abnormal flags, each repetition) and OBX-11 (result status)."""
    flags = [f"abnormal:{flag}" for flag in (unescape(f, e) for f in abnormal.split(e.repetition)) if flag]
    status = result_status.strip().upper()
    if status:
        flags.append(f"status:{status}")
    if status in _NOT_FINAL:
        flags.append("not-final")
    if status == "C":
        flags.append("corrected")
    return tuple(flags)


def _readings(oru: _Oru) -> list[_Reading]:
    """Split the measured observations into readings: BP panels first found, then the rest per patient."""
    readings: list[_Reading] = []
    observations = oru.observations
    e, charset = oru.msh.encoding, oru.msh.charset
    for members in [observations] if len(oru.orders) == 1 else _by_order(oru):
        if not members:
            continue
        for panel in _bp_panels(members, e, charset):
            readings.append(_Reading(members[0].patient, panel, True))
            for obx in panel:
                obx.in_panel = True
    rest: dict[int | None, list[_Obx]] = {}
    for obx in observations:
        if obx.measurement and not obx.in_panel:
            rest.setdefault(obx.patient, []).append(obx)
    readings += [_Reading(patient, members, False) for patient, members in rest.items()]
    if len(readings) < 2:
        return readings  # one reading, as a device sends: nothing to sort
    return sorted(readings, key=lambda r: _rank(observations, r.members[0]))


def _by_order(oru: _Oru) -> list[list[_Obx]]:
    """The observations under each OBR, in order."""
    by_order: list[list[_Obx]] = [[] for _ in oru.orders]
    for obx in oru.observations:
        by_order[obx.order].append(obx)
    return by_order


def _rank(observations: list[_Obx], obx: _Obx) -> int:
    """Where a reading starting at ``obx`` sorts: the first OBX equal to it (same text, OBR, PID, measurement)."""
    for at, other in enumerate(observations):
        if other is obx or (
            other.raw == obx.raw
            and other.order == obx.order
            and other.patient == obx.patient
            and other.measurement == obx.measurement
        ):
            return at
    raise ValueError("not an observation of this message")  # pragma: no cover - members come from the list


def _bp_panels(members: list[_Obx], e: Encoding, charset: str) -> list[list[_Obx]]:
    measured = [o for o in members if o.measurement]
    compounds = [o for o in members if o.is_container and _is_bp_code(o.fields[3], e, charset)]
    panels = [[o for o in measured if o.sub_id.startswith(c.sub_id + ".")] for c in compounds if c.sub_id]
    panels = [p for p in panels if p]
    if not compounds:
        parts = [o for o in measured if o.measurement and o.measurement.code in mdc.BP_COMPONENTS]
        codes = [o.measurement.code for o in parts if o.measurement]
        if codes.count("8480-6") == 1 and codes.count("8462-4") == 1:
            panels = [parts]
    if len(panels) == 1:
        panel = panels[0]
        panel += [o for o in measured if _mdc(o) == mdc.CUFF_PULSE and not any(o is p for p in panel)]
    return panels


@lru_cache(maxsize=256)
def _is_bp_code(raw: str, e: Encoding, charset: str) -> bool:
    """Whether OBX-3 names the blood-pressure compound (MDC 150020 or LOINC 85354-9)."""
    ident, text, system = ([*split_field(raw, e, charset)[0], "", ""])[:3]
    if system.strip().upper() == "LN":
        return ident.strip() == mdc.BP_PANEL
    metric = mdc.metric(ident, text)
    return metric is not None and metric.loinc == mdc.BP_PANEL


def _mdc(obx: _Obx) -> str | None:
    return obx.measurement.mdc_code if obx.measurement else None


def _only_subject(oru: _Oru, patient: int | None) -> Subject | None:
    """The subject of one patient, or of the message when it names exactly one."""
    if patient is None:
        if len(oru.patients) != 1:
            return None
        patient = 0
    return subject_from_pid(oru.patients[patient])


def subject_from_pid(pid: Segment) -> Subject | None:
    """Subject from PID-3 identifiers (every repetition) and PID-5 name."""
    ids = [pid.component(3, 1, rep) for rep in range(1, len(pid.repetitions(3)) + 1)]
    sub = pid.encoding.subcomponent
    family, given, middle = ([*pid.components(5), "", "", ""])[:3]
    return subject_from_ids(ids, person_name(family.split(sub)[0], given, middle))


def _frame(
    msh: Segment,
    fields: Callable[[], dict[str, Any]],
    measurements: tuple[Measurement, ...],
    subject: Subject | None,
    sequence: str,
    panel: bool,
) -> DecodedFrame:
    return new_frame(
        "hl7",
        measurements,
        fields,
        mdc.BP_PANEL if panel else None,
        _PANEL_DISPLAY if panel else "",
        parse_datetime(msh.component(7), "MSH-7"),
        sequence or None,
        subject,
        all("not-final" not in m.flags for m in measurements),
    )


_PANEL_DISPLAY = "Blood pressure panel with all children optional"
_TOP_LEVEL = {"MSH", "PID", "OBR", "MSA", "ERR"}
_PLURAL = {"PID": "patients", "OBR": "orders"}


def message_fields(message: Message) -> dict[str, Any]:
    """Every field, raw as sent, as ``msh_9``, ``pid_3`` ...; OBX as ``observations``; others raw."""
    out: dict[str, Any] = {
        "charset": message.charset,
        "segment_count": len(message.segments),
        "segments": [s.name for s in message.segments],
    }
    observations: list[dict[str, Any]] = []
    lists: dict[str, list[dict[str, str]]] = {}
    other: list[str] = []
    for segment in message.segments:
        values = {f"{segment.name.lower()}_{n}": segment.field(n) for n in range(1, len(segment.fields))}
        if segment.name == "OBX":
            observations.append({**values, "order": len(lists.get("OBR", [])) - 1})
        elif segment.name in _TOP_LEVEL:
            lists.setdefault(segment.name, []).append(values)
        else:
            other.append(segment.raw_text)
    for name, found in lists.items():
        out.update(found[0])
        if len(found) > 1 and name in _PLURAL:
            out[_PLURAL[name]] = found
    if observations:
        out["observations"] = observations
    if other:
        out["other_segments"] = other
    return out
