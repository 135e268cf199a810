"""ASTM E1394 messages to measurements: which field of which record becomes what.

Value R.4 (text kept, number parsed), unit R.5, reference range R.6, abnormal flags R.7, status
R.9 (only F and C are final; C supersedes an earlier result), time R.13, else R.12, else O.8, else H.14;
test code = 4th component of R.3; patient from P.3/P.4/P.5; specimen from O.3 and O.16.

``sequence`` is a content key, because E1394 has no message id a device keeps unique: the SHA-256
of the patient ids and, per result, specimen id, test id, value, unit, status and effective time.
A message sent again collapses to one reading; a corrected result (new value, status C) does not.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any, NamedTuple

from drivers.astm.codes import DEFAULT_CODES, CodeTable, Specimen
from drivers.astm.framing import STX, iter_frames, join_frames
from drivers.astm.records import Delimiters, Record, parse_records, split_field, unescape
from drivers.errors import FrameError
from drivers.lab_common import decode_text, normalise_unit, parse_number, person_name, subject_from_ids
from drivers.measurement import DecodedFrame, Measurement, Subject, new_frame, new_measurement
from drivers.terminology import LOINC_SYSTEM

_DATE = re.compile(r"([0-9]{4})([0-9]{2})([0-9]{2})(?:([0-9]{2})(?:([0-9]{2})([0-9]{2})?)?)?")
_FINAL = ("F", "C")
_PLAIN_TEXT_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]")
# The content key's JSON: one encoder, made once (json.dumps with options builds one per call).
_CANONICAL = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


class _Node:
    """A record in its message: the patient and order it falls under, and the comments after it."""

    __slots__ = ("comments", "order", "patient", "record")

    def __init__(self, record: Record, patient: int | None = None, order: int | None = None) -> None:
        self.record = record
        self.patient = patient
        self.order = order
        self.comments: list[Record] = []


@dataclass(slots=True)
class _Tree:
    header: _Node
    terminator: Record
    encoding: str
    patients: list[_Node] = field(default_factory=list)
    orders: list[_Node] = field(default_factory=list)
    results: list[_Node] = field(default_factory=list)
    other: list[Record] = field(default_factory=list)


class _Selection(NamedTuple):
    """The part of a message one DecodedFrame covers: indexes of patients and orders, and results."""

    patients: list[int]
    orders: list[int]
    results: list[_Node]


def decode_astm(data: bytes, *, encoding: str | None = None, codes: CodeTable = DEFAULT_CODES) -> DecodedFrame:
    """Decode one message, framed (E1381 frames, checksums verified) or as plain record text.

    ``subject`` is set only when the message names a single patient; ingest should use
    ``decode_astm_readings``, which never mixes patients.
    """
    trees = _parse(data, encoding)
    if len(trees) != 1:
        raise FrameError(f"input holds {len(trees)} messages; decode_astm_readings splits them")
    tree = trees[0]
    everything = _Selection(list(range(len(tree.patients))), list(range(len(tree.orders))), tree.results)
    return _frame(tree, codes, everything)


def decode_astm_readings(
    data: bytes, *, encoding: str | None = None, codes: CodeTable = DEFAULT_CODES
) -> list[DecodedFrame]:
    """One DecodedFrame per message and patient that has results (results before any P come alone)."""
    frames = []
    for tree in _parse(data, encoding):
        groups: dict[int | None, list[_Node]] = {}
        for node in tree.results:
            groups.setdefault(node.patient, []).append(node)
        for patient, results in groups.items():
            orders = sorted({n.order for n in results if n.order is not None})
            patients = [] if patient is None else [patient]
            frames.append(_frame(tree, codes, _Selection(patients, orders, results)))
    return frames


def result_measurement(record: Record, codes: CodeTable = DEFAULT_CODES) -> Measurement:
    """The measurement of one R record read alone: no order, no header time (the `decode` view)."""
    test = _test(record)
    urine = codes.marks_urine(test[0], test[2])
    tree = _Tree(header=_Node(Record(("H",))), terminator=Record(("L",)), encoding="utf-8")
    return _measurement(_Node(record), _result_fields(record), tree, codes, None, urine, test, {})


def result_test_code(record: Record) -> str:
    """The test code of an R record: R.3 component 4, or the first non-empty component."""
    return _test_code(record)


def try_datetime(record: Record, number: int) -> str | None:
    """Field ``number`` as an ISO date-time, or None when it is empty or not an E1394 date."""
    try:
        moment = _datetime(record, number)
    except FrameError:
        return None
    return None if moment is None else moment.isoformat()


def message_text(data: bytes) -> bytes:
    """The record text of framed bytes (frames joined) or of plain text (line ends made CR)."""
    if STX in data:
        return join_frames(list(iter_frames(data)))
    text = data.replace(b"\r\n", b"\r").replace(b"\n", b"\r")
    bad = _PLAIN_TEXT_CONTROL.search(text)
    if bad:
        raise FrameError(f"control byte 0x{bad.group()[0]:02X} in record text")
    return text


def _parse(data: bytes, encoding: str | None) -> list[_Tree]:
    text, codec = decode_text(message_text(data), encoding)
    records = parse_records(text)
    starts: list[int] = []  # where each message's H record is
    last = "L"  # the type of the record before: a message may start
    for at, record in enumerate(records):
        kind = record.fields[0]
        if kind == "H":
            if starts and last != "L":
                raise FrameError("a new H record before the L record of the message before it")
            starts.append(at)
        elif not starts or last == "L":
            raise FrameError(f"{kind!r} record outside a message (messages start with H, end with L)")
        last = kind
    if not starts:
        raise FrameError("no records")
    if last != "L":
        raise FrameError("message has no L (terminator) record: it is incomplete")
    if len(starts) == 1:
        return [_tree(records, codec)]
    ends = [*starts[1:], len(records)]
    return [_tree(records[start:end], codec) for start, end in zip(starts, ends, strict=True)]


def _tree(records: list[Record], encoding: str) -> _Tree:
    tree = _Tree(header=_Node(records[0]), terminator=records[-1], encoding=encoding)
    target = tree.header
    patient: int | None = None
    order: int | None = None
    for record in records[1:-1]:
        node = _Node(record, patient, order)
        kind = record.fields[0]
        if kind == "P":
            tree.patients.append(node)
            patient, order = len(tree.patients) - 1, None
        elif kind == "O":
            tree.orders.append(node)
            order = len(tree.orders) - 1
        elif kind == "R":
            tree.results.append(node)
        elif kind == "C":
            target.comments.append(record)  # a comment belongs to the record before it
            continue
        else:
            tree.other.append(record)
            continue
        target = node
    return tree


# A result is read straight from its record's list of raw fields, padded to R.13 (padding reads as
# an absent field, "" as ``Record.field`` gives): each field the measurement and the content key need
# is taken by position (R.n is ``fields[n - 1]``), unescaped only when it holds a delimiter, and what a
# result's test code and unit mean is one cached lookup per text.
_RESULT_FIELDS = 13


_RESULT_PADDING = [("",) * (_RESULT_FIELDS - length) for length in range(_RESULT_FIELDS)]


def _result_fields(r: Record) -> tuple[str, ...]:
    fields = r.fields
    return fields if len(fields) >= _RESULT_FIELDS else fields + _RESULT_PADDING[len(fields)]


def _first(raw: str, d: Delimiters) -> str:
    """Component 1 of the first repeat of a raw field, unescaped (``Record.component(n)``)."""
    if d.escape in raw or d.repeat in raw or d.component in raw:
        return split_field(raw, d)[0][0]
    return raw


def _frame(tree: _Tree, codes: CodeTable, chosen: _Selection) -> DecodedFrame:
    header, results = tree.header.record, chosen.results
    device_time = _datetime(header, 14)
    rows = [f if len(f) >= _RESULT_FIELDS else f + _RESULT_PADDING[len(f)] for f in [n.record.fields for n in results]]
    orders: dict[int, _Order] = {}
    tests = [_test_of(f[2], f[4], n.record.delimiters) for n, f in zip(results, rows, strict=True)]
    urine = any(codes.marks_urine(test_code, unit) for test_code, _, unit in tests)
    measurements = tuple(
        [
            _measurement(n, f, tree, codes, device_time, urine, t, orders)
            for n, f, t in zip(results, rows, tests, strict=True)
        ]
    )
    # A subject only when the frame is about one patient: never attach one person's results to another.
    subject = _subject(tree.patients[chosen.patients[0]].record) if len(chosen.patients) == 1 else None
    return new_frame(
        "astm",
        measurements,
        lambda: _fields(tree, chosen),
        None,
        "",
        device_time,
        _content_key(subject, results, rows, measurements, tree),
        subject,
        all("not-final" not in m.flags for m in measurements),
    )


def _test(r: Record) -> tuple[str, str, str | None]:
    """An R record's test code, its unit as sent (R.5) and as UCUM (None when unknown)."""
    return _test_of(r.field(3), r.field(5), r.delimiters)


@lru_cache(maxsize=256)  # an analyser sends the same few test codes and units in every message
def _test_of(universal_test_id: str, units: str, d: Delimiters) -> tuple[str, str, str | None]:
    raw_unit = unescape(units, d)
    return _test_code_of(universal_test_id, d), raw_unit, normalise_unit(raw_unit)


def _measurement(
    node: _Node,
    f: tuple[str, ...],
    tree: _Tree,
    codes: CodeTable,
    header_time: datetime | None,
    urine: bool,
    test: tuple[str, str, str | None],
    orders: dict[int, _Order],
) -> Measurement:
    """One result's measurement; ``orders`` keeps what each order says once it is read."""
    r = node.record
    d = r.delimiters
    test_code, raw_unit, unit = test
    value_text = _first(f[3], d)
    order = _order(tree, node.order, orders, urine) if node.order is not None else None
    lab = codes.lookup(test_code, unit, order.specimen if order else _specimen("", urine))
    value, comparator = parse_number(value_text)
    flags = _status_flags(f[6], f[8], d)
    if comparator:
        flags += (f"comparator:{comparator}",)
    elif not value_text.strip():
        flags += ("no-value",)
    elif value is None:
        flags += ("non-numeric",)
    if lab is None:
        flags += ("unmapped-code" if codes.analyte(test_code) is None else "unmapped-unit",)
    # R.13 (completed), then R.12 (started: the Siemens DCA Vantage fills only that one), then
    # O.8 (collected), then H.14 (message time).
    taken_at = (f[12] and _datetime(r, 13)) or (f[11] and _datetime(r, 12)) or (order and order.time()) or header_time
    if lab:
        code, display, system = lab.loinc, lab.display, LOINC_SYSTEM
    else:
        code, display, system = "", r.component(3, 5) or test_code, ""
    return new_measurement(code, display, value, value_text, unit or raw_unit, taken_at, flags, None, system)


class _Order:
    """What a result reads of its order: the specimen (from O.16), and O.8 only when needed."""

    __slots__ = ("_read", "_time", "record", "specimen")

    def __init__(self, record: Record, urine: bool) -> None:
        self.record = record
        self.specimen = _specimen(record.text(16), urine)
        self._read = False
        self._time: datetime | None = None

    def time(self) -> datetime | None:
        """O.8, read the first time a result falls back to it (a bad O.8 fails only then)."""
        if not self._read:
            self._time, self._read = _datetime(self.record, 8), True
        return self._time


def _order(tree: _Tree, index: int, known: dict[int, _Order], urine: bool) -> _Order:
    found = known.get(index)
    if found is None:
        found = known[index] = _Order(tree.orders[index].record, urine)
    return found


@lru_cache(maxsize=256)  # an analyser sends the same few flags and statuses in every message
def _status_flags(abnormal: str, status: str, d: Delimiters) -> tuple[str, ...]:
    """Flags from R.7 (abnormal flags: every component of every repeat) and R.9 (result status)."""
    flags = [f"abnormal:{flag}" for rep in split_field(abnormal, d) for flag in rep if flag]
    status = unescape(status, d).strip().upper()
    if status:
        flags.append(f"status:{status}")
    if status not in _FINAL:
        flags.append("not-final")
    if status == "C":
        flags.append("corrected")
    return tuple(flags)


def _test_code(r: Record) -> str:
    """R.3 component 4; lenient: the first non-empty component when the instrument omits the ^^^."""
    return _test_code_of(r.field(3), r.delimiters)


@lru_cache(maxsize=256)  # an analyser sends the same few test codes in every message
def _test_code_of(universal_test_id: str, d: Delimiters) -> str:
    components = split_field(universal_test_id, d)[0]
    if len(components) >= 4 and components[3].strip():
        return components[3].strip()
    return next((c.strip() for c in components if c.strip()), "")


def _specimen(descriptor: str, urine: bool) -> Specimen:
    text = descriptor.lower()
    if "urine" in text or "尿" in text:
        return "urine"
    if "serum" in text or "plasma" in text or "血清" in text or "血浆" in text:
        return "serum"
    if "blood" in text or "全血" in text:
        return "blood"
    return "urine" if urine else "serum"


def _datetime(record: Record, number: int) -> datetime | None:
    """E1394 date YYYYMMDD[HH[MM[SS]]] from the first component of a field; None when empty."""
    if not record.field(number):
        return None  # most are: not worth splitting
    text = record.component(number).strip()
    if not text:
        return None
    try:
        return _parse_date(text)
    except ValueError:
        raise FrameError(f"{record.type}.{number} {text!r} is not a date YYYYMMDD[HH[MM[SS]]]") from None


@lru_cache(maxsize=256)  # a message repeats its times (H.14, O.8, each R.12/R.13)
def _parse_date(text: str) -> datetime:
    match = _DATE.fullmatch(text)
    if match is None:
        raise ValueError(text)
    year, month, day, hour, minute, second = (int(part or 0) for part in match.groups())
    # E1394 times are the instrument's local wall clock, with no zone: keep them naive.
    return datetime(year, month, day, hour, minute, second)


def _subject(p: Record) -> Subject | None:
    if not any(p.fields[2:6]):
        return None  # no ids and no name (``P|1``, as many analysers send): nothing to read
    ids = [_first(p.field(n), p.delimiters) for n in (3, 4, 5)]
    family, given, middle = [*p.first_repeat(6), "", ""][:3]
    return subject_from_ids(ids, person_name(family, given, middle))


def _content_key(
    subject: Subject | None,
    results: list[_Node],
    rows: list[tuple[str, ...]],
    measurements: tuple[Measurement, ...],
    tree: _Tree,
) -> str:
    ids = [subject.id_number, subject.health_record_number, subject.other_id] if subject else None
    parts: list[Any] = [ids]
    times: dict[datetime, str] = {}  # a message's results mostly share a time: each written once
    for node, f, m in zip(results, rows, measurements, strict=True):
        order = tree.orders[node.order].record.field(3) if node.order is not None else ""
        taken = m.taken_at
        text = "" if taken is None else times.get(taken) or times.setdefault(taken, taken.isoformat())
        parts.append([order, f[2], f[3], f[4], f[8], text])
    return "sha256:" + hashlib.sha256(_CANONICAL(parts).encode()).hexdigest()[:32]


def _fields(tree: _Tree, chosen: _Selection) -> dict[str, Any]:
    patient_at: dict[int | None, int] = {p: i for i, p in enumerate(chosen.patients)}
    order_at: dict[int | None, int] = {o: i for i, o in enumerate(chosen.orders)}
    header = tree.header.record
    return {
        "encoding": tree.encoding,
        "header": {
            **_json(tree.header),
            "sender_name": header.component(5, 1),
            "sender_version": header.component(5, 2),
            "sender_serial": header.component(5, 3),
        },
        "patients": [_json(tree.patients[p]) for p in chosen.patients],
        "orders": [
            {**_json(o), "patient": patient_at.get(o.patient)} for o in map(tree.orders.__getitem__, chosen.orders)
        ],
        "results": [
            {
                **_json(n),
                "test_code": _test_code(n.record),
                "test_name": n.record.component(3, 5),
                "patient": patient_at.get(n.patient),
                "order": order_at.get(n.order),
            }
            for n in chosen.results
        ],
        "other_records": [r.as_json() for r in tree.other],
        "terminator": tree.terminator.as_json(),
    }


def _json(node: _Node) -> dict[str, Any]:
    data = node.record.as_json()
    if node.comments:
        data["comments"] = [c.as_json() for c in node.comments]
    return data
