"""Helpers shared by the ASTM and HL7 codecs: patient identifiers, numbers, units, text decoding."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from drivers.errors import FrameError
from drivers.measurement import Subject

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_ID_SHAPE = re.compile(r"[0-9]{17}[0-9X]")
_RECORD_NUMBER_SHAPE = re.compile(r"[0-9]{17}")
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
_COMPARATOR = re.compile(r"(<=|>=|<|>)\s*(.*)")
# Tried in order when a message does not name its character set: UTF-8 is the modern default,
# GB 18030 is what Chinese instruments use for names, Latin-1 never fails so nothing is lost.
_FALLBACK_CODECS = ("utf-8", "gb18030", "latin-1")

# Free-text units as instruments print them (ISO 2955, vendor spellings), lower-cased, to UCUM.
_UNITS = {
    "mg/dl": "mg/dL",
    "mmol/l": "mmol/L",
    "umol/l": "umol/L",
    "µmol/l": "umol/L",
    "μmol/l": "umol/L",
    "g/dl": "g/dL",
    "g/l": "g/L",
    "mg/l": "mg/L",
    "mg/g": "mg/g",
    "mg/mmol": "mg/mmol",
    "mmol/mol": "mmol/mol",
    "u/l": "U/L",
    "iu/l": "[IU]/L",
    "%": "%",
    "mmhg": "mm[Hg]",
    "mm[hg]": "mm[Hg]",
    "kpa": "kPa",
    "bpm": "/min",
    "/min": "/min",
    "1/min": "/min",
    "beats/min": "/min",
    "cel": "Cel",
    "°c": "Cel",
    "℃": "Cel",
    "degc": "Cel",
    "[degf]": "[degF]",
    "°f": "[degF]",
    "kg": "kg",
    "g": "g",
    "cm": "cm",
    "m": "m",
    "kg/m2": "kg/m2",
    "kg/m^2": "kg/m2",
    "kg/m²": "kg/m2",
    "ng/ml": "ng/mL",
    "pg/ml": "pg/mL",
    "10*9/l": "10*9/L",
    "10^9/l": "10*9/L",
    "10*12/l": "10*12/L",
    "10^12/l": "10*12/L",
    "fl": "fL",
    "pg": "pg",
}


def check_character(first17: str) -> str:
    """The GB 11643-1999 (ISO 7064 MOD 11-2) check character for 17 digits."""
    return _ID_CHECK[sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS, strict=True)) % 11]


def looks_like_id_number(value: str) -> bool:
    """True for 17 digits and a matching check character: a resident ID card number."""
    value = value.strip().upper()
    return bool(_ID_SHAPE.fullmatch(value)) and check_character(value[:17]) == value[17]


def subject_from_ids(ids: list[str], name: str | None) -> Subject | None:
    """Sort identifiers into Subject slots; the first of each kind wins.

    An ID card number (checked) goes to ``id_number``, 17 digits to ``health_record_number``,
    anything else to ``other_id``.
    """
    id_number = record_number = other = None
    for raw in ids:
        value = raw.strip()
        if not value:
            continue
        if looks_like_id_number(value):
            id_number = id_number or value.upper()
        elif _RECORD_NUMBER_SHAPE.fullmatch(value):
            record_number = record_number or value
        else:
            other = other or value
    if not (id_number or record_number or other or name):
        return None
    return Subject(id_number=id_number, health_record_number=record_number, other_id=other, name=name)


def parse_number(text: str) -> tuple[Decimal | None, str | None]:
    """A decimal and its comparator ("<", ">=" ...) from a result value; (None, None) if not a number.

    A value with a comparator is censored, so its number is not returned as if it were exact.
    """
    text = text.strip()
    if text.isascii() and text.replace(".", "", 1).isdigit():
        return Decimal(text), None  # what devices send ("128", "6.1"): _NUMBER's shape, unsigned
    censored = _COMPARATOR.fullmatch(text) if text[:1] in ("<", ">") else None
    if censored and _NUMBER.fullmatch(censored.group(2)):
        return None, censored.group(1)
    if not _NUMBER.fullmatch(text):
        return None, None
    try:
        return Decimal(text), None
    except InvalidOperation:  # pragma: no cover - the pattern admits only valid literals
        return None, None


def normalise_unit(text: str) -> str | None:
    """The UCUM spelling of an instrument's free-text unit, or None if we do not know it."""
    return _UNITS.get(text.strip().lower())


def decode_text(data: bytes, encoding: str | None) -> tuple[str, str]:
    """Decode message bytes with the named codec, or the first fallback that fits; return (text, codec)."""
    if encoding is not None:
        try:
            return data.decode(encoding), encoding
        except (UnicodeDecodeError, LookupError) as exc:
            raise FrameError(f"message is not valid {encoding}: {exc}") from None
    for codec in _FALLBACK_CODECS:
        try:
            return data.decode(codec), codec
        except UnicodeDecodeError:
            continue
    raise FrameError("message text cannot be decoded")  # pragma: no cover - latin-1 decodes anything


def loinc_check_digit_ok(code: str) -> bool:
    """True if ``code`` has the LOINC shape ``digits-check`` with a valid mod-10 check digit."""
    match = re.fullmatch(r"([0-9]{1,7})-([0-9])", code)
    if not match:
        return False
    total = 0
    for position, digit in enumerate(reversed(match.group(1))):
        value = int(digit) * (2 if position % 2 == 0 else 1)
        total += value // 10 + value % 10
    return (10 - total % 10) % 10 == int(match.group(2))


def person_name(family: str, given: str, middle: str = "") -> str | None:
    """A display name: Chinese names family-first without spaces, others "given middle family"."""
    parts = [p.strip() for p in (family, given, middle) if p.strip()]
    if not parts:
        return None
    if not any(ch.isascii() and ch.isalpha() for part in parts for ch in part):
        return "".join(parts)
    return " ".join(p.strip() for p in (given, middle, family) if p.strip())
