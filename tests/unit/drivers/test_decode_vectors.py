"""Every vector of tests/vectors/, through `clinic-agent decode` exactly as a technician calls it.

Each vector's input goes to the command line (``decode PROTOCOL HEX`` or ``--text TEXT``); every
asserted key of its ``expected`` is read back from the printed JSON by an extractor below, so a
vector with a key nobody reads fails instead of passing. Where we believe a vector's expectation
is wrong, ``DISAGREE`` says what we print instead and why, and the test holds us to that.
Every vector that yields measurements must also name the LOINC codes they carry (``LOINC``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from drivers_vectors import VECTORS, matches

from clinic_agent.cli import main

FILES = ("astm.json", "ble_gatt.json", "contec.json", "hl7.json", "vendor_serial.json")


@dataclass(frozen=True)
class Printed:
    """What `clinic-agent decode` did: exit status, the JSON it printed (if any), standard error."""

    status: int
    out: dict[str, Any] | None
    err: str

    @property
    def fields(self) -> dict[str, Any]:
        assert self.out is not None, self.err
        fields: dict[str, Any] = self.out["fields"]
        return fields


def _raw(name: str) -> list[dict[str, Any]]:
    loaded: list[dict[str, Any]] = json.loads((VECTORS / name).read_text(encoding="utf-8"))
    return loaded


def _argv(name: str, vector: dict[str, Any]) -> list[str]:
    """The command a technician types for this vector."""
    if name in ("astm.json", "hl7.json"):
        return ["decode", name.removesuffix(".json"), "--text", vector["input_text"]]
    if name == "contec.json":
        return ["decode", "cms50", vector["input_hex"]]
    if name == "vendor_serial.json":
        protocol = {"omron": "omron", "bcmh10": "bcm-h10", "and": "and"}[vector["id"].split("-")[0]]
        return ["decode", protocol, vector["input_hex"]]
    characteristic: str = vector["characteristic"]
    if characteristic.startswith("IEEE-11073 SFLOAT"):
        return ["decode", "sfloat", vector["input_hex"]]
    if characteristic.startswith("IEEE-11073 FLOAT"):
        return ["decode", "float", vector["input_hex"]]
    return ["decode", "ble:" + characteristic[2:6].upper(), vector["input_hex"]]


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> Printed:
    status = main(argv)
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    assert len(captured.err.strip().splitlines()) <= 1, captured.err
    return Printed(status, json.loads(captured.out) if captured.out.strip() else None, captured.err.strip())


Extract = Callable[[Printed], Any]


def _f(*path: str | int) -> Extract:
    def get(printed: Printed) -> Any:
        value: Any = printed.fields
        for key in path:
            value = value[key]
        return value

    return get


def _v(*path: str) -> Extract:
    return _f(*path, "value")


def _valid(printed: Printed) -> bool:
    """Valid means decoded with exit 0; an invalid input exits 2 with one line saying why."""
    if printed.status == 0:
        return printed.out is not None and printed.fields.get("valid", True) is True
    assert printed.status == 2, printed
    assert printed.err
    return False


# ---------------------------------------------------------------------------------------- ASTM
def _record(index: int, *path: str | int) -> Extract:
    return lambda p: _walk(p.fields["records"][index], path)


def _walk(value: Any, path: tuple[str | int, ...]) -> Any:
    for key in path:
        value = value[key]
    return value


def _results(printed: Printed) -> list[dict[str, str]]:
    return [{"test": r["test_code"], "value": r["value"], "units": r["units"]} for r in printed.fields["results"]]


ASTM: dict[str, Extract] = {
    "valid": _valid,
    "reason": lambda p: p.fields.get("reason") if p.out else p.err,
    "frame_number": _f("frames", 0, "frame_number"),
    "terminator": _f("frames", 0, "terminator"),
    "checksum": _f("frames", 0, "checksum"),
    "checksum_ok": _f("frames", 0, "checksum_ok"),
    "frame_length_bytes": _f("frames", 0, "length_bytes"),
    "records": lambda p: [r["raw_fields"] for r in p.fields["records"]],
    "record": _record(0, "record_type"),
    "record_type": _record(0, "record_type"),
    "seq": lambda p: int(p.fields["records"][0]["sequence_number"]),
    "sender_name": _record(0, "sender_name"),
    "sender_version": _record(0, "sender_version"),
    "sender_serial": _record(0, "sender_serial"),
    "version": _record(0, "version"),
    "receiver": _record(0, "receiver_id"),
    "processing_id": _record(0, "processing_id"),
    "timestamp": _record(0, "message_datetime_iso"),
    "termination_code": _record(0, "termination_code"),
    "test_id": _record(0, "test_code"),
    "test_assay_code": _record(0, "test_code"),
    "test_assay_name": _record(0, "test_name"),
    "value": _record(0, "value"),
    "units": _record(0, "units"),
    "reference_range": _record(0, "raw_fields", 5),  # as sent: "0^0"
    "abnormal_flags": _record(0, "abnormal_flags"),
    "abnormal_flag": _record(0, "abnormal_flags"),
    "nature": _record(0, "abnormality_nature"),
    "abnormality_nature": _record(0, "abnormality_nature"),
    "status": _record(0, "result_status"),
    "completed": _record(0, "test_completed_datetime_iso"),
    "operator": _record(0, "operator_id"),
    "instrument": _record(0, "instrument_id"),
    "results": _results,
    "comments_after_results": lambda p: sum(len(r.get("comments", [])) for r in p.fields["results"]),
    "checksum_over_utf8_bytes": _f("frames", 0, "checksum_expected"),
    # python-astm's code-point sum: what a receiver must NOT accept (see DISAGREE).
    "checksum_over_unicode_codepoints": _f("frames", 0, "checksum_expected"),
}

# --------------------------------------------------------------------------------------- BLE
BLE_NUMBER: dict[str, Extract] = {
    "value": _f("value"),
    "fhir_value_text": _f("text"),
    "special": _f("special"),
    "fhir_dataAbsentReason": _f("data_absent_reason"),
}
TIME = {k: _f(k) for k in ("year", "month", "day", "hours", "minutes", "seconds", "day_of_week", "fractions256")}
BLE: dict[str, dict[str, Extract]] = {
    "2A35": {
        "unit": _f("unit"),
        **{k: _v(k) for k in ("systolic", "diastolic", "mean_arterial_pressure", "current_cuff_pressure")},
        "timestamp": _f("time_stamp"),
        "pulse_rate": _v("pulse_rate"),
        "user_id": _f("user_id"),
        "measurement_status": _f("measurement_status"),
    },
    "2A18": {
        "sequence_number": _f("sequence_number"),
        "base_time": _f("base_time"),
        "time_offset_min": _f("time_offset"),
        "concentration": _v("glucose_concentration"),
        "unit": _f("glucose_concentration_unit"),
        "type": _f("type"),
        "sample_location": _f("sample_location"),
        "sensor_status": _f("sensor_status_annunciation", "raw"),
        "context_follows": _f("flags", "context_information_follows"),
    },
    "2A34": {
        "sequence_number": _f("sequence_number"),
        **{k: _f(k) for k in ("carbohydrate", "meal", "tester", "health", "medication", "hba1c")},
        "exercise": _f("exercise_duration"),
    },
    "2A51": {
        k: _f(k)
        for k in (
            "raw",
            "low_battery",
            "sensor_malfunction",
            "sample_size",
            "strip_insertion_error",
            "strip_type_error",
            "result_high_low",
            "temp_high_low",
            "read_interrupt",
            "general_device_fault",
            "time_fault",
            "multiple_bond",
        )
    },
    "2A52": {
        **{
            k: _f(k)
            for k in ("op_code", "operator", "request_op_code", "response_code", "number_of_records", "filter_type")
        },
        "min_sequence_number": _f("minimum"),
    },
    "2A1C": {
        "unit": lambda p: {"Cel": "C", "[degF]": "F"}[p.out["measurements"][0]["unit"]] if p.out else None,
        "temperature": _v("temperature"),
        "timestamp": _f("time_stamp"),
        "type": _f("temperature_type"),
    },
    "2A5E": {
        "spo2": _v("spo2"),
        "pulse_rate": _v("pulse_rate"),
        "timestamp": _f("time_stamp"),
        "measurement_status": _f("measurement_status", "raw"),
        "device_sensor_status": _f("device_and_sensor_status", "raw"),
        "pulse_amplitude_index": _v("pulse_amplitude_index"),
        "device_clock_not_set": _f("flags", "device_clock_is_not_set"),
        "supported_features": _f("supported_features", "raw"),
        "measurement_status_support": _f("measurement_status_support", "raw"),
        "device_sensor_status_support": _f("device_and_sensor_status_support", "raw"),
    },
    "2A9D": {
        "unit": _f("weight", "unit"),
        "weight": _v("weight"),
        "weight_raw": _f("weight", "raw"),
        "timestamp": _f("time_stamp"),
        "user_id": _f("user_id"),
        "bmi": _v("bmi"),
        "height": _v("height"),
    },
    "2A9C": {
        "flags": _f("flags", "raw"),
        "unit_system": _f("unit_system"),
        "multiple_packet": _f("flags", "multiple_packet_measurement"),
        "body_fat_percent": lambda p: _v("body_fat_percentage")(p) or _f("body_fat_percentage", "text")(p),
        "timestamp": _f("time_stamp"),
        "user_id": _f("user_id"),
        "basal_metabolism_kJ": _v("basal_metabolism"),
        "muscle_percent": _v("muscle_percentage"),
        "impedance_ohm": _v("impedance"),
        **{k: _v(k) for k in ("muscle_mass", "fat_free_mass", "soft_lean_mass", "body_water_mass", "weight", "height")},
    },
    "2A2B": {**TIME, "adjust_reason": _f("adjust_reason")},
    "2A08": TIME,
}
BLE["2A36"] = BLE["2A35"]
BLE["2A5F"] = BLE["2A60"] = BLE["2A5E"]

# ------------------------------------------------------------------------------------ CMS50
CONTEC: dict[str, Extract] = {
    **{
        k: _f("packets", 0, k)
        for k in ("signal_strength", "finger_out", "beep", "pulse_rate", "spo2", "packet_type", "date")
    },
    "command": _f("packets", 0, "op_code"),
    "session": _f("packets", 0, "parameters", 1),
    "device_id": _f("packets", 0, "text"),
    "user_name": _f("packets", 0, "text"),
    "user_index": _f("packets", 0, "index"),
    "samples": lambda p: [
        {"spo2": s["spo2"], "pulse_rate": s["pulse_rate"]} for s in p.fields["packets"][0]["samples"]
    ],
}

# -------------------------------------------------------------------------------------- HL7
HL7: dict[str, Extract] = {
    "valid": _valid,
    "fields": lambda p: p.fields,
    "segment_count": _f("segment_count"),
    **{f"msh_{n}": _f(f"msh_{n}") for n in (1, 2, 10)},
    # python-hl7 shows MSH-9 as its nested containers: [[ORU], [R01]].
    "msh_9": lambda p: [[c] for c in p.fields["msh_9"].split("^")],
    "obx_1_transcribed": _f("observations", 0),
    "ack": _f("ack"),
}

# ----------------------------------------------------------------------------------- vendor
# The BCM-H10 "meaning" is prose from the vendor document; here is what each says, as fields.
BCM_MEANINGS: dict[str, dict[str, Any]] = {
    "weigh (称重量) 0x36": {"function": 0x36, "function_name": "weigh"},
    "read result item 0x01 = body-water ratio (读取体水分率值) 0x38": {"function": 0x38, "item": 0x01},
    "calibrate height 1685 mm = 0x0695 (big-endian) 0x33": {"function": 0x33, "height_mm": 1685},
    "hands-only composition (mode 0x01), same person": {"function": 0x37, "device": 0x01, "mode_name": "hands"},
}
VENDOR: dict[str, Extract] = {
    "length": _f("length"),
    "command": lambda p: f"{p.fields['type']:04x} {p.fields['type_name']}",
    "xor_of_all_bytes": _f("xor_of_all_bytes"),
    "header": _f("header"),
    "checksum_ok": _f("checksum_ok"),
    "meaning": lambda p: p.fields,
    "service": _f("service"),
    "characteristic": _f("characteristic"),
}


def _meaning(fields: dict[str, Any], prose: str) -> tuple[Any, Any]:
    """The decoded fields the prose names (BCM-H10), else the printed meaning itself."""
    if prose in BCM_MEANINGS:
        return {k: fields.get(k) for k in BCM_MEANINGS[prose]}, BCM_MEANINGS[prose]
    return fields.get("meaning"), prose


def _expected(key: str, value: Any) -> Any:
    """The expected value in our terms where the vector writes prose around it."""
    if key == "terminator":
        return value.split()[0]  # "ETB (intermediate)" -> "ETB"
    if key == "command" and isinstance(value, str) and "(0x" in value:
        found = re.search(r"\(0x([0-9A-F]{2})\)", value)
        assert found is not None
        return int(found.group(1), 16)
    if key == "service" or key == "characteristic":
        return value.lower()
    return value


def _extractors(name: str, vector: dict[str, Any]) -> dict[str, Extract]:
    if name == "astm.json":
        return ASTM
    if name == "hl7.json":
        return HL7
    if name == "contec.json":
        return CONTEC
    if name == "vendor_serial.json":
        return VENDOR
    characteristic = vector["characteristic"]
    if characteristic.startswith("IEEE-11073"):
        return {**BLE_NUMBER, "unit": lambda p: None}  # read from a blood pressure below
    return BLE[characteristic[2:6].upper()]


# Where the vector's expectation is wrong: (vector, key) -> (what we print, why).
DISAGREE: dict[tuple[str, str], tuple[Any, str]] = {
    ("astm-meril-frame3", "nature"): (
        "",
        "E1394-97 §10.1.8 (LIS2-A2 §10.1.8): nature of abnormality is R.8; Meril writes one extra empty "
        "field, so 'N' is in R.9 and the vector's transcription is one field off",
    ),
    ("astm-meril-frame3", "status"): ("N", "E1394-97 §10.1.9: result status is R.9, which holds 'N' here"),
    ("astm-meril-frame3", "completed"): (
        None,
        "E1394-97 §10.1.13: R.13 (date/time test completed) is empty here; the date is in R.14 "
        "(instrument identification), one field off",
    ),
    ("astm-pyastm-checksum-utf8", "checksum_over_unicode_codepoints"): (
        "4B",
        "E1381-02 §7.3.2 / LIS1-A §8.3.2: the checksum is over the bytes sent; python-astm's code-point "
        "sum (CF) is a bug the vector records, and a receiver must NAK a frame carrying it",
    ),
    ("hl7-pythonhl7-oru-glucose", "ack"): (
        {
            "msh_9": "ACK^R01^ACK",
            "msa_1": "AA",
            "msa_2": "CNTRL-3456",
            "msh_3": "GHH OE",
            "msh_4": "BLDG4",
            "msh_5": "GHH LAB",
            "msh_6": "ELAB-3",
            "msh_10_len": 16,
        },
        "HL7 v2.4 §2.16.9.10: MSH-10 is at most 20 characters, not exactly 20; python-hl7 makes 20, "
        "the agent 16 hex digits; every other field of the ACK is as the vector says",
    ),
}

# LOINC codes every vector that yields measurements must carry (docs/devices.md and the
# vectors themselves); a decoder that left them empty fails here.
LOINC: dict[str, list[str]] = {
    "astm-meril-frame3": ["2885-2"],  # total protein, g/dL
    "astm-senaite-dca-vantage-oversize": ["14957-5", "2161-8", "9318-7"],  # urine albumin, creatinine, ratio
    "astm-omnilab-result-record": ["2951-2"],  # sodium, mmol/L
    "bpm-nordic-full": ["8480-6", "8462-4", "8478-0", "8867-4"],
    "bpm-nordic-minimal": ["8480-6", "8462-4", "8478-0"],
    "bpm-toolbox-all-fields-kpa": ["8480-6", "8462-4", "8478-0", "8867-4"],
    "bpm-toolbox-userid-only": ["8480-6", "8462-4", "8478-0"],
    "glucose-nordic-offset": ["41653-7"],  # type 2 capillary plasma, finger
    "temp-nordic-finger": ["8310-5"],
    "temp-toolbox-armpit": ["8310-5"],
    "temp-fahrenheit-derived": ["8310-5"],
    "plx-cont-spezi-encoded": ["59408-5", "8867-4"],
    "plx-cont-spezi-simple": ["59408-5", "8867-4"],
    "plx-spot-spezi": ["59408-5", "8867-4"],
    "weight-spezikt-23.2kg-user1": ["29463-7"],
    "weight-im97mori-si-all": ["29463-7", "39156-5", "8302-2"],
    "bodycomp-bvp-all-si": ["41982-0", "29463-7", "8302-2"],
    "bodycomp-bvp-unsuccessful": ["41982-0"],
    "cms50-old-live-basic": ["59408-5"],
    "hl7-ihe-pcd01-bp": ["8480-6", "8462-4", "8478-0"],
    # The vector names 1554-5 a LOINC code; OBX 2's "1553-5" fails the LOINC check digit (1553-7
    # would pass) and its value type FN is no HL7 value type, so it stays unmapped: no code.
    "hl7-pythonhl7-oru-glucose": ["1554-5", ""],
}


def _cases() -> list[Any]:
    return [pytest.param(name, vector, id=vector["id"]) for name in FILES for vector in _raw(name)]


def _problems(
    name: str, vector: dict[str, Any], capsys: pytest.CaptureFixture[str], loinc: dict[str, list[str]] = LOINC
) -> list[str]:
    """Every way the printed decode differs from the vector (empty: it agrees in every field)."""
    printed = _run(_argv(name, vector), capsys)
    extractors = _extractors(name, vector)
    expected = {k: v for k, v in vector["expected"].items() if not k.startswith("_")}
    wrong = [f"unchecked key {key}" for key in sorted(set(expected) - set(extractors))]
    for key, want in expected.items():
        if key not in extractors:
            continue
        actual = extractors[key](printed)
        if key == "unit" and name == "ble_gatt.json" and vector["characteristic"].startswith("IEEE-11073"):
            bp = _run(["decode", "ble:2A35", "01" + vector["input_hex"] + "FF07FF07"], capsys)
            actual = bp.out["measurements"][0]["unit"] if bp.out else None
        if (vector["id"], key) in DISAGREE:
            ours, why = DISAGREE[vector["id"], key]
            if not matches(actual, ours) or matches(ours, want):
                wrong.append(f"{key}: we print {actual!r}, meant {ours!r} ({why})")
            continue
        if key == "meaning":
            actual, want = _meaning(actual, want)
        want = _expected(key, want)
        if not matches(actual, want):
            wrong.append(f"{key}: {actual!r} != {want!r}")
    codes = [m["code"] for m in printed.out["measurements"]] if printed.out else []
    if (codes or vector["id"] in loinc) and codes != loinc.get(vector["id"]):
        wrong.append(f"LOINC codes {codes} != {loinc.get(vector['id'])}")
    return wrong


@pytest.mark.parametrize(("name", "vector"), _cases())
def test_the_vector_decodes_field_by_field(
    name: str, vector: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    assert _problems(name, vector, capsys) == []


def _vector(name: str, vector_id: str) -> dict[str, Any]:
    return next(v for v in _raw(name) if v["id"] == vector_id)


def test_the_check_catches_a_wrong_field_a_missing_code_and_an_unread_key(capsys: pytest.CaptureFixture[str]) -> None:
    frame = _vector("astm.json", "astm-senaite-cobas-c111-f3")
    frame["expected"]["frame_number"] = 4
    frame["expected"]["new_key"] = 1
    assert _problems("astm.json", frame, capsys) == ["unchecked key new_key", "frame_number: 3 != 4"]
    bp = _vector("hl7.json", "hl7-ihe-pcd01-bp")
    bp["expected"]["fields"]["observations"][2]["obx_5"] = "121"
    assert len(_problems("hl7.json", bp, capsys)) == 1
    glucose = _vector("ble_gatt.json", "glucose-nordic-offset")
    assert _problems("ble_gatt.json", glucose, capsys, {}) == ["LOINC codes ['41653-7'] != None"]
    assert _problems("ble_gatt.json", glucose, capsys, {"glucose-nordic-offset": ["2345-7"]}) != []
    meril = _vector("astm.json", "astm-meril-frame3")
    meril["expected"]["status"] = "N"  # the vector agreeing with us is no longer a disagreement
    assert any("status" in p for p in _problems("astm.json", meril, capsys))


def test_every_vector_file_is_here_and_every_vector_is_tried() -> None:
    assert sorted(p.name for p in VECTORS.glob("*.json")) == sorted(FILES)
    assert sum(len(_raw(name)) for name in FILES) == 81
    ids = {v["id"] for name in FILES for v in _raw(name)}
    assert {vector_id for vector_id, _ in DISAGREE} <= ids
    assert set(LOINC) <= ids
