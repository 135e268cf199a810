"""Properties of every BLE codec: only FrameError escapes, and encode -> parse is the identity."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from ble_strategies import (
    blood_pressures,
    body_compositions,
    continuous_measurements,
    current_times,
    glucose_contexts,
    glucose_measurements,
    plx_features,
    racp_requests,
    spot_checks,
    temperatures,
    weights,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drivers.ble import SUPPORTED_UUIDS, decode_characteristic, racp, thermometer, weight_scale
from drivers.ble import blood_pressure as bp
from drivers.ble import body_composition as bc
from drivers.ble import glucose as gl
from drivers.ble import pulse_oximeter as plx
from drivers.errors import FrameError
from drivers.ieee11073 import decode_current_time, encode_current_time
from drivers.measurement import DecodedFrame

# (uuid, strategy, encoder, parser)
ROUND_TRIPS: list[tuple[int, Any, Callable[[Any], bytes], Callable[[bytes], Any]]] = [
    (0x2A35, blood_pressures, bp.encode_blood_pressure, bp.parse_blood_pressure),
    (0x2A36, blood_pressures, bp.encode_blood_pressure, bp.parse_blood_pressure),
    (0x2A18, glucose_measurements(), gl.encode_glucose, gl.parse_glucose),
    (0x2A34, glucose_contexts(), gl.encode_glucose_context, gl.parse_glucose_context),
    (0x2A1C, temperatures, thermometer.encode_temperature, thermometer.parse_temperature),
    (0x2A1E, temperatures, thermometer.encode_temperature, thermometer.parse_temperature),
    (0x2A5E, spot_checks, plx.encode_plx_spot_check, plx.parse_plx_spot_check),
    (0x2A5F, continuous_measurements(), plx.encode_plx_continuous, plx.parse_plx_continuous),
    (0x2A60, plx_features(), plx.encode_plx_features, plx.parse_plx_features),
    (0x2A9D, weights(), weight_scale.encode_weight, weight_scale.parse_weight),
    (0x2A9C, body_compositions, bc.encode_body_composition, bc.parse_body_composition),
    (0x2A52, racp_requests(), racp.encode_request, racp.parse_racp),
    (0x2A2B, current_times, encode_current_time, decode_current_time),
]


def _assert_json_only(frame: DecodedFrame) -> None:
    json.dumps(frame.fields, allow_nan=False)
    json.dumps(frame.as_json(), allow_nan=False)


def _family_id(value: object) -> str:
    return f"{value:04X}" if isinstance(value, int) else ""


@pytest.mark.parametrize(("uuid", "strategy", "encode", "parse"), ROUND_TRIPS, ids=_family_id)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_encode_then_parse_gives_the_record_back(
    uuid: int, strategy: Any, encode: Any, parse: Any, data: st.DataObject
) -> None:
    record = data.draw(strategy)
    wire = encode(record)
    assert parse(wire) == record
    frame = decode_characteristic(uuid, wire)
    assert frame.protocol == f"ble:{uuid:04X}"
    _assert_json_only(frame)


@pytest.mark.parametrize("uuid", SUPPORTED_UUIDS, ids=_family_id)
@settings(max_examples=60, deadline=None)
@given(data=st.binary(max_size=40))
def test_random_bytes_raise_nothing_but_frame_error(uuid: int, data: bytes) -> None:
    try:
        frame = decode_characteristic(uuid, data)
    except FrameError:
        return
    _assert_json_only(frame)


@st.composite
def _mutated(draw: st.DrawFn, strategy: Any, encode: Callable[[Any], bytes]) -> bytes:
    wire = bytearray(encode(draw(strategy)))
    for _ in range(draw(st.integers(1, 4))):
        action = draw(st.sampled_from(["flip", "cut", "insert", "flags"]))
        at = draw(st.integers(0, max(len(wire) - 1, 0)))
        if action == "flip" and wire:
            wire[at] ^= 1 << draw(st.integers(0, 7))
        elif action == "cut":
            del wire[at:]
        elif action == "insert":
            wire.insert(at, draw(st.integers(0, 255)))
        elif wire:
            wire[0] = draw(st.integers(0, 255))  # flags announcing fields that may not be there
    return bytes(wire)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_mutated_values_raise_nothing_but_frame_error(data: st.DataObject) -> None:
    uuid, strategy, encode, parse = data.draw(st.sampled_from(ROUND_TRIPS))
    wire = data.draw(_mutated(strategy, encode))
    for attempt in (lambda: parse(wire), lambda: decode_characteristic(uuid, wire)):
        try:
            attempt()
        except FrameError:
            continue


def test_unknown_characteristics_are_frame_errors() -> None:
    with pytest.raises(FrameError, match="0x2a37"):
        decode_characteristic(0x2A37, b"\x00\x48")
