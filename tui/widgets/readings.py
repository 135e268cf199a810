"""Readings as a person reads them: "血压 142/91 mmHg · 脉搏 77", the local time, the alert flag."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from rich.text import Text

from tui.i18n import Catalogue, fit
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


def short_when(text: str | None, today: date) -> str:
    """An ISO time in five cells: "HH:MM" on ``today`` (the PC's local day), "MM-DD" on an earlier day.

    For narrow lists of the day (home at 80 columns); the full time is one Enter away, in the dialog.
    """
    if not text:
        return ""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return clean(text)[:5]
    if moment.tzinfo is not None:
        moment = moment.astimezone()
    return moment.strftime("%H:%M" if moment.date() == today else "%m-%d")


def named(hint: str | None, t: Catalogue, *, cells: int) -> Text:
    """Whom a device named for a waiting reading, in at most ``cells`` cells.

    The hint is "kind:value" (ingest writes it): a number (ID card, health record, a device's own patient
    id) shows by its last digits, as ID numbers show in every list; a device's user slot by its number; a
    name as given. The assign dialog shows the hint whole.
    """
    kind, _, value = clean(hint).partition(":")
    if not value:
        kind, value = "", kind
    if len(value) > cells and value[:-1].isdigit():
        return Text("…" + value[-(cells - 1) :], no_wrap=True)
    if kind == "user":
        value = t("home.device_user", n=value)
    return Text(fit(value, cells), no_wrap=True)


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


OXIMETRY = ("59408-5", "2708-6", "8867-4")  # SpO2 (pulse oximetry, arterial blood) and pulse, in that order


def measurements(readings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Readings a device took together, SpO2 and pulse, joined into one (its ``ids`` name every reading in it).

    Joined only when the device, the time and whose (resident or the name the device gave) agree and the
    codes do not repeat, so two pulses in the same second stay two rows. The order of the list is kept.
    """
    rows: list[dict[str, Any]] = []
    open_: dict[tuple[str, ...], dict[str, Any]] = {}
    for reading in readings:
        codes = [str(c.get("code")) for c in reading.get("components") or []]
        row = {**reading, "ids": [reading["id"]]}
        if not codes or any(code not in OXIMETRY for code in codes):
            rows.append(row)
            continue
        device = reading.get("device") or {}
        key = tuple(
            str(v or "")
            for v in (
                device.get("id"),
                reading.get("taken_at"),
                reading.get("resident_id"),
                reading.get("subject_hint"),
            )
        )
        first = open_.get(key)
        if first is not None and not {str(c.get("code")) for c in first["components"]} & set(codes):
            first["components"] = sorted(
                [*first["components"], *reading["components"]], key=lambda c: OXIMETRY.index(str(c.get("code")))
            )
            first["ids"].append(reading["id"])
            first["alerts"] = [*(first.get("alerts") or []), *(reading.get("alerts") or [])]
            first["acknowledged"] = bool(first.get("acknowledged") and reading.get("acknowledged"))
            continue
        open_[key] = row
        rows.append(row)
    return rows
