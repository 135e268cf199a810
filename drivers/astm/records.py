"""ASTM E1394 (CLSI LIS2-A2) records: delimiters from the H record, escapes, fields, and the encoder.

A record is kept as its raw fields, numbered as in E1394 (field 1 is the record type); values are
unescaped only when read, after splitting on the delimiters, so an escaped ``&F&`` never splits a
field. Record types we do not know (M, S, vendor letters) are kept whole.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from drivers.errors import FrameError

# Field names in snake_case after E1394 (python-astm's tables were read to check positions).
FIELD_NAMES: dict[str, tuple[str, ...]] = {
    "H": (
        "record_type", "delimiter_definition", "message_control_id", "access_password",
        "sender_name_or_id", "sender_street_address", "reserved", "sender_telephone",
        "sender_characteristics", "receiver_id", "comment_or_special_instructions", "processing_id",
        "version", "message_datetime",
    ),
    "P": (
        "record_type", "sequence_number", "practice_patient_id", "laboratory_patient_id", "patient_id_3",
        "patient_name", "mothers_maiden_name", "birthdate", "sex", "race", "address", "reserved",
        "telephone", "attending_physician_id", "special_field_1", "special_field_2", "height", "weight",
        "diagnosis", "active_medications", "diet", "practice_field_1", "practice_field_2",
        "admission_discharge_dates", "admission_status", "location", "alternative_code_nature",
        "alternative_code", "religion", "marital_status", "isolation_status", "language",
        "hospital_service", "hospital_institution", "dosage_category",
    ),
    "O": (
        "record_type", "sequence_number", "specimen_id", "instrument_specimen_id", "universal_test_id",
        "priority", "requested_datetime", "collection_datetime", "collection_end_datetime",
        "collection_volume", "collector_id", "action_code", "danger_code", "relevant_clinical_info",
        "specimen_received_datetime", "specimen_descriptor", "ordering_physician", "physician_telephone",
        "user_field_1", "user_field_2", "laboratory_field_1", "laboratory_field_2",
        "results_reported_datetime", "instrument_charge", "instrument_section_id", "report_type",
        "reserved", "collection_location", "nosocomial_infection_flag", "specimen_service",
        "specimen_institution",
    ),
    "R": (
        "record_type", "sequence_number", "universal_test_id", "value", "units", "reference_ranges",
        "abnormal_flags", "abnormality_nature", "result_status", "normatives_changed_datetime",
        "operator_id", "test_started_datetime", "test_completed_datetime", "instrument_id",
    ),
    "C": ("record_type", "sequence_number", "comment_source", "comment_text", "comment_type"),
    "Q": (
        "record_type", "sequence_number", "starting_range_id", "ending_range_id", "universal_test_id",
        "request_time_limits_nature", "beginning_request_datetime", "ending_request_datetime",
        "requesting_physician_name", "requesting_physician_telephone", "user_field_1", "user_field_2",
        "request_status_codes",
    ),
    "L": ("record_type", "sequence_number", "termination_code"),
}  # fmt: skip

_HEX_ESCAPE = re.compile(r"X((?:[0-9A-Fa-f]{2})+)")

JsonField = str | list[str] | dict[str, list[str | list[str]]]
"""A field for JSON: a string, a list of components, or {"repeats": [...]}."""


@dataclass(frozen=True, slots=True)
class Delimiters:
    """Field, repeat, component and escape characters, as declared in H.2."""

    field: str = "|"
    repeat: str = "\\"
    component: str = "^"
    escape: str = "&"
    # Hashed once: the decoders' caches take the Delimiters in their key, once per field they look up.
    _hash: int = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_hash", hash((self.field, self.repeat, self.component, self.escape)))

    def __hash__(self) -> int:
        return self._hash

    @classmethod
    def from_header(cls, header: str) -> Delimiters:
        """The delimiters an H record declares (``H|\\^&|...``); a bare ``H`` keeps the defaults."""
        if header == "H":
            return cls()
        chars = header[1:5]
        if not header.startswith("H") or len(chars) < 4 or header[5:6] not in ("", chars[0]):
            raise FrameError(f"header {header[:8]!r} does not declare four delimiters (H|\\^&)")
        return _declared(chars)

    @property
    def definition(self) -> str:
        """The H.2 text after the field delimiter, e.g. ``\\^&``."""
        return self.repeat + self.component + self.escape


@lru_cache(maxsize=16)  # one Delimiters per set: the decoders' caches keyed on it match it by identity
def _declared(chars: str) -> Delimiters:
    """The Delimiters of four declared characters, checked once per set (a FrameError is not kept)."""
    if len(set(chars)) != 4 or any(c.isascii() and (c.isalnum() or c in "\r\n ") for c in chars):
        raise FrameError(f"header declares unusable delimiters {chars!r}")
    return Delimiters(field=chars[0], repeat=chars[1], component=chars[2], escape=chars[3])


DEFAULT_DELIMITERS = Delimiters()


@dataclass(frozen=True, slots=True)
class Record:
    """One record: raw fields numbered from 1 as in E1394 (``field(1)`` is the record type)."""

    fields: tuple[str, ...]
    delimiters: Delimiters = DEFAULT_DELIMITERS
    # Each field split into unescaped repeats and components once, on first read.
    _split: dict[int, tuple[tuple[str, ...], ...]] = dataclasses.field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    @property
    def type(self) -> str:
        """The record type letter (H, P, O, R, C, Q, L, M, S ...)."""
        return self.fields[0]

    @property
    def raw_text(self) -> str:
        """The record as it was sent."""
        return self.delimiters.field.join(self.fields)

    def field(self, number: int) -> str:
        """Raw text of field ``number`` (E1394 numbering), "" when absent."""
        fields = self.fields
        return fields[number - 1] if 0 < number <= len(fields) else ""

    def _repeats(self, number: int) -> tuple[tuple[str, ...], ...]:
        split = self._split.get(number)
        if split is None:
            split = self._split[number] = split_field(self.field(number), self.delimiters)
        return split

    def first_repeat(self, number: int) -> tuple[str, ...]:
        """The unescaped components of the first repeat of field ``number``."""
        return self._repeats(number)[0]

    def repeats(self, number: int) -> list[list[str]]:
        """Field ``number`` as repeats of unescaped components."""
        return [list(r) for r in self._repeats(number)]

    def component(self, number: int, index: int = 1) -> str:
        """Component ``index`` (from 1) of the first repeat of field ``number``, unescaped."""
        components = self._repeats(number)[0]
        return components[index - 1] if 0 < index <= len(components) else ""

    def text(self, number: int) -> str:
        """Field ``number`` unescaped as a whole (delimiters inside it kept)."""
        return unescape(self.field(number), self.delimiters)

    def value(self, number: int) -> JsonField:
        """Field ``number`` shaped for JSON."""
        if self.type == "H" and number == 2:
            return self.field(2)  # the delimiter definition is not itself delimited
        repeats: list[str | list[str]] = [r[0] if len(r) == 1 else list(r) for r in self._repeats(number)]
        if len(repeats) > 1:
            return {"repeats": repeats}
        return repeats[0]

    def as_json(self) -> dict[str, Any]:
        """Every field under its E1394 name (``field_<n>`` past the named ones); unknown types raw."""
        names = FIELD_NAMES.get(self.type)
        if names is None:
            return {"record_type": self.type, "raw": self.raw_text}
        return {(names[i] if i < len(names) else f"field_{i + 1}"): self.value(i + 1) for i in range(len(self.fields))}


def split_field(raw: str, delimiters: Delimiters) -> tuple[tuple[str, ...], ...]:
    """A raw field as repeats of unescaped components (a field without delimiters is not split)."""
    d = delimiters
    if d.escape in raw or d.repeat in raw or d.component in raw:
        return tuple(tuple(unescape(c, d) for c in r.split(d.component)) for r in raw.split(d.repeat))
    return ((raw,),)


def unescape(text: str, delimiters: Delimiters) -> str:
    """Replace &F& &S& &R& &E& and &Xhh..& escapes; anything else with the escape character stays literal."""
    esc = delimiters.escape
    if esc not in text:
        return text
    out: list[str] = []
    pos = 0
    while pos < len(text):
        end = text.find(esc, pos + 1) if text[pos] == esc else -1
        replacement = _escape_value(text[pos + 1 : end], delimiters) if end > 0 else None
        if replacement is None:
            out.append(text[pos])
            pos += 1
        else:
            out.append(replacement)
            pos = end + 1
    return "".join(out)


def _escape_value(sequence: str, d: Delimiters) -> str | None:
    simple = {"F": d.field, "S": d.component, "R": d.repeat, "E": d.escape}.get(sequence)
    if simple is not None:
        return simple
    match = _HEX_ESCAPE.fullmatch(sequence)
    # Hex escapes carry bytes; Latin-1 maps each to the same code point, which is what E1394 means.
    return bytes.fromhex(match.group(1)).decode("latin-1") if match else None


def escape(text: str, delimiters: Delimiters = DEFAULT_DELIMITERS) -> str:
    """Escape the delimiters in a value so it can be written inside a field."""
    d = delimiters
    out = text.replace(d.escape, f"{d.escape}E{d.escape}")
    for char, code in ((d.field, "F"), (d.component, "S"), (d.repeat, "R")):
        out = out.replace(char, f"{d.escape}{code}{d.escape}")
    return out.replace("\r", f"{d.escape}X0D{d.escape}").replace("\n", f"{d.escape}X0A{d.escape}")


_new_object = object.__new__
_RECORD_SLOTS = ("fields", "delimiters", "_split")
_set_fields, _set_delimiters, _set_split = (getattr(Record, name).__set__ for name in _RECORD_SLOTS)


def new_record(fields: tuple[str, ...], delimiters: Delimiters, /) -> Record:
    """``Record(fields=..., delimiters=...)`` from positional values, for the parsers.

    The same object the dataclass constructor makes, set slot by slot: a frozen dataclass's
    ``__init__`` goes through ``object.__setattr__`` for each attribute and takes a record's
    share of a message's decode from a tenth to a thirtieth (bench/bench_decode.py).
    """
    made: Record = _new_object(Record)
    _set_fields(made, fields)
    _set_delimiters(made, delimiters)
    _set_split(made, {})
    return made


def parse_record(text: str, delimiters: Delimiters = DEFAULT_DELIMITERS) -> Record:
    """Split one record (without its CR) into fields; an H record brings its own delimiters."""
    if not text:
        raise FrameError("empty record")
    if text.startswith("H"):
        delimiters = Delimiters.from_header(text)
    return new_record(tuple(text.split(delimiters.field)), delimiters)


def parse_records(text: str) -> list[Record]:
    """Split CR-separated record text into records; each H record sets the delimiters that follow it."""
    records: list[Record] = []
    delimiters = DEFAULT_DELIMITERS
    for line in text.split("\r"):
        if not line:
            continue  # blank lines between records are layout, not content
        if line[0] == "H":  # parse_record's work, without a call per record
            delimiters = Delimiters.from_header(line)
        records.append(new_record(tuple(line.split(delimiters.field)), delimiters))
    return records


FieldInput = str | Sequence[str] | Sequence[Sequence[str]]
"""A field to encode: a value, its components, or a list of repeats of components (as a list of lists)."""


def encode_record(values: Sequence[FieldInput], delimiters: Delimiters = DEFAULT_DELIMITERS) -> str:
    """One record from its fields, E1394-numbered from 1 (``values[0]`` is the type); values are escaped.

    For an H record the delimiter definition is written from ``delimiters`` and ``values[1]`` is ignored.
    """
    if not values or not isinstance(values[0], str) or not values[0]:
        raise ValueError("a record needs its type")
    d = delimiters
    fields = [values[0], *(_encode_field(v, d) for v in values[1:])]
    if fields[0] == "H":
        fields[1:2] = [d.definition]
    return d.field.join(fields).rstrip(d.field)


def _encode_field(value: FieldInput, d: Delimiters) -> str:
    if isinstance(value, str):
        return escape(value, d)
    if all(isinstance(v, str) for v in value):
        return d.component.join(escape(str(v), d) for v in value)
    return d.repeat.join(_encode_field(list(rep), d) for rep in value)


def encode_message(
    records: Sequence[Sequence[FieldInput]],
    delimiters: Delimiters = DEFAULT_DELIMITERS,
    encoding: str = "utf-8",
) -> bytes:
    """Message text: each record followed by CR, encoded for the line."""
    return "".join(encode_record(r, delimiters) + "\r" for r in records).encode(encoding)
