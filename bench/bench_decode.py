"""Decode benchmark: the agent's decoders against a tight decoder of the same protocol, in one run.

Each protocol's sample is decoded by the agent's ingest entry point (``drivers.decode.decode``:
measurements with LOINC codes, exact values, times, subject; the JSON ``fields`` left unbuilt, as
on the ingest path) and by a tight decoder written here that reads the same values from the same
bytes with nothing else around it (no error messages, no field names, no JSON), but the same work:
the values ingest reads (code, value, unit, time, flags, and the sequence of HL7 and ASTM: MSH-10,
the SHA-256 content key), the IEEE 11073 special values and the CMS50's "no value" markers, the
checks the agent makes on the typical path, and a cached time parser as the agent has. ``_check``
compares those values before timing. The two run in alternating slices, and the ratio is the median
of the per-round ratios.

    goal: every protocol >= 0.3x its tight decoder; BLE blood pressure >= 100k frames/s

Run: .venv/bin/python bench/bench_decode.py [--rounds 7] [--slice 0.2] [--json] [--quick] [--rows FILE]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import statistics
import struct
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from functools import lru_cache
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
# Tight decoders: the same values from the same bytes, written for speed and nothing else. Each reads
# what ingest reads from a frame (code, value, unit, time, flags; the sequence for HL7 and ASTM) and
# refuses what the agent refuses on the typical path (a short value, a wrong message type, control
# bytes in record text), so the agent is compared with a decoder doing the same work, not less.

Row = tuple[str, Decimal | None, str, datetime | None, tuple[str, ...]]

_BP_HEAD = struct.Struct("<BHHH")
_BLE_TIME = struct.Struct("<HBBBBB")
_U16 = struct.Struct("<H")
_BP_CODES = ("8480-6", "8462-4", "8478-0")
_BP_SIZES = tuple(7 + 7 * (f >> 1 & 1) + 2 * (f >> 2 & 1) + (f >> 3 & 1) + 2 * (f >> 4 & 1) for f in range(32))
_SFLOAT_SPECIALS = {0x07FF: "nan", 0x0800: "nres", 0x07FE: "positive-infinity", 0x0802: "negative-infinity"}
_BP_STATUS = ((1, "body-movement"), (2, "cuff-too-loose"), (4, "irregular-pulse"), (32, "improper-position"))
_BP_PULSE_RANGE = ((), ("pulse-rate-above-range",), ("pulse-rate-below-range",), ("pulse-rate-range-reserved",))


def _sfloat(raw: int) -> tuple[Decimal | None, tuple[str, ...]]:
    if raw in _SFLOAT_SPECIALS or raw == 0x0801:
        return None, (_SFLOAT_SPECIALS.get(raw, "reserved"),)
    mantissa, exponent = raw & 0x0FFF, raw >> 12
    if mantissa >= 0x800:
        mantissa -= 0x1000
    if exponent >= 8:
        exponent -= 16
    return Decimal(mantissa).scaleb(exponent), ()


def _ble_time(data: bytes, pos: int) -> datetime | None:
    year, month, day, hour, minute, second = _BLE_TIME.unpack_from(data, pos)
    try:
        return datetime(year, month, day, hour, minute, second) if year >= 1582 else None
    except ValueError:
        return None


def _bp_status(status: int) -> tuple[str, ...]:
    return tuple(name for bit, name in _BP_STATUS if status & bit) + _BP_PULSE_RANGE[status >> 3 & 3]


def tight_ble_bp(data: bytes) -> list[Row]:
    """0x2A35: flags, three SFLOATs, optional time stamp, pulse, user and status."""
    if not data or len(data) < _BP_SIZES[data[0] & 0x1F]:
        raise ValueError("short")
    flags, *pressures = _BP_HEAD.unpack_from(data)
    pos, when, pulse = 7, None, None
    status: tuple[str, ...] = ()
    if flags & 2:
        when = _ble_time(data, pos)
        pos += 7
    if flags & 4:
        pulse = _U16.unpack_from(data, pos)[0]
        pos += 2
    if flags & 8:
        pos += 1  # the user id: a subject, not a value
    if flags & 16:
        status = _bp_status(_U16.unpack_from(data, pos)[0])
    unit = "kPa" if flags & 1 else "mm[Hg]"
    found = []
    for code, raw in zip(_BP_CODES, pressures, strict=True):
        value, special = _sfloat(raw)
        found.append((code, value, unit, when, special + status))
    if pulse is not None:
        value, special = _sfloat(pulse)
        found.append(("8867-4", value, "/min", when, special + status))
    return found


_BYTE_DECIMALS = tuple(Decimal(value) for value in range(256))  # made once, as the agent does


def tight_cms50(data: bytes) -> list[Row]:
    """A new-format live packet: type 0x01, the carrier of the top bits, seven payload bytes."""
    if len(data) != 9 or data[0] != 0x01 or any(b < 0x80 for b in data[1:]):
        raise ValueError("not a live packet")
    carrier = data[1]
    pulse = (data[5] & 0x7F) | (0x80 if carrier & 0x08 else 0)
    spo2 = (data[6] & 0x7F) | (0x80 if carrier & 0x10 else 0)
    found: list[Row] = []
    if spo2 not in (0, 0x7F, 0xFF):  # the device's "no value yet"
        found.append(("59408-5", _BYTE_DECIMALS[spo2], "%", None, ()))
    if pulse not in (0, 0xFF):
        found.append(("8867-4", _BYTE_DECIMALS[pulse], "/min", None, ()))
    return found


_HL7_UNITS = {"266016": "mm[Hg]", "264864": "/min"}
_HL7_CODES = {"150021": "8480-6", "150022": "8462-4", "150023": "8478-0", "149546": "8867-4"}
_HL7_NOT_FINAL = frozenset("PISDWXNO")


@lru_cache(maxsize=256)  # as the agent does: a message repeats its times
def _hl7_time(text: str) -> datetime | None:
    if not text:
        return None
    zone = None
    if len(text) > 14:
        offset = timedelta(hours=int(text[15:17]), minutes=int(text[17:19]))
        zone = timezone(-offset if text[14] == "-" else offset)
    return datetime(
        int(text[0:4]), int(text[4:6]), int(text[6:8]), int(text[8:10]), int(text[10:12]), int(text[12:14]), tzinfo=zone
    )


def _hl7_inherited(times: dict[str, datetime], sub_id: str) -> datetime | None:
    while "." in sub_id:
        sub_id = sub_id.rpartition(".")[0]
        if sub_id in times:
            return times[sub_id]
    return None


def tight_hl7(data: bytes) -> tuple[str, list[Row]]:
    """ORU^R01: MSH-10, and per OBX with a value its MDC code mapped to LOINC, value, unit, time, status.

    The time is OBX-14, else that of the containing OBX (by OBX-4 sub-ID), else OBR-7.
    """
    segments = data.decode().split("\r")
    msh = segments[0].split("|")
    if msh[0] != "MSH" or msh[1] != "^~\\&" or not msh[8].startswith("ORU^R01"):
        raise ValueError("not an ORU^R01")
    found: list[Row] = []
    order_time, times = None, dict[str, datetime]()
    for segment in segments[1:]:
        fields = segment.split("|")
        if fields[0] == "OBR":
            order_time, times = _hl7_time(fields[7]) if len(fields) > 7 else None, {}
        elif fields[0] == "OBX":
            fields += [""] * (15 - len(fields))
            when = _hl7_time(fields[14])
            if not fields[2] and not fields[5]:
                if when:
                    times[fields[4]] = when
                continue
            code = _HL7_CODES.get(fields[3].split("^", 1)[0], "")
            unit = _HL7_UNITS.get(fields[6].split("^", 1)[0], "")
            status = fields[11]
            flags = (f"status:{status}", "not-final") if status in _HL7_NOT_FINAL else (f"status:{status}",)
            when = when or _hl7_inherited(times, fields[4]) or order_time
            found.append((code, Decimal(fields[5]), unit, when, flags))
    return msh[9], found


_ASTM_CODES = {"GLU": "14749-6", "HbA1c": "4548-4", "CHOL": "14647-2"}  # mmol/L serum, %
_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_ASTM_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]")


@lru_cache(maxsize=256)
def _astm_time(text: str) -> datetime | None:
    if not text:
        return None
    return datetime(int(text[0:4]), int(text[4:6]), int(text[6:8]), int(text[8:10]), int(text[10:12]), int(text[12:14]))


def tight_astm(data: bytes) -> tuple[str, list[Row]]:
    """Record text from H to L: per R record the test code (R.3 component 4) mapped to LOINC, value,
    unit, time (R.13, R.12, O.8, H.14) and status; the sequence is the agent's content key."""
    if _ASTM_CONTROL.search(data):
        raise ValueError("control byte in record text")
    records = data.decode().split("\r")
    header = records[0].split("|")
    if header[0] != "H" or header[1] != "\\^&" or not records[-2].startswith("L"):
        raise ValueError("not one H..L message")
    header_time = _astm_time(header[13]) if len(header) > 13 else None
    order_id, order_time = "", None
    found: list[Row] = []
    key: list[Any] = [None]
    for record in records[1:-2]:
        fields = record.split("|")
        if fields[0] == "O":
            order_id, order_time = fields[2], _astm_time(fields[7]) if len(fields) > 7 else None
        elif fields[0] == "R":
            fields += [""] * (13 - len(fields))
            code = _ASTM_CODES.get(fields[2].split("^")[3], "")
            when = _astm_time(fields[12]) or _astm_time(fields[11]) or order_time or header_time
            status = fields[8]
            flags = (f"status:{status}",) if status in ("F", "C") else (f"status:{status}", "not-final")
            found.append((code, Decimal(fields[3]), fields[4], when, flags))
            key.append([order_id, fields[2], fields[3], fields[4], status, when.isoformat() if when else ""])
    return "sha256:" + hashlib.sha256(_JSON(key).encode()).hexdigest()[:32], found


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
    frames = decode(protocol, data)
    ours = sorted((m.code, m.value, m.unit, m.taken_at, m.flags) for f in frames for m in f.measurements)
    tight = TIGHT[protocol](data)
    if protocol in ("hl7", "astm"):
        sequence, tight = tight
        if [f.sequence for f in frames] != [sequence]:
            raise SystemExit(f"{protocol}: the tight decoder's sequence is {sequence}, the agent's {frames}")
    theirs = sorted(tight)
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
