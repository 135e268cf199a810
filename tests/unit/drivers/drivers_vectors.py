"""Loads the shared byte vectors (tests/vectors/*.json) for the driver tests.

Conventions (docs/devices.md, Test vectors): ``input_hex`` is the exact wire bytes; keys of ``expected`` that
start with ``_`` are annotations the source does not assert; ``derived`` vectors were computed by us.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

VECTORS = Path(__file__).resolve().parents[2] / "vectors"


@dataclass(frozen=True)
class Vector:
    """One vector: its id, wire bytes, asserted expectations and annotations."""

    id: str
    data: bytes
    expected: dict[str, Any]
    annotations: dict[str, Any]
    characteristic: str
    source: str
    derived: bool


def load(name: str) -> list[Vector]:
    """Every vector of ``tests/vectors/<name>``."""
    raw = json.loads((VECTORS / name).read_text(encoding="utf-8"))
    return [
        Vector(
            id=item["id"],
            data=bytes.fromhex(item["input_hex"]),
            expected={k: v for k, v in item["expected"].items() if not k.startswith("_")},
            annotations={k: v for k, v in item["expected"].items() if k.startswith("_")},
            characteristic=item.get("characteristic", ""),
            source=item["source"],
            derived=bool(item.get("derived", False)),
        )
        for item in raw
    ]


def params(name: str) -> list[Any]:
    """``load`` as pytest parameters named by vector id."""
    return [pytest.param(vector, id=vector.id) for vector in load(name)]


def matches(actual: Any, expected: Any) -> bool:
    """Whether ``actual`` has ``expected``: numbers numerically, dicts on the expected keys only."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            key in actual and matches(actual[key], value) for key, value in expected.items() if not key.startswith("_")
        )
    if isinstance(expected, list):
        return isinstance(actual, list) and len(actual) == len(expected) and all(map(matches, actual, expected))
    if isinstance(expected, bool) or expected is None or isinstance(expected, str):
        return actual == expected and type(actual) is type(expected)
    if isinstance(actual, bool) or not isinstance(actual, int | float):
        return False
    return math.isclose(float(actual), float(expected), rel_tol=1e-9, abs_tol=1e-9)
