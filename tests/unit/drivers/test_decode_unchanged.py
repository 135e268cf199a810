"""The decoders give exactly what they gave before they were made fast.

``decode_outputs.json`` holds, for every vector of tests/vectors/ and ten seeded mutations of each
(cut short, bytes flipped, bytes dropped or repeated), a digest of everything both entry points
return: every attribute of every measurement, the frame's panel, times, sequence, subject and
``fields``, or the FrameError's message. It was written by the decoders as they were before the
speed work of issue 13; a decoder restructured for speed must reproduce it digest for digest. When
a decoder's output is meant to change, regenerate the file in the same commit and say why:

    CLINIC_AGENT_WRITE_DECODE_OUTPUTS=1 .venv/bin/python -m pytest tests/unit/drivers/test_decode_unchanged.py
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
from collections.abc import Callable, Iterator
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from clinic_agent.cli.device_commands import CONTROL_CHARACTERS
from drivers.astm.compose import LabResult, build_result_message
from drivers.ble.blood_pressure import BloodPressure, encode_blood_pressure
from drivers.contec.cms50 import LiveData, encode_live
from drivers.decode import decode, decode_one
from drivers.errors import FrameError
from drivers.hl7.compose import blood_pressure, build_oru_r01
from drivers.ieee11073 import DateTime, Mder
from drivers.measurement import DecodedFrame

VECTORS = Path(__file__).resolve().parents[2] / "vectors"
OUTPUTS = Path(__file__).with_name("decode_outputs.json")
MUTATIONS = 10


def _protocol(file: str, vector: dict[str, Any]) -> str:
    """The decoder a vector is meant for, named as `clinic-agent decode` names it."""
    if file in ("astm.json", "hl7.json"):
        return file.removesuffix(".json")
    if file == "contec.json":
        return "cms50"
    if file == "vendor_serial.json":
        return {"omron": "omron", "bcmh10": "bcm-h10", "and": "and"}[vector["id"].split("-")[0]]
    characteristic: str = vector["characteristic"]
    if characteristic.startswith("IEEE-11073 SFLOAT"):
        return "sfloat"
    if characteristic.startswith("IEEE-11073 FLOAT"):
        return "float"
    return "ble:" + characteristic[2:6].upper()


def _wire(vector: dict[str, Any]) -> bytes:
    """The vector's bytes: its hex, or its text with <CR>, <STX> ... standing for control characters."""
    if "input_hex" in vector:
        return bytes.fromhex(vector["input_hex"])
    text = re.sub(r"<([A-Z]{2,3})>", lambda m: chr(CONTROL_CHARACTERS[m[1]]), vector["input_text"])
    return text.encode("utf-8")


def _typical() -> Iterator[tuple[str, str, bytes]]:
    """The frames the simulators send (and bench/bench_decode.py times), each protocol's typical path."""
    at = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
    cuff = BloodPressure(
        systolic=Mder.of(128),
        diastolic=Mder.of(84),
        mean_arterial_pressure=Mder.of(99),
        time_stamp=DateTime.from_datetime(datetime(2026, 11, 25, 8, 0)),
        pulse_rate=Mder.of(71),
        user_id=2,
        measurement_status=0x0C,
    )
    lab = [LabResult(test_code=c, value=v, unit=u) for c, v, u in (("GLU", "6.1", "mmol/L"), ("HbA1c", "7.0", "%"))]
    yield "typical-ble", "ble:2A35", encode_blood_pressure(cuff)
    yield "typical-cms50", "cms50", encode_live(LiveData(pulse_rate=72, spo2=97))
    yield (
        "typical-hl7",
        "hl7",
        build_oru_r01(control_id="B1", timestamp=at, observations=blood_pressure("128", "84", "99", "71", at=at)),
    )
    yield "typical-astm", "astm", build_result_message(results=lab, timestamp=datetime(2026, 11, 25, 8, 0))


def _mutations(data: bytes, rng: random.Random) -> Iterator[bytes]:
    for _ in range(MUTATIONS):
        changed = bytearray(data)
        kind = rng.randrange(4)
        at = rng.randrange(len(changed) + 1)
        if kind == 0:
            del changed[at:]
        elif kind == 1 and changed:
            changed[min(at, len(changed) - 1)] ^= 1 << rng.randrange(8)
        elif kind == 2:
            del changed[at : at + rng.randrange(1, 4)]
        else:
            changed[at:at] = changed[at : at + rng.randrange(1, 8)]
        yield bytes(changed)


def cases() -> Iterator[tuple[str, str, bytes]]:
    """(case id, protocol, bytes): each vector and typical frame as sent, then its seeded mutations."""
    found = [(v["id"], _protocol(file, v), _wire(v)) for file in sorted(p.name for p in VECTORS.glob("*.json"))
             for v in json.loads((VECTORS / file).read_text(encoding="utf-8"))]  # fmt: skip
    for case, protocol, data in [*found, *_typical()]:
        yield case, protocol, data
        for number, mutated in enumerate(_mutations(data, random.Random(case)), 1):
            yield f"{case}~{number}", protocol, mutated


def _frame(frame: DecodedFrame) -> dict[str, Any]:
    return {
        "protocol": frame.protocol,
        "measurements": [
            {
                "code": m.code,
                "system": m.system,
                "display": m.display,
                "value": None if m.value is None else str(m.value),
                "value_text": m.value_text,
                "unit": m.unit,
                "taken_at": None if m.taken_at is None else m.taken_at.isoformat(),
                "flags": list(m.flags),
                "mdc_code": m.mdc_code,
            }
            for m in frame.measurements
        ],
        "panel": frame.panel,
        "panel_display": frame.panel_display,
        "device_time": None if frame.device_time is None else frame.device_time.isoformat(),
        "sequence": frame.sequence,
        "subject": None if frame.subject is None else asdict(frame.subject),
        "final": frame.final,
        "fields": frame.fields,
    }


def _outcome(call: Callable[[], Any]) -> Any:
    try:
        result = call()
    except FrameError as exc:
        return {"error": str(exc)}
    return [_frame(f) for f in result] if isinstance(result, list) else _frame(result)


def digest(protocol: str, data: bytes) -> str:
    """A digest of what ``decode`` and ``decode_one`` make of ``data``."""
    both = [_outcome(lambda: decode(protocol, data)), _outcome(lambda: decode_one(protocol, data))]
    text = json.dumps(both, sort_keys=True, ensure_ascii=False, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def test_every_vector_and_its_mutations_decode_as_before() -> None:
    now = {case: digest(protocol, data) for case, protocol, data in cases()}
    if os.environ.get("CLINIC_AGENT_WRITE_DECODE_OUTPUTS"):
        OUTPUTS.write_text(json.dumps(now, indent=0, sort_keys=True) + "\n", encoding="utf-8")
    before: dict[str, str] = json.loads(OUTPUTS.read_text(encoding="utf-8"))
    changed = sorted(case for case in before if now.get(case) != before[case])
    assert len(before) == len(now) > 800
    assert not changed, f"{len(changed)} cases decode differently: {changed[:10]}"
