"""BCM-H10 kiosk module frames: checksum, commands, responses, stream resynchronisation."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.errors import FrameError
from drivers.vendor.bcm_h10 import (
    BcmCommand,
    BcmReceiver,
    BcmResponse,
    Function,
    Mode,
    body_composition,
    checksum,
    decode_bcm_h10,
    encode_command,
    encode_response,
    link_test,
    measure_height,
    parse_command,
    parse_response,
    tare,
)


def test_the_response_example_of_the_document() -> None:
    assert parse_response(bytes.fromhex("A55A03640168")) == BcmResponse(0x64, b"\x01")
    assert checksum(bytes.fromhex("A55A036401")) == 0x68


@pytest.mark.parametrize(
    ("wire", "function"),
    [(link_test(), Function.LINK_TEST), (tare(), Function.TARE), (measure_height(), Function.MEASURE_HEIGHT)],
)
def test_simple_commands(wire: bytes, function: Function) -> None:
    assert parse_command(wire) == BcmCommand(0x03, function)
    assert decode_bcm_h10(wire).fields["function_name"] == function.name.lower()


def test_body_composition_carries_the_person() -> None:
    fields = decode_bcm_h10(body_composition("W", 61, 1552, 548)).fields
    assert (
        fields["mode_name"],
        fields["sex"],
        fields["age"],
        fields["height_mm"],
        fields["weight_100g"],
    ) == (
        "whole_body",
        "W",
        61,
        1552,
        548,
    )
    with pytest.raises(FrameError):
        body_composition("X", 61, 1552, 548)  # type: ignore[arg-type]
    with pytest.raises(FrameError):
        body_composition("M", 300, 1552, 548, Mode.FEET)


@pytest.mark.parametrize("hex_", ["", "A55A", "A55A0303363D", "A55A0403363C", "A55B0303363C", "A55A01FF", "A55A0303"])
def test_bad_frames_are_rejected(hex_: str) -> None:
    with pytest.raises(FrameError):
        decode_bcm_h10(bytes.fromhex(hex_))


@given(st.integers(0, 255), st.binary(max_size=40))
@settings(max_examples=200)
def test_responses_round_trip(response_id: int, data: bytes) -> None:
    response = BcmResponse(response_id, data)
    wire = encode_response(response)
    assert parse_response(wire) == response
    assert decode_bcm_h10(wire, "response").fields["data_hex"] == data.hex().upper()


@given(st.integers(0, 255), st.integers(0, 255), st.binary(max_size=40))
@settings(max_examples=200)
def test_commands_round_trip(device: int, function: int, data: bytes) -> None:
    assert parse_command(encode_command(function, data, device)) == BcmCommand(device, function, data)


# Garbage that holds no A5 byte cannot fake a header.
GARBAGE = st.binary(max_size=8).map(lambda b: b.replace(b"\xa5", b"\x00"))


@given(st.lists(st.tuples(GARBAGE, st.integers(0, 255), st.binary(max_size=12)), max_size=6), GARBAGE)
@settings(max_examples=150)
def test_the_receiver_finds_every_response_between_garbage(pairs: list[tuple[bytes, int, bytes]], tail: bytes) -> None:
    stream = b"".join(junk + encode_response(BcmResponse(i, d)) for junk, i, d in pairs) + tail
    receiver = BcmReceiver()
    found = [r for byte in stream for r in receiver.feed(bytes([byte]))]
    assert found == [BcmResponse(i, d) for _, i, d in pairs]


def test_the_receiver_skips_a_damaged_frame() -> None:
    good = encode_response(BcmResponse(0x64, b"\x01"))
    damaged = good[:-1] + b"\x00"
    receiver = BcmReceiver()
    assert receiver.feed(damaged + good) == [BcmResponse(0x64, b"\x01")]
    assert receiver.discarded >= len(damaged)


@given(st.binary(max_size=80))
@settings(max_examples=300)
def test_random_bytes_raise_nothing_but_frame_error(data: bytes) -> None:
    with contextlib.suppress(FrameError):
        decode_bcm_h10(data)
    BcmReceiver().feed(data)
