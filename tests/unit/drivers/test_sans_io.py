"""The codecs stay sans-I/O: no transport, event loop or clock imports, and no way out but FrameError."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

DRIVERS = Path(__file__).resolve().parents[3] / "drivers"
CODECS = [
    "_bits.py",
    "ieee11073.py",
    "terminology.py",
    "profiles.py",
    "ble/_frame.py",
    "ble/_wire.py",
    "ble/blood_pressure.py",
    "ble/body_composition.py",
    "ble/characteristics.py",
    "ble/current_time.py",
    "ble/glucose.py",
    "ble/glucose_context.py",
    "ble/pulse_oximeter.py",
    "ble/racp.py",
    "ble/thermometer.py",
    "ble/uuids.py",
    "ble/weight_scale.py",
    "contec/cms50.py",
    "contec/cms50_new.py",
    "contec/cms50_old.py",
    "vendor/and_medical.py",
    "vendor/bcm_h10.py",
    "vendor/omron.py",
]
FORBIDDEN = {"serial", "asyncio", "bleak", "time", "socket", "threading", "logging", "os", "random"}


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("codec", CODECS)
def test_codecs_import_no_io(codec: str) -> None:
    assert _imported_modules(DRIVERS / codec) & FORBIDDEN == set()


def test_the_check_sees_a_forbidden_import(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text("import asyncio\nfrom time import monotonic\nfrom datetime import time\n", encoding="utf-8")
    assert _imported_modules(probe) & FORBIDDEN == {"asyncio", "time"}


@pytest.mark.parametrize("codec", CODECS)
def test_codecs_raise_only_frame_error(codec: str) -> None:
    tree = ast.parse((DRIVERS / codec).read_text(encoding="utf-8"))
    raised = {
        node.exc.func.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) and isinstance(node.exc.func, ast.Name)
    }
    # terminology.concept is a lookup (KeyError) and uuids.uuid128 checks its argument (ValueError);
    # neither reads device bytes.
    assert raised <= {"FrameError", "KeyError", "ValueError"}
    if codec not in ("terminology.py", "ble/uuids.py"):
        assert raised <= {"FrameError"}
