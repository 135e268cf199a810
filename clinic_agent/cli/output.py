"""Printing results for people (aligned text) and for scripts (JSON)."""

from __future__ import annotations

import json
import sys
import unicodedata
from typing import Any

_SEX = {"0": "unknown", "1": "male", "2": "female", "9": "unspecified"}


def emit_json(data: Any) -> None:
    """JSON on standard output."""
    print(json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True))


def warn(text: str) -> None:
    """A warning line on standard error."""
    print(f"warning: {text}", file=sys.stderr)


def width(text: str) -> int:
    """Terminal columns a string takes (CJK characters take two)."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def pad(text: str, columns: int) -> str:
    """Left-align text in a column, counting wide characters."""
    return text + " " * max(0, columns - width(text))


def safe(text: Any) -> str:
    """A value as printable text (no control characters from stored data reach the terminal)."""
    return "".join(ch if ch.isprintable() else "?" for ch in str(text))


def table(rows: list[list[str]], headers: list[str]) -> str:
    """A plain aligned table."""
    cells = [[safe(c) for c in row] for row in [headers, *rows]]
    widths = [max(width(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(pad(c, widths[i]) for i, c in enumerate(row)).rstrip() for row in cells]
    return "\n".join(lines)


def resident_line(r: dict[str, Any]) -> list[str]:
    """One resident as a table row."""
    return [r["id_number"], r["name"], _SEX.get(r["sex"], r["sex"]), r["birth_date"], r.get("village") or "", r["id"]]


RESIDENT_HEADERS = ["ID number", "name", "sex", "born", "village", "id"]


def resident_card(r: dict[str, Any]) -> str:
    """A resident's basic information, one field a line."""
    fields = [
        ("name", r["name"]),
        ("ID number", r["id_number"]),
        *([("ID kept because", r["id_number_override"])] if r.get("id_number_override") else []),
        ("sex", _SEX.get(r["sex"], r["sex"])),
        ("born", r["birth_date"]),
        ("health-record no.", r.get("health_record_number") or "-"),
        ("phone", r.get("phone") or "-"),
        ("village", r.get("village") or "-"),
        ("key populations", ", ".join(r.get("key_populations") or []) or "-"),
        ("id", r["id"]),
        ("version", str(r["version"])),
    ]
    return "\n".join(f"{pad(k, 18)} {safe(v)}" for k, v in fields)


def reading_line(reading: dict[str, Any]) -> str:
    """A reading in one line: when, what, values."""
    values = ", ".join(f"{c.get('display') or c['code']} {c['value']} {c['unit']}" for c in reading["components"])
    flag = "  ALERT: " + "; ".join(reading["alerts"]) if reading.get("alerts") else ""
    kept = f"  ⚠ extreme value kept: {reading['extreme_reason']}" if reading.get("extreme_reason") else ""
    return safe(f"{reading['taken_at'][:16].replace('T', ' ')}  {reading['code']}  {values}{flag}{kept}")
