"""Hypothesis strategies for the BLE records, shared by the BLE tests of this folder."""

from __future__ import annotations

from typing import TypeVar

from hypothesis import strategies as st

from drivers.ble.blood_pressure import BloodPressure
from drivers.ble.body_composition import BodyComposition
from drivers.ble.glucose import GlucoseContext, GlucoseMeasurement
from drivers.ble.pulse_oximeter import Continuous, PlxFeatures, SpotCheck
from drivers.ble.racp import FilterType, OpCode, Operator, RacpRequest
from drivers.ble.thermometer import Temperature
from drivers.ble.weight_scale import WeightMeasurement
from drivers.ieee11073 import CurrentTime, DateTime, Mder, Special

T = TypeVar("T")
u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u24 = st.integers(0, 0xFFFFFF)
nibble = st.integers(0, 0x0F)
specials = st.sampled_from(list(Special)).map(lambda s: Mder(special=s))


def _number(mantissa_bits: int, exponent_bits: int) -> st.SearchStrategy[Mder]:
    top = 1 << (mantissa_bits - 1)
    reserved = {top - 2, top - 1, top, top + 1, top + 2}  # raw mantissas of the special values
    plain = st.builds(
        Mder,
        st.integers(-top, top - 1),
        st.integers(-(1 << (exponent_bits - 1)), (1 << (exponent_bits - 1)) - 1),
    ).filter(lambda m: not (m.exponent == 0 and (m.mantissa % (1 << mantissa_bits)) in reserved))
    return st.one_of(plain, specials)


sfloats = _number(12, 4)
floats32 = _number(24, 8)
date_times = st.builds(DateTime, year=u16, month=u8, day=u8, hours=u8, minutes=u8, seconds=u8)
current_times = st.builds(
    CurrentTime,
    year=u16,
    month=u8,
    day=u8,
    hours=u8,
    minutes=u8,
    seconds=u8,
    day_of_week=u8,
    fractions256=u8,
    adjust_reason=u8,
)


def optional(strategy: st.SearchStrategy[T]) -> st.SearchStrategy[T | None]:
    """Absent or a value."""
    return st.none() | strategy


blood_pressures = st.builds(
    BloodPressure,
    systolic=sfloats,
    diastolic=sfloats,
    mean_arterial_pressure=sfloats,
    kpa=st.booleans(),
    time_stamp=optional(date_times),
    pulse_rate=optional(sfloats),
    user_id=optional(u8),
    measurement_status=optional(u16),
)


@st.composite
def glucose_measurements(draw: st.DrawFn) -> GlucoseMeasurement:
    """Glucose records; type and location are only sent with a concentration."""
    concentration = draw(optional(sfloats))
    has = concentration is not None
    return GlucoseMeasurement(
        sequence_number=draw(u16),
        base_time=draw(date_times),
        time_offset=draw(optional(st.integers(-32768, 32767))),
        concentration=concentration,
        mol_per_l=draw(st.booleans()),
        type=draw(nibble) if has else 0,
        sample_location=draw(nibble) if has else 0,
        sensor_status_annunciation=draw(optional(u16)),
        context_follows=draw(st.booleans()),
    )


@st.composite
def glucose_contexts(draw: st.DrawFn) -> GlucoseContext:
    """Context records with their paired fields both present or both absent."""
    carbohydrate = draw(optional(st.tuples(u8, sfloats)))
    tester_health = draw(optional(st.tuples(nibble, nibble)))
    exercise = draw(optional(st.tuples(u16, u8)))
    medication = draw(optional(st.tuples(u8, sfloats)))
    return GlucoseContext(
        sequence_number=draw(u16),
        extended_flags=draw(optional(u8)),
        carbohydrate_id=carbohydrate and carbohydrate[0],
        carbohydrate=carbohydrate and carbohydrate[1],
        meal=draw(optional(u8)),
        tester=tester_health and tester_health[0],
        health=tester_health and tester_health[1],
        exercise_duration=exercise and exercise[0],
        exercise_intensity=exercise and exercise[1],
        medication_id=medication and medication[0],
        medication=medication and medication[1],
        medication_in_liters=draw(st.booleans()),
        hba1c=draw(optional(sfloats)),
    )


temperatures = st.builds(
    Temperature,
    temperature=floats32,
    fahrenheit=st.booleans(),
    time_stamp=optional(date_times),
    temperature_type=optional(u8),
)
spot_checks = st.builds(
    SpotCheck,
    spo2=sfloats,
    pulse_rate=sfloats,
    time_stamp=optional(date_times),
    measurement_status=optional(u16),
    device_and_sensor_status=optional(u24),
    pulse_amplitude_index=optional(sfloats),
    device_clock_not_set=st.booleans(),
)


@st.composite
def continuous_measurements(draw: st.DrawFn) -> Continuous:
    """Continuous records with the fast/slow pairs whole."""
    fast = draw(optional(st.tuples(sfloats, sfloats)))
    slow = draw(optional(st.tuples(sfloats, sfloats)))
    return Continuous(
        spo2=draw(sfloats),
        pulse_rate=draw(sfloats),
        spo2_fast=fast and fast[0],
        pulse_rate_fast=fast and fast[1],
        spo2_slow=slow and slow[0],
        pulse_rate_slow=slow and slow[1],
        measurement_status=draw(optional(u16)),
        device_and_sensor_status=draw(optional(u24)),
        pulse_amplitude_index=draw(optional(sfloats)),
    )


@st.composite
def plx_features(draw: st.DrawFn) -> PlxFeatures:
    """Feature records whose support fields agree with bits 0 and 1."""
    features = draw(u16)
    return PlxFeatures(
        supported_features=features,
        measurement_status_support=draw(u16) if features & 1 else None,
        device_and_sensor_status_support=draw(u24) if features & 2 else None,
    )


@st.composite
def weights(draw: st.DrawFn) -> WeightMeasurement:
    """Weight records; BMI and height go together."""
    bmi_height = draw(optional(st.tuples(u16, u16)))
    return WeightMeasurement(
        weight=draw(u16),
        imperial=draw(st.booleans()),
        time_stamp=draw(optional(date_times)),
        user_id=draw(optional(u8)),
        bmi=bmi_height and bmi_height[0],
        height=bmi_height and bmi_height[1],
    )


body_compositions = st.builds(
    BodyComposition,
    body_fat_percentage=u16,
    imperial=st.booleans(),
    time_stamp=optional(date_times),
    user_id=optional(u8),
    basal_metabolism=optional(u16),
    muscle_percentage=optional(u16),
    muscle_mass=optional(u16),
    fat_free_mass=optional(u16),
    soft_lean_mass=optional(u16),
    body_water_mass=optional(u16),
    impedance=optional(u16),
    weight=optional(u16),
    height=optional(u16),
    multiple_packet=st.booleans(),
)


@st.composite
def racp_requests(draw: st.DrawFn) -> RacpRequest:
    """Requests as ``parse_racp`` returns them (the filter type follows the bounds)."""
    op = draw(
        st.sampled_from(
            [
                OpCode.REPORT_STORED_RECORDS,
                OpCode.DELETE_STORED_RECORDS,
                OpCode.REPORT_NUMBER_OF_STORED_RECORDS,
                OpCode.ABORT_OPERATION,
            ]
        )
    )
    if op == OpCode.ABORT_OPERATION:
        return RacpRequest(op_code=op, operator=Operator.NULL)
    operator = draw(st.sampled_from(list(Operator)[1:]))
    if operator in (Operator.ALL, Operator.FIRST, Operator.LAST):
        return RacpRequest(op_code=op, operator=operator)
    by_time = draw(st.booleans())
    bound = date_times if by_time else u16
    low, high = draw(bound), draw(bound)
    if operator == Operator.WITHIN_RANGE and not by_time:
        low, high = min(low, high), max(low, high)
    if operator == Operator.WITHIN_RANGE and by_time:
        low = high  # equal bounds are a valid range whatever the dates are
    return RacpRequest(
        op_code=op,
        operator=operator,
        filter_type=FilterType.USER_FACING_TIME if by_time else FilterType.SEQUENCE_NUMBER,
        minimum=None if operator == Operator.LESS_OR_EQUAL else low,
        maximum=None if operator == Operator.GREATER_OR_EQUAL else high,
    )
