"""HL7 v2 messages: segments, the delimiters MSH declares, escapes, character sets, and the encoder.

Segments end with CR; LF and CRLF (seen in files and some devices) are read as CR. Fields are
kept raw (escaped) and unescaped only when read, after splitting on the delimiters.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import lru_cache

from drivers.errors import FrameError
from drivers.lab_common import decode_text

_SEGMENT_NAME = re.compile(r"[A-Z][A-Z0-9]{2}")
# Segment IDs an ORU or ACK carries, well-formed: not matched against the pattern again.
_COMMON_SEGMENTS = frozenset({"MSH", "PID", "PV1", "ORC", "OBR", "OBX", "NTE", "MSA", "ERR"})
_BODY_SEGMENTS = _COMMON_SEGMENTS - {"MSH"}  # split straight away: an MSH after the first needs MSH-1 inserted
_HEX = re.compile(r"X((?:[0-9A-Fa-f]{2})+)")
_DTM = re.compile(
    r"([0-9]{4})([0-9]{2})([0-9]{2})(?:([0-9]{2})(?:([0-9]{2})(?:([0-9]{2})(?:\.([0-9]{1,4}))?)?)?)?"
    r"(?:([+-])([0-9]{2})([0-9]{2}))?"
)
# HL7 table 0211 (MSH-18) names to Python codecs.
_CHARSETS = {
    "ASCII": "ascii",
    "8859/1": "latin-1",
    "UNICODE UTF-8": "utf-8",
    "UNICODE": "utf-8",
    "GB 18030-2000": "gb18030",
    "GB18030": "gb18030",
}


@dataclass(frozen=True, slots=True)
class Encoding:
    """The field separator (MSH-1) and the encoding characters (MSH-2)."""

    field: str = "|"
    component: str = "^"
    repetition: str = "~"
    escape: str = "\\"
    subcomponent: str = "&"
    truncation: str = ""
    # Hashed once: the decoders' caches take an Encoding in their key, once per field they look up.
    _hash: int = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        characters = (self.field, self.component, self.repetition, self.escape, self.subcomponent, self.truncation)
        object.__setattr__(self, "_hash", hash(characters))

    def __hash__(self) -> int:
        return self._hash

    @property
    def characters(self) -> str:
        """MSH-2 as written: ``^~\\&`` (plus the truncation character from v2.7)."""
        return self.component + self.repetition + self.escape + self.subcomponent + self.truncation

    @classmethod
    def from_msh(cls, segment: str) -> Encoding:
        """Read MSH-1 and MSH-2 from the start of an MSH segment."""
        separator = segment[3:4]
        if not segment.startswith("MSH") or not separator:
            raise FrameError("message does not start with an MSH segment")
        return _encoding(separator + segment[4:].split(separator, 1)[0])


@lru_cache(maxsize=16)  # one Encoding per delimiter set: the decoders' caches keyed on it match it by identity
def _encoding(used: str) -> Encoding:
    """The Encoding of MSH-1 and MSH-2 as written (``|^~\\&``); FrameError if unusable."""
    chars = used[1:]
    if len(chars) not in (4, 5) or len(set(used)) != len(used) or any(c.isalnum() or c.isspace() for c in used):
        raise FrameError(f"MSH declares unusable delimiters {used!r} (expected |^~\\&)")
    return Encoding(used[0], chars[0], chars[1], chars[2], chars[3], chars[4:])


DEFAULT_ENCODING = Encoding()


@dataclass(frozen=True, slots=True)
class Segment:
    """One segment; ``field(n)`` is SEG-n (MSH-1 is the separator, MSH-2 the encoding characters)."""

    fields: tuple[str, ...]
    encoding: Encoding = DEFAULT_ENCODING
    charset: str = "utf-8"
    # Each field split into repetitions of unescaped components once, on first read.
    _split: dict[int, tuple[tuple[str, ...], ...]] = dataclasses.field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    @property
    def name(self) -> str:
        """The segment ID: MSH, PID, OBR, OBX ..."""
        return self.fields[0]

    @property
    def raw_text(self) -> str:
        """The segment as it was sent."""
        rest = self.fields[2:] if self.name == "MSH" else self.fields[1:]
        return self.encoding.field.join([self.name, *rest])

    def field(self, number: int) -> str:
        """Raw text of field ``number``; "" when absent."""
        fields = self.fields
        return fields[number] if 0 < number < len(fields) else ""

    def repetitions(self, number: int) -> list[str]:
        """The raw repetitions of field ``number``."""
        if self.name == "MSH" and number in (1, 2):
            return [self.field(number)]
        return self.field(number).split(self.encoding.repetition)

    def _components(self, number: int, repetition: int) -> tuple[str, ...]:
        split = self._split.get(number)
        if split is None:
            raw = self.field(number)
            if self.fields[0] == "MSH" and number in (1, 2):
                split = ((raw,),)
            else:
                split = split_field(raw, self.encoding, self.charset)
            self._split[number] = split
        return split[repetition - 1] if 0 < repetition <= len(split) else ("",)

    def components(self, number: int, repetition: int = 1) -> list[str]:
        """Components of one repetition of field ``number``, unescaped."""
        return list(self._components(number, repetition))

    def component(self, number: int, index: int = 1, repetition: int = 1) -> str:
        """Component ``index`` (from 1) of field ``number``, subcomponents kept, unescaped."""
        components = self._components(number, repetition)
        return components[index - 1] if 0 < index <= len(components) else ""

    def text(self, number: int) -> str:
        """Field ``number`` unescaped as a whole."""
        return unescape(self.field(number), self.encoding, self.charset)


_new_object = object.__new__
_SEGMENT_SLOTS = tuple(getattr(Segment, name).__set__ for name in ("fields", "encoding", "charset", "_split"))


def new_segment(fields: tuple[str, ...], encoding: Encoding, charset: str, /) -> Segment:
    """``Segment(fields=..., encoding=..., charset=...)`` from positional values, for the decoders.

    The same object the dataclass constructor makes, set slot by slot: a frozen dataclass's
    ``__init__`` goes through ``object.__setattr__`` for each attribute, which a decoder making a
    segment or two per message need not pay (bench/bench_decode.py).
    """
    made: Segment = _new_object(Segment)
    set_fields, set_encoding, set_charset, set_split = _SEGMENT_SLOTS
    set_fields(made, fields)
    set_encoding(made, encoding)
    set_charset(made, charset)
    set_split(made, {})
    return made


@dataclass(frozen=True, slots=True)
class Message:
    """A parsed message: its segments in order, the delimiters and the character set used to read it."""

    segments: tuple[Segment, ...]
    encoding: Encoding
    charset: str

    @property
    def msh(self) -> Segment:
        """The header segment."""
        return self.segments[0]

    def all(self, name: str) -> list[Segment]:
        """Every segment with this ID, in order."""
        return [s for s in self.segments if s.name == name]

    def first(self, name: str) -> Segment | None:
        """The first segment with this ID, or None."""
        return next((s for s in self.segments if s.name == name), None)

    @property
    def message_type(self) -> tuple[str, str]:
        """MSH-9 message code and trigger event, e.g. ("ORU", "R01")."""
        return self.msh.component(9, 1).strip().upper(), self.msh.component(9, 2).strip().upper()

    @property
    def control_id(self) -> str:
        """MSH-10, the sender's id for this message."""
        return self.msh.text(10)


def parse_message(data: bytes) -> Message:
    """Parse a message (no MLLP framing); raise FrameError if it is not HL7 v2."""
    return message_of(*split_message(data))


def split_message(data: bytes) -> tuple[Encoding, str, list[list[str]]]:
    """The delimiters, the character set and every segment's raw fields (MSH-1 inserted, as in Segment).

    The same checks as ``parse_message``, which is this wrapped in Segments; a decoder that reads a
    few fields of each segment reads them from these lists without building a Segment for each.
    MSH is split once: its fields give the delimiters, the character set and (when the text reads
    the same in the declared character set, as plain ASCII does) the first row.
    """
    data = data.lstrip(b"\r\n\t \xef\xbb\xbf")
    first = data.split(b"\r", 1)[0].split(b"\n", 1)[0].decode("latin-1")
    encoding, msh = _read_msh(first)
    text, charset = _decode(data, _CHARSETS.get(_declared(msh, encoding)))
    if "\n" in text:
        text = text.replace("\r\n", "\r").replace("\n", "\r")
    lines = text.split("\r")
    rows = [msh if lines[0] == first else _fields(lines[0], encoding, 1)]
    separator = encoding.field
    for line in lines[1:]:
        if not line:
            continue
        row = line.split(separator)
        rows.append(row if row[0] in _BODY_SEGMENTS else _fields(line, encoding, len(rows) + 1))
    return encoding, charset, rows


def _read_msh(line: str) -> tuple[Encoding, list[str]]:
    """The delimiters MSH declares and its fields (MSH-1 inserted), from one split of the segment."""
    separator = line[3:4]
    if not line.startswith("MSH") or not separator:
        raise FrameError("message does not start with an MSH segment")
    fields = line.split(separator)
    encoding = _encoding(separator + fields[1])
    fields.insert(1, separator)
    return encoding, fields


def _declared(msh: list[str], encoding: Encoding) -> str:
    """MSH-18's first repetition, upper-cased: the character set's name as HL7 table 0211 has it."""
    return msh[18].split(encoding.repetition)[0].strip().upper() if len(msh) > 18 else ""


def message_of(encoding: Encoding, charset: str, rows: list[list[str]]) -> Message:
    """The Message of ``split_message``'s result."""
    segments = tuple(new_segment(tuple(row), encoding, charset) for row in rows)
    return Message(segments=segments, encoding=encoding, charset=charset)


def parse_msh(line: str, charset: str = "utf-8") -> Segment:
    """The MSH segment alone (for acknowledging a message whose body does not parse)."""
    encoding = Encoding.from_msh(line)
    return Segment(fields=tuple(_fields(line, encoding, 1)), encoding=encoding, charset=charset)


def _fields(line: str, encoding: Encoding, index: int) -> list[str]:
    name = line[:3]
    well_formed = name in _COMMON_SEGMENTS or _SEGMENT_NAME.fullmatch(name)
    if not well_formed or line[3:4] not in ("", encoding.field):
        raise FrameError(f"segment {index} does not start with a segment ID: {line[:8]!r}")
    parts = line.split(encoding.field)
    if name == "MSH":
        parts.insert(1, encoding.field)
    elif index == 1:
        raise FrameError(f"message starts with {name}, not MSH")
    return parts


def _decode(data: bytes, declared: str | None) -> tuple[str, str]:
    if declared is not None:
        try:
            return data.decode(declared), declared
        except UnicodeDecodeError:
            pass  # a device that declares ASCII and sends UTF-8: read it rather than lose it
    return decode_text(data, None)


def split_field(raw: str, encoding: Encoding, charset: str) -> tuple[tuple[str, ...], ...]:
    """A raw field as repetitions of unescaped components (a field without delimiters is not split)."""
    e = encoding
    if not (e.component in raw or e.repetition in raw or e.escape in raw):
        return ((raw,),)
    return tuple(tuple(unescape(c, e, charset) for c in rep.split(e.component)) for rep in raw.split(e.repetition))


def first_component(raw: str, encoding: Encoding, charset: str) -> str:
    """Component 1 of the first repetition of a raw field, unescaped (``Segment.component(n)``)."""
    e = encoding
    if not (e.component in raw or e.repetition in raw or e.escape in raw):
        return raw
    return unescape(raw.split(e.repetition, 1)[0].split(e.component, 1)[0], e, charset)


def unescape(text: str, encoding: Encoding = DEFAULT_ENCODING, charset: str = "utf-8") -> str:
    r"""Replace \F\ \S\ \T\ \R\ \E\ \Xhh\ \.br\ and drop \H\ \N\; other sequences stay literal."""
    esc = encoding.escape
    if esc not in text:
        return text
    out: list[str] = []
    pos = 0
    while pos < len(text):
        end = text.find(esc, pos + 1) if text[pos] == esc else -1
        replacement = _escape_value(text[pos + 1 : end], encoding, charset) if end > 0 else None
        if replacement is None:
            out.append(text[pos])
            pos += 1
        else:
            out.append(replacement)
            pos = end + 1
    return "".join(out)


def _escape_value(sequence: str, e: Encoding, charset: str) -> str | None:
    simple = {
        "F": e.field, "S": e.component, "T": e.subcomponent, "R": e.repetition, "E": e.escape,
        "H": "", "N": "", ".br": "\n",
    }.get(sequence)  # fmt: skip
    if simple is not None:
        return simple
    match = _HEX.fullmatch(sequence)
    if not match:
        return None
    raw = bytes.fromhex(match.group(1))
    try:
        return raw.decode(charset)
    except (UnicodeDecodeError, LookupError):
        return raw.decode("latin-1")


def escape(text: str, encoding: Encoding = DEFAULT_ENCODING) -> str:
    """Escape a value for writing inside a field."""
    e = encoding
    out = text.replace(e.escape, f"{e.escape}E{e.escape}")
    for char, code in ((e.field, "F"), (e.component, "S"), (e.subcomponent, "T"), (e.repetition, "R")):
        out = out.replace(char, f"{e.escape}{code}{e.escape}")
    return out.replace("\r", f"{e.escape}X0D{e.escape}").replace("\n", f"{e.escape}X0A{e.escape}")


def parse_datetime(text: str, what: str) -> datetime | None:
    """HL7 DTM ``YYYYMMDD[HH[MM[SS[.S]]]][+/-ZZZZ]``; None when empty; FrameError naming ``what`` if bad."""
    text = text.strip()
    if not text:
        return None
    try:
        return _datetime(text)
    except ValueError:
        raise FrameError(f"{what} {text!r} is not a date-time YYYYMMDD[HHMM[SS]][+ZZZZ]") from None


@lru_cache(maxsize=256)  # a message gives the same time in MSH-7, OBR-7 and its OBX-14s
def _datetime(text: str) -> datetime:
    match = _DTM.fullmatch(text)
    if match is None:
        raise ValueError(text)
    y, mo, d, h, mi, s, frac, sign, zh, zm = match.groups()
    micro = int((frac or "0").ljust(6, "0"))
    zone = None
    if sign:
        offset = timedelta(hours=int(zh), minutes=int(zm))
        zone = timezone(-offset if sign == "-" else offset)
    return datetime(int(y), int(mo), int(d), int(h or 0), int(mi or 0), int(s or 0), micro, tzinfo=zone)


def format_datetime(moment: datetime) -> str:
    """HL7 DTM to the second, with the UTC offset when the time has one."""
    return moment.strftime("%Y%m%d%H%M%S") + (moment.strftime("%z") if moment.tzinfo else "")


class Repeated(tuple[str | Sequence[str], ...]):
    """A field value made of repetitions (each a value or its components)."""

    __slots__ = ()


FieldInput = str | Sequence[str] | Repeated
"""A field to encode: a value, its components, or Repeated(...) repetitions."""


def encode_segment(name: str, fields: Sequence[FieldInput], encoding: Encoding = DEFAULT_ENCODING) -> str:
    """One segment; ``fields[0]`` is SEG-1, except for MSH where it is MSH-3 (MSH-1 and -2 are added)."""
    if not _SEGMENT_NAME.fullmatch(name):
        raise ValueError(f"{name!r} is not a segment ID")
    head = [name, encoding.characters] if name == "MSH" else [name]
    return encoding.field.join(head + [_encode_field(f, encoding) for f in fields]).rstrip(encoding.field)


def _encode_field(value: FieldInput, e: Encoding) -> str:
    if isinstance(value, str):
        return escape(value, e)
    if isinstance(value, Repeated):
        return e.repetition.join(_encode_field(v, e) for v in value)
    return e.component.join(escape(c, e) for c in value)


def encode_message(segments: Sequence[str], charset: str = "utf-8") -> bytes:
    """Segments joined and ended by CR, encoded."""
    return "".join(s + "\r" for s in segments).encode(charset)
