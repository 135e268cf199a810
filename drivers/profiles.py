"""Device profiles: which measurements a kind of device sends, and which values are plausible.

``check(frame)`` returns human-readable reasons a frame is implausible (empty = plausible). The
caller never drops an implausible reading: it quarantines the frame with these reasons so that a
person can look. Ranges are per (LOINC, UCUM unit), inclusive; a value the device marks absent
(NaN, "measurement unsuccessful") has no range to break.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType

from drivers.measurement import DecodedFrame, Measurement
from drivers.terminology import find_concept

__all__ = ["DEFAULT_RANGES", "PROFILES", "SUSPECT_FLAGS", "DeviceProfile", "Range", "check", "profile_for"]


@dataclass(frozen=True, slots=True)
class Range:
    """An inclusive plausibility range."""

    low: Decimal
    high: Decimal

    def __contains__(self, value: object) -> bool:
        return isinstance(value, Decimal) and self.low <= value <= self.high


def _r(low: str, high: str) -> Range:
    return Range(Decimal(low), Decimal(high))


# Laboratory results (ASTM analysers): wide bounds of what a living patient can have, to catch a
# wrong unit, a swapped field or a broken instrument, not to judge what is normal.
_LAB: dict[tuple[str, str], tuple[str, str]] = {
    ("4548-4", "%"): ("3", "20"),
    ("59261-8", "mmol/mol"): ("9", "195"),
    ("14647-2", "mmol/L"): ("0.5", "25"),
    ("2093-3", "mg/dL"): ("20", "1000"),
    ("14927-8", "mmol/L"): ("0.1", "60"),
    ("2571-8", "mg/dL"): ("9", "5000"),
    ("14646-4", "mmol/L"): ("0.1", "5"),
    ("2085-9", "mg/dL"): ("4", "200"),
    ("22748-8", "mmol/L"): ("0.1", "20"),
    ("2089-1", "mg/dL"): ("4", "800"),
    ("14933-6", "umol/L"): ("30", "1500"),
    ("3084-1", "mg/dL"): ("0.5", "25"),
    ("14682-9", "umol/L"): ("10", "3000"),
    ("2160-0", "mg/dL"): ("0.1", "35"),
    ("14683-7", "mmol/L"): ("0.5", "50"),
    ("14683-7", "umol/L"): ("500", "50000"),
    ("2161-8", "mg/dL"): ("5", "600"),
    ("22664-7", "mmol/L"): ("0.5", "100"),
    ("3091-6", "mg/dL"): ("3", "600"),
    ("3094-0", "mg/dL"): ("1", "300"),
    ("14937-7", "mmol/L"): ("0.3", "100"),
    ("1742-6", "U/L"): ("1", "10000"),
    ("1742-6", "[IU]/L"): ("1", "10000"),
    ("1920-8", "U/L"): ("1", "10000"),
    ("1920-8", "[IU]/L"): ("1", "10000"),
    ("2324-2", "U/L"): ("1", "5000"),
    ("6768-6", "U/L"): ("5", "5000"),
    ("14631-6", "umol/L"): ("1", "1000"),
    ("1975-2", "mg/dL"): ("0.05", "60"),
    ("2885-2", "g/dL"): ("2", "15"),
    ("2885-2", "g/L"): ("20", "150"),
    ("1751-7", "g/dL"): ("1", "7"),
    ("1751-7", "g/L"): ("10", "70"),
    ("14957-5", "mg/L"): ("0", "3000"),
    ("9318-7", "mg/g"): ("0", "10000"),
    ("2951-2", "mmol/L"): ("100", "200"),
    ("2823-3", "mmol/L"): ("1", "10"),
    ("2075-0", "mmol/L"): ("60", "150"),
    ("718-7", "g/dL"): ("2", "25"),
    ("718-7", "g/L"): ("20", "250"),
}

# kPa and imperial bounds are the mmHg / metric bounds converted (1 kPa = 7.50062 mmHg, 1 lb =
# 0.45359237 kg, 1 in = 2.54 cm) and widened to one decimal, so a unit never changes the verdict.
DEFAULT_RANGES: Mapping[tuple[str, str], Range] = MappingProxyType(
    {
        ("8480-6", "mm[Hg]"): _r("40", "300"),
        ("8480-6", "kPa"): _r("5.3", "40.0"),
        ("8462-4", "mm[Hg]"): _r("20", "200"),
        ("8462-4", "kPa"): _r("2.6", "26.7"),
        ("8478-0", "mm[Hg]"): _r("25", "250"),
        ("8478-0", "kPa"): _r("3.3", "33.4"),
        ("8867-4", "/min"): _r("20", "300"),
        ("59408-5", "%"): _r("50", "100"),
        ("2708-6", "%"): _r("50", "100"),
        ("8310-5", "Cel"): _r("30", "45"),
        ("8310-5", "[degF]"): _r("86", "113"),
        ("14743-9", "mmol/L"): _r("0.6", "33.3"),
        ("41653-7", "mg/dL"): _r("10", "600"),
        ("29463-7", "kg"): _r("0.5", "300"),
        ("29463-7", "[lb_av]"): _r("1.1", "661.4"),
        ("8302-2", "m"): _r("0.3", "2.5"),
        ("8302-2", "cm"): _r("30", "250"),
        ("8302-2", "[in_i]"): _r("11.8", "98.5"),
        ("39156-5", "kg/m2"): _r("8", "80"),
        ("41982-0", "%"): _r("1", "75"),
        **dict.fromkeys([("14749-6", "mmol/L"), ("15074-8", "mmol/L")], _r("0.5", "60")),
        **dict.fromkeys([("2345-7", "mg/dL"), ("2339-0", "mg/dL")], _r("9", "1100")),
        **{key: _r(low, high) for key, (low, high) in _LAB.items()},
    }
)


# Measurement flags meaning the device itself does not vouch for the value, or that it is not a
# patient's reading at all (control solution, demonstration or test data).
SUSPECT_FLAGS = frozenset(
    {
        "control-solution",
        "sensor-malfunction",
        "sample-size-insufficient",
        "strip-insertion-error",
        "strip-type-incorrect",
        "result-higher-than-device-can-process",
        "result-lower-than-device-can-process",
        "sensor-read-interrupted",
        "general-device-fault",
        "measurement-unavailable",
        "invalid-measurement-detected",
        "data-for-demonstration",
        "data-for-testing",
        "equipment-malfunction-detected",
        "sensor-malfunctioning",
    }
)


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceProfile:
    """What one kind of device sends: plausibility ranges, and codes to rewrite to LOINC.

    ``code_overrides`` maps a code the device reports (a vendor or MDC code in ``Measurement.code``)
    to the LOINC code it means; ``apply`` rewrites a frame with it before ``check``.
    """

    name: str
    description: str
    ranges: Mapping[tuple[str, str], Range] = field(default_factory=lambda: DEFAULT_RANGES)
    code_overrides: Mapping[str, str] = field(default_factory=dict)
    suspect_flags: frozenset[str] = SUSPECT_FLAGS

    def apply(self, frame: DecodedFrame) -> DecodedFrame:
        """The frame with overridden codes replaced by their LOINC code and display."""
        if not self.code_overrides:
            return frame
        return frame.replace(measurements=tuple(self._rewrite(m) for m in frame.measurements))

    def _rewrite(self, measurement: Measurement) -> Measurement:
        loinc = self.code_overrides.get(measurement.code)
        if loinc is None:
            return measurement
        known = find_concept(loinc)
        return measurement._replace(code=loinc, display=known.display if known else measurement.display)

    def check(self, frame: DecodedFrame) -> list[str]:
        """Why the frame is implausible, one sentence per problem; empty when plausible."""
        frame = self.apply(frame)
        reasons = [reason for m in frame.measurements for reason in self._check_one(m)]
        return reasons + _panel_reasons(frame.measurements)

    def _check_one(self, measurement: Measurement) -> list[str]:
        reasons = [
            f"{measurement.display}: the device reports {flag}"
            for flag in measurement.flags
            if flag in self.suspect_flags
        ]
        if measurement.value is None:
            return reasons
        codes = {code for code, _ in self.ranges}
        allowed = self.ranges.get((measurement.code, measurement.unit))
        label = f"{measurement.display} {measurement.value_text} {measurement.unit}"
        if allowed is not None and measurement.value not in allowed:
            reasons.append(f"{label} is outside the plausible range {allowed.low}-{allowed.high}")
        elif allowed is None and measurement.code in codes:
            reasons.append(f"{label}: unit {measurement.unit!r} is not one this profile expects")
        elif allowed is None:
            reasons.append(f"{label}: {measurement.code} is not a measurement the {self.name} profile expects")
        return reasons


def _value(measurements: tuple[Measurement, ...], code: str) -> tuple[Decimal, str] | None:
    found = next((m for m in measurements if m.code == code and m.value is not None), None)
    return None if found is None or found.value is None else (found.value, found.unit)


def _panel_reasons(measurements: tuple[Measurement, ...]) -> list[str]:
    """Checks across a blood-pressure panel (values in the same unit only)."""
    systolic, diastolic = _value(measurements, "8480-6"), _value(measurements, "8462-4")
    mean = _value(measurements, "8478-0")
    reasons = []
    if systolic and diastolic and systolic[1] == diastolic[1] and diastolic[0] >= systolic[0]:
        reasons.append(f"diastolic {diastolic[0]} is not below systolic {systolic[0]} {systolic[1]}")
    if systolic and diastolic and mean and len({systolic[1], diastolic[1], mean[1]}) == 1:
        low, high = min(systolic[0], diastolic[0]), max(systolic[0], diastolic[0])
        if not low <= mean[0] <= high:
            reasons.append(f"mean pressure {mean[0]} is not between diastolic and systolic")
    return reasons


def _subset(*codes: str) -> Mapping[tuple[str, str], Range]:
    return MappingProxyType({key: value for key, value in DEFAULT_RANGES.items() if key[0] in codes})


_BP = ("8480-6", "8462-4", "8478-0", "8867-4")
PROFILES: Mapping[str, DeviceProfile] = MappingProxyType(
    {
        profile.name: profile
        for profile in (
            DeviceProfile(name="default", description="Any device: every range this agent knows"),
            DeviceProfile(
                name="ble-blood-pressure",
                description="BLE Blood Pressure (0x1810) cuff",
                ranges=_subset(*_BP),
            ),
            DeviceProfile(
                name="ble-glucose",
                description="BLE Glucose (0x1808) meter",
                ranges=_subset("41653-7", "14743-9", "2339-0", "15074-8", "2345-7", "14749-6"),
            ),
            DeviceProfile(
                name="ble-thermometer",
                description="BLE Health Thermometer (0x1809)",
                ranges=_subset("8310-5"),
            ),
            DeviceProfile(
                name="ble-pulse-oximeter",
                description="BLE Pulse Oximeter (0x1822)",
                ranges=_subset("59408-5", "8867-4"),
            ),
            DeviceProfile(
                name="ble-weight-scale",
                description="BLE Weight Scale (0x181D)",
                ranges=_subset("29463-7", "39156-5", "8302-2"),
            ),
            DeviceProfile(
                name="ble-body-composition",
                description="BLE Body Composition (0x181B) scale",
                ranges=_subset("41982-0", "29463-7", "8302-2"),
            ),
            DeviceProfile(
                name="cms50",
                description="Contec CMS50 oximeter on its serial cable",
                ranges=_subset("59408-5", "8867-4"),
            ),
            DeviceProfile(name="omron", description="Omron HEM-xxxxT cuff, proprietary records", ranges=_subset(*_BP)),
            DeviceProfile(
                name="lab-chemistry",
                description="Chemistry and HbA1c analysers (ASTM): glucose, lipids, kidney and liver panels",
                ranges=_subset("14749-6", "15074-8", "2345-7", "2339-0", *{code for code, _ in _LAB}),
            ),
        )
    }
)

_BY_PROTOCOL = {
    "astm": "lab-chemistry",
    "ble:2A35": "ble-blood-pressure",
    "ble:2A36": "ble-blood-pressure",
    "ble:2A18": "ble-glucose",
    "ble:2A1C": "ble-thermometer",
    "ble:2A1E": "ble-thermometer",
    "ble:2A5E": "ble-pulse-oximeter",
    "ble:2A5F": "ble-pulse-oximeter",
    "ble:2A9D": "ble-weight-scale",
    "ble:2A9C": "ble-body-composition",
}


def profile_for(protocol: str) -> DeviceProfile:
    """The profile for a frame's protocol ("ble:2A35", "cms50:new", "omron:hem-7322t"), else default."""
    name = _BY_PROTOCOL.get(protocol) or protocol.split(":")[0]
    return PROFILES.get(name, PROFILES["default"])


def check(frame: DecodedFrame, profile: DeviceProfile | str | None = None) -> list[str]:
    """Why ``frame`` is implausible (empty = plausible), by ``profile`` or the one for its protocol."""
    if profile is None:
        chosen = profile_for(frame.protocol)
    elif isinstance(profile, str):
        chosen = PROFILES[profile]
    else:
        chosen = profile
    return chosen.check(frame)
