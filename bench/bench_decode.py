"""Decode benchmark: the agent's decoders against a tight decoder of the same protocol, in one run.

Each protocol's sample is decoded by the agent's ingest entry point (``drivers.decode.decode``:
measurements with LOINC codes, exact values, times, subject; the JSON ``fields`` left unbuilt, as
on the ingest path) and by a tight decoder written here that reads the same values from the same
bytes with nothing else around it (no error messages, no field names, no JSON). The two run in
alternating slices, and the ratio is the median of the per-round ratios.

    goal: every protocol >= 0.3x its tight decoder; BLE blood pressure >= 100k frames/s

Run: .venv/bin/python bench/bench_decode.py [--rounds 7] [--slice 0.2] [--json] [--quick] [--rows FILE]
"""

from __future__ import annotations

import argparse
import json
import statistics
import struct
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from drivers.astm.compose import LabResult, build_result_message
from drivers.ble.blood_pressure import BloodPressure, encode_blood_pressure
from drivers.contec.cms50 import LiveData, encode_live
from drivers.decode import decode
from drivers.hl7.compose import blood_pressure, build_oru_r01
from drivers.ieee11073 import DateTime, Mder

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import Report, arguments

AT = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
RATIO_GOAL = 0.3
BLE_RATE_GOAL = 100_000


def samples() -> dict[str, bytes]:
    """One typical frame per protocol, as the simulators send them."""
    bp = BloodPressure(
        kpa=False,
        systolic=Mder.of(128),
        diastolic=Mder.of(84),
        mean_arterial_pressure=Mder.of(99),
        time_stamp=DateTime.from_datetime(datetime(2026, 11, 25, 8, 0)),
        pulse_rate=Mder.of(71),
    )
    lab = [
        LabResult(test_code=c, value=v, unit=u)
        for c, v, u in (("GLU", "6.1", "mmol/L"), ("HbA1c", "7.0", "%"), ("CHOL", "5.2", "mmol/L"))
    ]
    return {
        "ble:2A35": encode_blood_pressure(bp),
        "cms50": encode_live(LiveData(status=0, pleth=50, bar_graph=5, pulse_rate=72, spo2=97, reserved=b"\xff\xff")),
        "hl7": build_oru_r01(
            control_id="B1", timestamp=AT, observations=blood_pressure("128", "84", "99", "71", at=AT)
        ),
        "astm": build_result_message(results=lab, timestamp=datetime(2026, 11, 25, 8, 0)),
    }


# ---------------------------------------------------------------------------------------------------
# Tight decoders: the same values from the same bytes, written for speed and nothing else.

_BP_HEAD = struct.Struct("<BHHH")
_BLE_TIME = struct.Struct("<HBBBBB")
_U16 = struct.Struct("<H")
_BP_CODES = ("8480-6", "8462-4", "8478-0")


def _sfloat(raw: int) -> Decimal:
    mantissa, exponent = raw & 0x0FFF, raw >> 12
    if mantissa >= 0x800:
        mantissa -= 0x1000
    if exponent >= 8:
        exponent -= 16
    return Decimal(mantissa).scaleb(exponent)


def tight_ble_bp(data: bytes) -> list[tuple[str, Decimal, str, datetime | None]]:
    """0x2A35: flags, three SFLOATs, optional time stamp, pulse, user and status."""
    if len(data) < 7:
        raise ValueError("short")
    flags, *pressures = _BP_HEAD.unpack_from(data)
    pos, when = 7, None
    if flags & 2:
        year, month, day, hour, minute, second = _BLE_TIME.unpack_from(data, pos)
        when = datetime(year, month, day, hour, minute, second) if year else None
        pos += 7
    unit = "kPa" if flags & 1 else "mm[Hg]"
    found = [(code, _sfloat(raw), unit, when) for code, raw in zip(_BP_CODES, pressures, strict=True)]
    if flags & 4:
        found.append(("8867-4", _sfloat(_U16.unpack_from(data, pos)[0]), "/min", when))
    return found


def tight_cms50(data: bytes) -> list[tuple[str, Decimal]]:
    """A new-format live packet: type 0x01, the carrier of the top bits, seven payload bytes."""
    if len(data) != 9 or data[0] != 0x01 or any(b < 0x80 for b in data[1:]):
        raise ValueError("not a live packet")
    carrier = data[1]
    pulse = (data[5] & 0x7F) | (0x80 if carrier & 0x08 else 0)
    spo2 = (data[6] & 0x7F) | (0x80 if carrier & 0x10 else 0)
    return [("59408-5", Decimal(spo2)), ("8867-4", Decimal(pulse))]


_HL7_UNITS = {"266016": "mm[Hg]", "264864": "/min"}
_HL7_CODES = {"150021": "8480-6", "150022": "8462-4", "150023": "8478-0", "149546": "8867-4"}


def _hl7_time(text: str) -> datetime | None:
    if not text:
        return None
    return datetime(int(text[0:4]), int(text[4:6]), int(text[6:8]), int(text[8:10]), int(text[10:12]))


def tight_hl7(data: bytes) -> tuple[str, list[tuple[str, Decimal, str, datetime | None]]]:
    """ORU^R01: MSH-10, and per OBX with a value its MDC code mapped to LOINC, value, unit and time."""
    segments = data.decode().split("\r")
    if not segments[0].startswith("MSH|"):
        raise ValueError("no MSH")
    control_id = segments[0].split("|")[9]
    found = []
    for segment in segments[1:]:
        if not segment.startswith("OBX"):
            continue
        fields = segment.split("|")
        if len(fields) > 5 and fields[5]:
            code = _HL7_CODES.get(fields[3].split("^", 1)[0], "")
            unit = _HL7_UNITS.get(fields[6].split("^", 1)[0], "")
            when = _hl7_time(fields[14]) if len(fields) > 14 else None
            found.append((code, Decimal(fields[5]), unit, when))
    return control_id, found


_ASTM_CODES = {"GLU": "14749-6", "HbA1c": "4548-4", "CHOL": "14647-2"}  # mmol/L serum, %


def tight_astm(data: bytes) -> list[tuple[str, Decimal, str, str]]:
    """Record text: per R record the test code (R.3 component 4) mapped to LOINC, value, unit, status."""
    found = []
    for record in data.decode().split("\r"):
        if record.startswith("R|"):
            fields = record.split("|")
            code = _ASTM_CODES.get(fields[2].split("^")[3], "")
            found.append((code, Decimal(fields[3]), fields[4], fields[8]))
    return found


TIGHT: dict[str, Callable[[bytes], Any]] = {
    "ble:2A35": tight_ble_bp,
    "cms50": tight_cms50,
    "hl7": tight_hl7,
    "astm": tight_astm,
}


# ---------------------------------------------------------------------------------------------------


def _rate(work: Callable[[], Any], seconds: float) -> float:
    count, start = 0, time.perf_counter()
    end = start + seconds
    while True:
        for _ in range(50):
            work()
        count += 50
        now = time.perf_counter()
        if now >= end:
            return count / (now - start)


def _check(protocol: str, data: bytes) -> None:
    """The tight decoder reads the values the agent reads, or the comparison means nothing."""
    ours = sorted((m.code, m.value) for frame in decode(protocol, data) for m in frame.measurements)
    tight = TIGHT[protocol](data)
    rows = tight[1] if protocol == "hl7" else tight
    theirs = sorted((row[0], row[1]) for row in rows)
    if ours != theirs:
        raise SystemExit(f"{protocol}: the tight decoder reads {theirs}, the agent {ours}")


def bench(rounds: int = 7, slice_s: float = 0.2) -> dict[str, dict[str, Any]]:
    """Per protocol: agent and tight frames/s (medians), the median ratio, and whether the goals are met."""
    results: dict[str, dict[str, Any]] = {}
    for protocol, data in samples().items():
        _check(protocol, data)
        tight = TIGHT[protocol]
        ours_rates, tight_rates, ratios = [], [], []
        for _ in range(rounds):
            ours = _rate(lambda: decode(protocol, data), slice_s)  # noqa: B023  (used within the iteration)
            theirs = _rate(lambda: tight(data), slice_s)  # noqa: B023
            ours_rates.append(ours)
            tight_rates.append(theirs)
            ratios.append(ours / theirs)
        ratio = statistics.median(ratios)
        rate = statistics.median(ours_rates)
        met = ratio >= RATIO_GOAL and (protocol != "ble:2A35" or rate >= BLE_RATE_GOAL)
        results[protocol] = {
            "bytes": len(data),
            "frames_s": rate,
            "frames_s_min": min(ours_rates),
            "frames_s_max": max(ours_rates),
            "tight_frames_s": statistics.median(tight_rates),
            "ratio": ratio,
            "ratio_min": min(ratios),
            "ratio_max": max(ratios),
            "goal": f">= {RATIO_GOAL}x" + (f", >= {BLE_RATE_GOAL // 1000}k/s" if protocol == "ble:2A35" else ""),
            "met": met,
        }
    return results


def print_table(results: dict[str, dict[str, Any]]) -> None:
    """The results as a table: rate, tight rate, ratio with its spread, goal and whether it is met."""
    print(f"  {'decode':10s} {'frames/s':>10s} {'tight/s':>10s} {'ratio':>6s} {'[min-max]':>12s}  goal")
    for protocol, r in results.items():
        print(
            f"  {protocol:10s} {r['frames_s']:10.0f} {r['tight_frames_s']:10.0f} {r['ratio']:6.2f}"
            f" [{r['ratio_min']:.2f}-{r['ratio_max']:.2f}]  {r['goal']}: {'met' if r['met'] else 'NOT met'}"
        )


def report(results: dict[str, dict[str, Any]], out: Report) -> None:
    """One row per protocol: frames/s beside the tight decoder's, the goals of issue 13."""
    for protocol, r in results.items():
        out.row(
            f"decode {protocol}",
            unit="frames/s",
            baseline=r["tight_frames_s"],
            baseline_label="tight decoder",
            agent=r["frames_s"],
            median=r["frames_s"],
            spread=(r["frames_s_min"], r["frames_s_max"]),
            ratio=r["ratio"],
            goal=r["goal"],
            met=r["met"],
            note=f"ratio over rounds {r['ratio_min']:.2f}-{r['ratio_max']:.2f}",
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--slice", type=float, default=0.2, help="seconds per slice")
    parser.add_argument("--json", action="store_true")
    arguments(parser)
    args = parser.parse_args()
    results = bench(3, 0.05) if args.quick else bench(args.rounds, args.slice)
    report(results, Report("decode", args.rows))
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print("Decode benchmark (agent vs a tight decoder of the same protocol, same run)")
        print_table(results)


if __name__ == "__main__":
    main()
