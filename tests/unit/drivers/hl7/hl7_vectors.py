"""Load tests/vectors/hl7.json (format in docs/devices.md, Test vectors)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

VECTORS = Path(__file__).resolve().parents[3] / "vectors" / "hl7.json"
_NAMES = {"STX": 2, "ETX": 3, "EOT": 4, "ENQ": 5, "ACK": 6, "LF": 10, "CR": 13, "NAK": 21, "ETB": 23}


def load() -> dict[str, dict[str, Any]]:
    """Every vector by id."""
    vectors = json.loads(VECTORS.read_text(encoding="utf-8"))
    return {v["id"]: v for v in vectors}


def asserted(vector: dict[str, Any]) -> dict[str, Any]:
    """The expected values, without the ``_`` annotations the source does not assert."""
    return {k: v for k, v in vector["expected"].items() if not k.startswith("_")}


def input_bytes(vector: dict[str, Any]) -> bytes:
    """The exact input bytes: input_hex when given (input_text is checked to agree), else input_text."""
    text = vector["input_text"]
    for name, byte in _NAMES.items():
        text = text.replace(f"<{name}>", chr(byte))
    data = text.encode(vector.get("input_encoding", "utf-8"))
    if "input_hex" in vector:
        assert bytes.fromhex(vector["input_hex"]) == data, vector["id"]
    return data
