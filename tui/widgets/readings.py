"""Readings as a person reads them: "血压 142/91 mmHg · 脉搏 77", the local time, the alert flag."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rich.text import Text

from tui.i18n import Catalogue
from tui.widgets.text import clean

SYSTOLIC, DIASTOLIC = "8480-6", "8462-4"
UNITS = {"mm[Hg]": "mmHg", "/min": "/min", "Cel": "℃", "[degF]": "℉", "%": "%", "kg": "kg", "cm": "cm"}


def unit_text(unit: Any, t: Catalogue) -> str:
    """A UCUM unit as the language writes it (次/分 in Chinese, /min in English, as the forms do)."""
    code = str(unit)
    words = t(f"unit.{code}")
    return words if words != f"unit.{code}" else UNITS.get(code, clean(unit))


def when(text: str | None, *, year: bool = False) -> str:
    """An ISO time as the PC's local "MM-DD HH:MM" (or with the year)."""
    if not text:
        return ""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return clean(text)[:16]
    if moment.tzinfo is not None:
        moment = moment.astimezone()
    return moment.strftime("%Y-%m-%d %H:%M" if year else "%m-%d %H:%M")


def summary(reading: dict[str, Any], t: Catalogue, *, short: bool = False) -> str:
    """The values of a reading in one line (``short``: without units, for narrow lists)."""
    components = {str(c.get("code")): c for c in reading.get("components") or []}
    parts = []
    if SYSTOLIC in components and DIASTOLIC in components:
        sbp, dbp = components.pop(SYSTOLIC), components.pop(DIASTOLIC)
        unit = unit_text(sbp.get("unit"), t)
        parts.append(f"{t('loinc.bp')} {clean(sbp.get('value'))}/{clean(dbp.get('value'))} {'' if short else unit}")
    for code, c in components.items():
        name = t(f"loinc.{code}")
        if name == f"loinc.{code}":
            name = clean(c.get("display") or code)
        unit = unit_text(c.get("unit"), t)
        parts.append(f"{name} {clean(c.get('value'))} {'' if short else unit}".rstrip())
    return (" " if short else " · ").join(p.rstrip() for p in parts)


def flagged(reading: dict[str, Any], t: Catalogue, *, short: bool = False) -> Text:
    """The summary, in red with a mark when the reading is critical."""
    text = summary(reading, t, short=short)
    if reading.get("alerts"):
        return Text("⚠ " + text, style="bold red")
    return Text(text)
