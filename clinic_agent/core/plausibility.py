"""One plausibility rule for every reading: the ranges devices are held to (``drivers.profiles``).

A device's reading outside them is quarantined by the ingest path (a slipped cuff's 330 mmHg). The
same value typed by hand is refused, naming the range, unless the doctor confirms it with a reason,
which is kept with the reading (``Reading.extreme_reason``; ``reading add --confirm-extreme REASON``).
A unit the ranges do not know for a code they know is refused either way, as a device's would be; a
code no device sends (a respiratory rate counted by hand) has no range to break.
"""

from __future__ import annotations

from collections.abc import Sequence

from clinic_agent.core.errors import ImplausibleValue, InvalidInput
from clinic_agent.core.model import Quantity
from drivers.measurement import DecodedFrame, Measurement
from drivers.profiles import PROFILES
from drivers.terminology import find_concept

_PROFILE = PROFILES["default"]
_UNITS: dict[str, list[str]] = {}
for _code, _unit in _PROFILE.ranges:
    _UNITS.setdefault(_code, []).append(_unit)


def hand_entry(components: Sequence[Quantity], reason: str | None) -> str | None:
    """Check typed values as a device's would be; return the reason to keep (None when none is needed).

    Raises InvalidInput for a unit no device may use with the code, and ImplausibleValue for a value
    outside its range (or a panel that does not hold together) when there is no reason.
    """
    for item in components:
        units = _UNITS.get(item.code)
        if units is not None and item.unit not in units:
            raise InvalidInput(f"unit {item.unit!r} is not one used for {item.code} (use {' or '.join(units)})")
    measurements = tuple(_measurement(item) for item in components if item.code in _UNITS)
    problems = _PROFILE.check(DecodedFrame(protocol="manual", measurements=measurements))
    if not problems:
        return None
    if not reason:
        raise ImplausibleValue("; ".join(problems) + "; nothing was stored")
    return reason


def _measurement(item: Quantity) -> Measurement:
    known = find_concept(item.code)
    display = item.display or (known.display if known else item.code)
    return Measurement(code=item.code, display=display, value=item.decimal, value_text=item.value, unit=item.unit)
