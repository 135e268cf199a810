"""Every vector of tests/vectors/ble_gatt.json, asserted field by field.

Each vector is decoded by the codec for its characteristic; every asserted key of ``expected``
must have an extractor below, so a vector with a key nobody checks fails instead of passing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from drivers_vectors import Vector, load, matches, params

from drivers.ble import decode_characteristic, racp, thermometer
from drivers.ieee11073 import Mder, decode_float, decode_sfloat, encode_sfloat
from drivers.measurement import DecodedFrame

Extract = Callable[[Any], Any]


def _value(key: str) -> Extract:
    return lambda frame: frame.fields[key]["value"]


def _field(*path: str) -> Extract:
    def get(frame: DecodedFrame) -> Any:
        value: Any = frame.fields
        for key in path:
            value = value[key]
        return value

    return get


def _bp_unit_of_systolic(raw: bytes) -> str:
    """Put an SFLOAT in the systolic slot of a kPa blood-pressure value and read the unit back."""
    frame = decode_characteristic(0x2A35, b"\x01" + raw + b"\x00\x00\x00\x00")
    return frame.measurements[0].unit


NUMBER: dict[str, Extract] = {
    "value": lambda m: None if m.value is None else float(m.value),
    "fhir_value_text": lambda m: m.text,
    "special": lambda m: None if m.special is None else str(m.special),
    "fhir_dataAbsentReason": lambda m: m.data_absent_reason,
    "unit": lambda m: _bp_unit_of_systolic(encode_sfloat(m)),
}
TIME = {k: _field(k) for k in ("year", "month", "day", "hours", "minutes", "seconds", "day_of_week", "fractions256")}
BLOOD_PRESSURE = {
    "unit": _field("unit"),
    "systolic": _value("systolic"),
    "diastolic": _value("diastolic"),
    "mean_arterial_pressure": _value("mean_arterial_pressure"),
    "current_cuff_pressure": _value("current_cuff_pressure"),
    "timestamp": _field("time_stamp"),
    "pulse_rate": _value("pulse_rate"),
    "user_id": _field("user_id"),
    "measurement_status": _field("measurement_status"),
}
GLUCOSE = {
    "sequence_number": _field("sequence_number"),
    "base_time": _field("base_time"),
    "time_offset_min": _field("time_offset"),
    "concentration": _value("glucose_concentration"),
    "unit": _field("glucose_concentration_unit"),
    "type": _field("type"),
    "sample_location": _field("sample_location"),
    "sensor_status": _field("sensor_status_annunciation", "raw"),
    "context_follows": _field("flags", "context_information_follows"),
}
CONTEXT = {
    "sequence_number": _field("sequence_number"),
    **{k: _field(k) for k in ("carbohydrate", "meal", "tester", "health", "medication", "hba1c")},
    "exercise": _field("exercise_duration"),
}
RACP = {
    k: _field(k)
    for k in ("op_code", "operator", "request_op_code", "response_code", "number_of_records", "filter_type")
}
RACP["min_sequence_number"] = _field("minimum")
TEMPERATURE = {
    "unit": lambda frame: {"Cel": "C", "[degF]": "F"}[frame.measurements[0].unit],
    "temperature": _value("temperature"),
    "timestamp": _field("time_stamp"),
    "type": _field("temperature_type"),
}
PLX = {
    "spo2": _value("spo2"),
    "pulse_rate": _value("pulse_rate"),
    "timestamp": _field("time_stamp"),
    "measurement_status": _field("measurement_status", "raw"),
    "device_sensor_status": _field("device_and_sensor_status", "raw"),
    "pulse_amplitude_index": _value("pulse_amplitude_index"),
    "device_clock_not_set": _field("flags", "device_clock_is_not_set"),
    "supported_features": _field("supported_features", "raw"),
    "measurement_status_support": _field("measurement_status_support", "raw"),
    "device_sensor_status_support": _field("device_and_sensor_status_support", "raw"),
}
WEIGHT = {
    "unit": _field("weight", "unit"),
    "weight": _value("weight"),
    "weight_raw": _field("weight", "raw"),
    "timestamp": _field("time_stamp"),
    "user_id": _field("user_id"),
    "bmi": _value("bmi"),
    "height": _value("height"),
}
BODY_COMPOSITION = {
    "flags": _field("flags", "raw"),
    "unit_system": _field("unit_system"),
    "multiple_packet": _field("flags", "multiple_packet_measurement"),
    "body_fat_percent": lambda f: f.fields["body_fat_percentage"]["value"] or f.fields["body_fat_percentage"]["text"],
    "timestamp": _field("time_stamp"),
    "user_id": _field("user_id"),
    "basal_metabolism_kJ": _value("basal_metabolism"),
    "muscle_percent": _value("muscle_percentage"),
    "impedance_ohm": _value("impedance"),
    **{k: _value(k) for k in ("muscle_mass", "fat_free_mass", "soft_lean_mass", "body_water_mass", "weight", "height")},
}
FEATURE = {
    k: _field(k)
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
}

# Characteristic name prefix -> (decoder, extractors).
FAMILIES: dict[str, tuple[Callable[[bytes], Any], dict[str, Extract]]] = {
    "IEEE-11073 SFLOAT": (decode_sfloat, NUMBER),
    "IEEE-11073 FLOAT": (decode_float, NUMBER),
    "0x2A35": (lambda d: decode_characteristic(0x2A35, d), BLOOD_PRESSURE),
    "0x2A36": (lambda d: decode_characteristic(0x2A36, d), BLOOD_PRESSURE),
    "0x2A18": (lambda d: decode_characteristic(0x2A18, d), GLUCOSE),
    "0x2A34": (lambda d: decode_characteristic(0x2A34, d), CONTEXT),
    "0x2A51": (lambda d: decode_characteristic(0x2A51, d), FEATURE),
    "0x2A52": (lambda d: decode_characteristic(0x2A52, d), RACP),
    "0x2A1C": (lambda d: decode_characteristic(0x2A1C, d), TEMPERATURE),
    "0x2A5E": (lambda d: decode_characteristic(0x2A5E, d), PLX),
    "0x2A5F": (lambda d: decode_characteristic(0x2A5F, d), PLX),
    "0x2A60": (lambda d: decode_characteristic(0x2A60, d), PLX),
    "0x2A9D": (lambda d: decode_characteristic(0x2A9D, d), WEIGHT),
    "0x2A9C": (lambda d: decode_characteristic(0x2A9C, d), BODY_COMPOSITION),
    "0x2A2B": (
        lambda d: decode_characteristic(0x2A2B, d),
        {**TIME, "adjust_reason": _field("adjust_reason")},
    ),
    "0x2A08": (lambda d: decode_characteristic(0x2A08, d), TIME),
}


def _family(vector: Vector) -> tuple[Callable[[bytes], Any], dict[str, Extract]]:
    for prefix, family in FAMILIES.items():
        if vector.characteristic.startswith(prefix):
            return family
    raise AssertionError(f"no decoder for {vector.characteristic!r}")


@pytest.mark.parametrize("vector", params("ble_gatt.json"))
def test_every_expected_field_of_the_vector_decodes(vector: Vector) -> None:
    decode, extractors = _family(vector)
    decoded = decode(vector.data)
    assert set(vector.expected) <= set(extractors), f"unchecked keys: {set(vector.expected) - set(extractors)}"
    for key, expected in vector.expected.items():
        actual = extractors[key](decoded)
        assert matches(actual, expected), f"{key}: {actual!r} != {expected!r}"


def test_the_vector_file_keeps_its_sources() -> None:
    vectors = load("ble_gatt.json")
    assert len(vectors) == 46
    assert all(vector.source for vector in vectors)


def test_the_glucose_annotation_user_facing_time_is_base_plus_offset() -> None:
    vector = next(v for v in load("ble_gatt.json") if v.id == "glucose-nordic-offset")
    frame = decode_characteristic(0x2A18, vector.data)
    assert frame.fields["user_facing_time"] == vector.annotations["_user_facing_time"]
    assert frame.device_time is not None
    assert frame.device_time.isoformat() == "2019-02-27T11:05:30"


def test_the_plx_status_annotations_name_the_set_bits() -> None:
    vector = next(v for v in load("ble_gatt.json") if v.id == "plx-spot-spezi")
    flags = decode_characteristic(0x2A5E, vector.data).measurements[0].flags
    assert flags == (
        "measurement-ongoing",
        "questionable-measurement-detected",
        "equipment-malfunction-detected",
        "low-perfusion-detected",
    )


@pytest.mark.parametrize("vector", [v for v in params("ble_gatt.json") if v.values[0].derived])
def test_derived_client_writes_are_what_our_encoders_produce(vector: Vector) -> None:
    encoders = {
        "racp-req-report-all": lambda: racp.report_records(),
        "racp-req-report-ge-seq12": lambda: racp.report_records(racp.Operator.GREATER_OR_EQUAL, minimum=12),
        "temp-fahrenheit-derived": lambda: thermometer.encode_temperature(
            thermometer.Temperature(temperature=Mder(986, -1), fahrenheit=True)
        ),
    }
    assert encoders[vector.id]() == vector.data
