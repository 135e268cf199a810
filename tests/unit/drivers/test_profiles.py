"""Device profiles: plausibility ranges, panel checks, suspect flags, code overrides."""

from __future__ import annotations

from decimal import Decimal

import pytest

from drivers.ble import decode_characteristic
from drivers.ble.blood_pressure import BloodPressure, encode_blood_pressure
from drivers.ble.glucose import GlucoseMeasurement, encode_glucose
from drivers.contec.cms50 import LiveData, decode_cms50, encode_live
from drivers.ieee11073 import DateTime, Mder, Special
from drivers.measurement import DecodedFrame, Measurement
from drivers.profiles import DEFAULT_RANGES, PROFILES, DeviceProfile, Range, check, profile_for


def _one(code: str, value: str, unit: str, *flags: str) -> DecodedFrame:
    reading = Measurement(code=code, display=code, value=Decimal(value), value_text=value, unit=unit, flags=flags)
    return DecodedFrame(protocol="test", measurements=(reading,))


def _bp(systolic: int, diastolic: int, mean: int, kpa: bool = False) -> DecodedFrame:
    record = BloodPressure(
        systolic=Mder(systolic, -1 if kpa else 0),
        diastolic=Mder(diastolic, -1 if kpa else 0),
        mean_arterial_pressure=Mder(mean, -1 if kpa else 0),
        kpa=kpa,
    )
    return decode_characteristic(0x2A35, encode_blood_pressure(record))


@pytest.mark.parametrize(
    ("code", "unit", "inside", "outside"),
    [
        ("8480-6", "mm[Hg]", ["40", "300"], ["39", "301"]),
        ("8462-4", "mm[Hg]", ["20", "200"], ["19.9", "201"]),
        ("8867-4", "/min", ["20", "300"], ["19", "301"]),
        ("59408-5", "%", ["50", "100"], ["49", "100.1"]),
        ("8310-5", "Cel", ["30", "45"], ["29.9", "45.1"]),
        ("8310-5", "[degF]", ["86", "113"], ["85.9", "113.1"]),
        ("14743-9", "mmol/L", ["0.6", "33.3"], ["0.5", "33.4"]),
        ("41653-7", "mg/dL", ["10", "600"], ["9", "601"]),
        ("29463-7", "kg", ["0.5", "300"], ["0.4", "300.1"]),
        ("8302-2", "m", ["0.3", "2.5"], ["0.29", "2.51"]),
        ("8302-2", "cm", ["30", "250"], ["29", "251"]),
        ("39156-5", "kg/m2", ["8", "80"], ["7.9", "80.1"]),
    ],
)
def test_ranges_are_inclusive(code: str, unit: str, inside: list[str], outside: list[str]) -> None:
    for value in inside:
        assert check(_one(code, value, unit)) == []
    for value in outside:
        (reason,) = check(_one(code, value, unit))
        assert value in reason
        assert "outside the plausible range" in reason


def test_kpa_values_are_judged_in_kpa() -> None:
    assert check(_bp(160, 100, 120, kpa=True)) == []  # 16.0 / 10.0 kPa = 120 / 75 mmHg
    assert check(_bp(410, 100, 200, kpa=True)) == [
        "Systolic blood pressure 41.0 kPa is outside the plausible range 5.3-40.0"
    ]
    # The nRF Toolbox vector: mmHg-looking numbers with the kPa flag set.
    toolbox = decode_characteristic(0x2A35, bytes.fromhex("1F790051006A00E40705150A1E2D4800010600"))
    assert len(check(toolbox)) == 3


@pytest.mark.parametrize(
    ("code", "metric", "other", "factor"),
    [
        ("8480-6", "mm[Hg]", "kPa", Decimal("7.50062")),
        ("8462-4", "mm[Hg]", "kPa", Decimal("7.50062")),
        ("8478-0", "mm[Hg]", "kPa", Decimal("7.50062")),
        ("29463-7", "kg", "[lb_av]", Decimal("0.45359237")),
        ("8302-2", "cm", "[in_i]", Decimal("2.54")),
        ("8302-2", "m", "cm", Decimal("0.01")),
    ],
)
def test_a_unit_barely_changes_the_verdict(code: str, metric: str, other: str, factor: Decimal) -> None:
    base, converted = DEFAULT_RANGES[(code, metric)], DEFAULT_RANGES[(code, other)]
    # converted bounds x factor land within one rounding step (0.1 of the other unit) of the metric bounds
    assert abs(converted.low * factor - base.low) <= Decimal("0.1") * factor
    assert abs(converted.high * factor - base.high) <= Decimal("0.1") * factor


def test_fahrenheit_range_matches_celsius() -> None:
    celsius, fahrenheit = DEFAULT_RANGES[("8310-5", "Cel")], DEFAULT_RANGES[("8310-5", "[degF]")]
    assert fahrenheit.low == celsius.low * 9 / 5 + 32
    assert fahrenheit.high == celsius.high * 9 / 5 + 32


def test_diastolic_at_or_above_systolic_is_implausible() -> None:
    assert check(_bp(120, 80, 93)) == []
    assert "diastolic 81 is not below systolic 72 mm[Hg]" in check(_bp(72, 81, 76))
    assert "diastolic 90 is not below systolic 90 mm[Hg]" in check(_bp(90, 90, 90))


def test_mean_pressure_outside_the_pulse_pressure_is_implausible() -> None:
    assert check(_bp(120, 80, 130)) == ["mean pressure 130 is not between diastolic and systolic"]


def test_absent_values_have_no_range_to_break() -> None:
    record = BloodPressure(systolic=Mder(special=Special.NAN), diastolic=Mder(80), mean_arterial_pressure=Mder(90))
    assert check(decode_characteristic(0x2A35, encode_blood_pressure(record))) == []


def test_suspect_device_flags_are_reasons() -> None:
    control = GlucoseMeasurement(sequence_number=1, base_time=DateTime(), concentration=Mder(100, -5), type=10)
    reasons = check(decode_characteristic(0x2A18, encode_glucose(control)))
    assert reasons == ["Glucose [Mass/volume] in Capillary blood by Glucometer: the device reports control-solution"]
    high = GlucoseMeasurement(
        sequence_number=1,
        base_time=DateTime(),
        concentration=Mder(600, -5),
        sensor_status_annunciation=0x0020,
    )
    assert any(
        "result-higher-than-device-can-process" in r for r in check(decode_characteristic(0x2A18, encode_glucose(high)))
    )
    assert check(_one("8867-4", "70", "/min", "irregular-pulse")) == []


def test_an_unexpected_unit_or_code_is_a_reason() -> None:
    (reason,) = check(_one("29463-7", "70000", "g"))
    assert "unit 'g'" in reason


def test_a_device_profile_only_expects_its_own_measurements() -> None:
    reasons = check(_bp(120, 80, 93), "cms50")
    assert any("8480-6 is not a measurement the cms50 profile expects" in r for r in reasons)
    assert check(decode_cms50(encode_live(LiveData(spo2=97, pulse_rate=70))), "cms50") == []


def test_profiles_are_chosen_by_protocol() -> None:
    assert profile_for("ble:2A35").name == "ble-blood-pressure"
    assert profile_for("ble:2A1E").name == "ble-thermometer"
    assert profile_for("cms50:new").name == "cms50"
    assert profile_for("omron:hem-7322t").name == "omron"
    assert profile_for("hl7:oru").name == "default"
    assert {"default", "ble-blood-pressure", "ble-glucose", "ble-pulse-oximeter", "cms50"} <= set(PROFILES)
    assert check(decode_cms50(encode_live(LiveData(spo2=40, pulse_rate=70)))) == [
        "Oxygen saturation in Arterial blood by Pulse oximetry 40 % is outside the plausible range 50-100"
    ]


def test_code_overrides_map_vendor_codes_to_loinc_before_checking() -> None:
    profile = DeviceProfile(
        name="kiosk",
        description="a kiosk sending its own codes",
        ranges=DEFAULT_RANGES,
        code_overrides={"SYS": "8480-6"},
    )
    frame = _one("SYS", "400", "mm[Hg]")
    applied = profile.apply(frame)
    assert (applied.measurements[0].code, applied.measurements[0].display) == (
        "8480-6",
        "Systolic blood pressure",
    )
    assert profile.check(frame) == ["Systolic blood pressure 400 mm[Hg] is outside the plausible range 40-300"]


def test_a_custom_range() -> None:
    narrow = DeviceProfile(
        name="paediatric-scale",
        description="infant scale",
        ranges={("29463-7", "kg"): Range(Decimal("0.5"), Decimal("20"))},
    )
    assert narrow.check(_one("29463-7", "3.2", "kg")) == []
    assert len(narrow.check(_one("29463-7", "21", "kg"))) == 1


def test_laboratory_results_from_an_analyser_have_ranges() -> None:
    """Regression: the default profile once had no laboratory ranges and quarantined every lab result."""
    from datetime import datetime

    from drivers.astm import decode_astm
    from drivers.astm.compose import LabResult, build_result_message

    def frame(glucose: str) -> object:
        results = [
            LabResult(test_code="GLU", value=glucose, unit="mmol/L"),
            LabResult(test_code="HbA1c", value="7.1", unit="%"),
        ]
        return decode_astm(build_result_message(results=results, timestamp=datetime(2026, 11, 25, 8, 0)))

    assert check(frame("6.1")) == []  # type: ignore[arg-type]
    assert any("plausible range" in reason for reason in check(frame("610")))  # type: ignore[arg-type]
