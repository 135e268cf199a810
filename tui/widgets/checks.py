"""Field checks: what a person typed in, and the problem with it as a catalogue key (None: fine).

Pure functions, so property tests can throw control characters, escapes, emoji and long pastes at
them; the widgets in ``fields.py`` show the problem under the field as it is typed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from clinic_agent.core.errors import InvalidIdNumber

MAX_TEXT = 200
_PHONE = re.compile(r"\+?[0-9][0-9 -]{4,19}")
_DATE = re.compile(r"(\d{4})-?(\d{1,2})-?(\d{1,2})")


@dataclass(frozen=True, slots=True)
class Problem:
    """Why a field's value is refused: a catalogue key and the values its message names."""

    key: str
    values: dict[str, Any] = field(default_factory=dict)


Check = Callable[[str], Problem | None]


def printable(value: str, max_length: int) -> Problem | None:
    """Bounded, one line, no control characters."""
    if len(value) > max_length:
        return Problem("err.too_long", {"length": len(value), "max": max_length})
    if any(not ch.isprintable() for ch in value):
        return Problem("err.control")
    return None


def guarded(rest: Check, *, required: bool = False, max_length: int = MAX_TEXT) -> Check:
    """Empty (a problem only when ``required``), else bounded and printable, else what ``rest`` says."""

    def check(value: str) -> Problem | None:
        if not value.strip():
            return Problem("err.required") if required else None
        return printable(value, max_length) or rest(value)

    return check


def text(*, required: bool = False, max_length: int = MAX_TEXT) -> Check:
    """Free text."""

    def check(value: str) -> Problem | None:
        if required and not value.strip():
            return Problem("err.required")
        return printable(value, max_length)  # a blank holding a tab is still refused: a control character

    return check


def id_number(*, required: bool = True, today: Callable[[], date] = date.today) -> Check:
    """A resident ID card number: 18 characters, a real birth date, the MOD 11-2 check digit."""

    def rest(value: str) -> Problem | None:
        from clinic_agent.core.idnumber import parse_id_number  # on the first ID typed, not as the sign-in screen opens

        try:
            parse_id_number(value, today=today())
        except InvalidIdNumber as exc:
            return Problem(f"err.id.{exc.check}", {"expected": exc.expected})
        return None

    return guarded(rest, required=required, max_length=40)


def parse_date(value: str) -> date | None:
    """YYYY-MM-DD (or YYYYMMDD); None if it is not a calendar date."""
    match = _DATE.fullmatch(value.strip())
    if not match:
        return None
    try:
        return date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        return None


def day(*, required: bool = False, earliest: date = date(1880, 1, 1), today: Callable[[], date] = date.today) -> Check:
    """A calendar date, not in the future and not before ``earliest``."""

    def rest(value: str) -> Problem | None:
        parsed = parse_date(value)
        if parsed is None:
            return Problem("err.date")
        if parsed > today():
            return Problem("err.date_future")
        if parsed < earliest:
            return Problem("err.date_early", {"earliest": earliest.isoformat()})
        return None

    return guarded(rest, required=required, max_length=20)


def future_day(*, required: bool = False, today: Callable[[], date] = date.today) -> Check:
    """A calendar date today or later (the next follow-up)."""

    def rest(value: str) -> Problem | None:
        parsed = parse_date(value)
        if parsed is None:
            return Problem("err.date")
        if parsed < today():
            return Problem("err.date_past")
        return None

    return guarded(rest, required=required, max_length=20)


def number(low: Decimal | int, high: Decimal | int, *, places: int = 0, required: bool = False) -> Check:
    """A number within a range, with at most ``places`` decimals (0: whole numbers)."""

    def rest(value: str) -> Problem | None:
        try:
            parsed = Decimal(value.strip())
        except InvalidOperation:
            return Problem("err.number")
        if not parsed.is_finite():
            return Problem("err.number")
        exponent = parsed.as_tuple().exponent
        if isinstance(exponent, int) and -exponent > places:
            return Problem("err.whole" if places == 0 else "err.places", {"places": places})
        if not low <= parsed <= high:
            return Problem("err.range", {"low": low, "high": high})
        return None

    return guarded(rest, required=required, max_length=20)


def health_record_number(value: str) -> Problem | None:
    """Empty, or 17 digits."""
    compact = re.sub(r"[\s-]", "", value)
    if not compact:
        return None
    bad = printable(value, 30)
    if bad:
        return bad
    if len(compact) != 17 or not compact.isdigit():
        return Problem("err.hrn")
    return None


phone: Check = guarded(
    lambda value: None if _PHONE.fullmatch(value.strip()) else Problem("err.phone"), max_length=30
)  # empty, or a phone number


def pin(value: str) -> Problem | None:
    """4 to 12 digits."""
    if not value:
        return Problem("err.required")
    if not (value.isascii() and value.isdigit() and 4 <= len(value) <= 12):
        return Problem("err.pin")
    return None


user_name: Check = guarded(
    lambda value: None if re.fullmatch(r"[a-z][a-z0-9_.-]{1,31}", value.strip()) else Problem("err.user_name"),
    required=True,
    max_length=40,
)  # a sign-in name: short, lower-case ASCII
