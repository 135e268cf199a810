"""Resident ID card numbers (GB 11643-1999) and health-record numbers.

An ID card number is 18 characters: a 6-digit GB/T 2260 address code, the birth date YYYYMMDD,
a 3-digit order code (odd for men, even for women) and an ISO 7064 MOD 11-2 check character.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from clinic_agent.core.errors import InvalidIdNumber, InvalidInput

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK_CHARACTERS = "10X98765432"
# GB/T 2260 province-level codes, plus 91 for the 2023 permanent-residence cards of foreigners.
_PROVINCES = frozenset(
    {11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46}
    | {50, 51, 52, 53, 54, 61, 62, 63, 64, 65, 71, 81, 82, 83, 91}
)
_EARLIEST_BIRTH_YEAR = 1880


@dataclass(frozen=True, slots=True)
class IdNumber:
    """A checked ID card number and what it encodes."""

    number: str
    region_code: str
    birth_date: date
    is_male: bool


def check_character(first17: str) -> str:
    """The ISO 7064 MOD 11-2 check character for the first 17 digits."""
    total = sum(int(digit) * weight for digit, weight in zip(first17, _WEIGHTS, strict=True))
    return _CHECK_CHARACTERS[total % 11]


def normalise_id_number(text: str) -> str:
    """Strip spaces and hyphens and upper-case a trailing x."""
    return re.sub(r"[\s-]", "", text).upper()


def parse_id_number(text: str, *, today: date | None = None, check_digit: bool = True) -> IdNumber:
    """Check an ID card number; raise InvalidIdNumber naming the first check it fails.

    ``check_digit=False`` skips only the last check: a number the doctor keeps with a reason
    (a card or paper record that really shows it) is still checked for everything else.
    """
    number = normalise_id_number(text)
    shown = _shown(number)
    if len(number) == 15 and number.isdigit():
        raise InvalidIdNumber(
            "length", f"ID number {shown} is an old 15-digit number; enter the 18-digit number from the card"
        )
    if len(number) != 18:
        raise InvalidIdNumber("length", f"ID number {shown} has {len(number)} characters; it needs 18")
    if not number[:17].isdigit() or not (number[17].isdigit() or number[17] == "X"):
        raise InvalidIdNumber("characters", f"ID number {shown} must be 17 digits followed by a digit or X")
    if int(number[:2]) not in _PROVINCES:
        raise InvalidIdNumber("region", f"ID number {shown} starts with {number[:2]}, which is not a province code")
    birth = _birth_date(number, shown, today or date.today())
    expected = check_character(number[:17])
    if check_digit and number[17] != expected:
        raise InvalidIdNumber(
            "check_digit",
            f"ID number {shown} fails the check digit: the last character should be {expected}, "
            f"not {number[17]} (a digit is probably mistyped)",
            expected=expected,
        )
    return IdNumber(number=number, region_code=number[:6], birth_date=birth, is_male=int(number[16]) % 2 == 1)


def _birth_date(number: str, shown: str, today: date) -> date:
    try:
        birth = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        raise InvalidIdNumber(
            "birth_date", f"ID number {shown} holds {number[6:14]}, which is not a valid birth date"
        ) from None
    if birth.year < _EARLIEST_BIRTH_YEAR or birth > today:
        raise InvalidIdNumber(
            "birth_date",
            f"ID number {shown} holds the birth date {birth.isoformat()}, which is not plausible",
        )
    return birth


def _shown(number: str) -> str:
    """The number as safe to echo: printable characters only, bounded length."""
    printable = "".join(ch for ch in number if ch.isprintable())[:24]
    return printable or "(empty)"


def check_health_record_number(text: str) -> str:
    """Check a 17-digit health-record number (county, township, village, serial); return it normalised."""
    number = re.sub(r"[\s-]", "", text)
    if len(number) != 17 or not number.isdigit():
        raise InvalidInput(
            f"health-record number {_shown(number)} must be 17 digits (6 county, 3 township, 3 village, 5 serial)"
        )
    if int(number[:2]) not in _PROVINCES:
        raise InvalidInput(f"health-record number {number} does not start with a province code")
    return number
