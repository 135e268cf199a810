"""Constants every layer shares are written once: a second copy would drift from the first unseen."""

from __future__ import annotations

import ast
from pathlib import Path

from clinic_agent.core import model, sync_values
from drivers import terminology
from sync.fhir import codes

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("clinic_agent", "drivers", "sync", "tui")


def _constants(value: object) -> list[str]:
    """Where a string literal is written in our packages."""
    return [
        f"{path.relative_to(ROOT)}:{node.lineno}"
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Constant) and node.value == value
    ]


def _table_lists() -> list[str]:
    """Where the synced tables are listed by hand: a tuple, list or set of exactly their names."""
    wanted = {"residents", "entries", "readings"}
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Tuple | ast.List | ast.Set) and len(node.elts) == len(wanted):
                    values = {e.value for e in node.elts if isinstance(e, ast.Constant)}
                    if values == wanted:
                        found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_the_loinc_system_is_written_once_per_side_of_the_layers() -> None:
    """The drivers import nothing of ours, so they hold their own; everything else takes the model's."""
    written = sorted(where.split(":")[0] for where in _constants("http://loinc.org"))
    assert written == ["clinic_agent/core/model.py", "drivers/terminology.py"]
    assert terminology.LOINC_SYSTEM == model.LOINC == codes.LOINC


def test_the_synced_tables_are_listed_once() -> None:
    assert _table_lists() == []
    assert sync_values.SYNCED_TABLES == ("residents", "entries", "readings")
