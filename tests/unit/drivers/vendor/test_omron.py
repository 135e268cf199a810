"""Omron HEM proprietary packets: framing, XOR, channel pieces, the HEM-7322T record."""

from __future__ import annotations

import contextlib
from datetime import datetime
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.errors import FrameError
from drivers.vendor.omron import (
    PAIRING_REQUEST,
    OmronAssembler,
    OmronPacket,
    decode_hem7322t_record,
    decode_omron,
    encode_omron,
    parse_omron,
    read_eeprom,
    split_channels,
    unlock,
)

packets = st.builds(
    OmronPacket,
    type=st.integers(0, 0xFFFF),
    address=st.integers(0, 0xFFFF),
    size=st.integers(0, 0xFF),
    data=st.binary(max_size=56),
    padding=st.integers(0, 0xFF),
)


@given(packets)
@settings(max_examples=200)
def test_packets_round_trip_and_xor_to_zero(packet: OmronPacket) -> None:
    wire = encode_omron(packet)
    assert wire[0] == len(wire) == 8 + len(packet.data)
    xor = 0
    for byte in wire:
        xor ^= byte
    assert xor == 0
    assert parse_omron(wire + b"\xaa\xbb") == packet


def test_read_request_and_reply() -> None:
    assert read_eeprom(0x02AC, 0x0E) == bytes.fromhex("08010002AC0E00A9")
    reply = encode_omron(OmronPacket(type=0x8100, address=0x02AC, size=2, data=b"\x50\x4d"))
    fields = decode_omron(reply).fields
    assert (fields["type_name"], fields["address"], fields["data_hex"]) == (
        "read eeprom reply",
        0x02AC,
        "504D",
    )


def test_end_reply_carries_an_error_code() -> None:
    fields = decode_omron(encode_omron(OmronPacket(type=0x8F00, size=1, data=b"\x00"))).fields
    assert fields["error_code"] == 0


@pytest.mark.parametrize("hex_", ["", "08", "0800000000100019", "0900000000100018", "0300000000100018"])
def test_bad_packets_are_rejected(hex_: str) -> None:
    with pytest.raises(FrameError):
        parse_omron(bytes.fromhex(hex_))


@given(st.binary(max_size=80))
@settings(max_examples=300)
def test_random_bytes_raise_nothing_but_frame_error(data: bytes) -> None:
    with contextlib.suppress(FrameError):
        decode_omron(data)


def test_unlock_writes() -> None:
    key = bytes(range(16))
    assert unlock(key) == b"\x01" + key
    assert unlock(key, program=True) == b"\x00" + key
    assert b"\x02" + bytes(16) == PAIRING_REQUEST
    with pytest.raises(FrameError):
        unlock(b"short")


@given(packets, st.permutations(range(4)))
@settings(max_examples=200)
def test_pieces_on_four_channels_reassemble_in_any_order(packet: OmronPacket, order: list[int]) -> None:
    pieces = split_channels(encode_omron(packet))
    assert all(len(piece) <= 16 for piece in pieces)
    assembler = OmronAssembler()
    found = [assembler.feed(i, pieces[i]) for i in order if i < len(pieces)]
    assert [p for p in found if p is not None] == [packet]


def test_a_corrupted_piece_is_a_frame_error() -> None:
    pieces = split_channels(encode_omron(OmronPacket(type=0x8100, size=20, data=bytes(20))))
    assembler = OmronAssembler()
    assert assembler.feed(1, pieces[1]) is None
    with pytest.raises(FrameError):
        assembler.feed(0, bytes([pieces[0][0]]) + b"\xff" + pieces[0][2:])
    with pytest.raises(FrameError):
        assembler.feed(4, b"")


def test_hem7322t_record_layout() -> None:
    # dia 80, sys 120 (stored 95), 2024, pulse 66, irregular heartbeat, 2024-05-17 08:30:45
    bits = f"{80:08b}{95:08b}{24:08b}{66:08b}01{5:04b}{17:05b}{8:05b}0000{30:06b}{45:06b}"
    record = int(bits, 2).to_bytes(8, "big") + bytes(6)
    frame = decode_hem7322t_record(record)
    assert [(m.code, m.value, m.unit) for m in frame.measurements] == [
        ("8480-6", Decimal(120), "mm[Hg]"),
        ("8462-4", Decimal(80), "mm[Hg]"),
        ("8867-4", Decimal(66), "/min"),
    ]
    assert frame.measurements[0].flags == ("irregular-pulse",)
    assert frame.device_time == datetime(2024, 5, 17, 8, 30, 45)
    with pytest.raises(FrameError):
        decode_hem7322t_record(record[:13])


def test_hem7322t_seconds_above_59_and_impossible_dates() -> None:
    bits = f"{80:08b}{95:08b}{24:08b}{66:08b}00{5:04b}{17:05b}{8:05b}0000{30:06b}{63:06b}"
    assert decode_hem7322t_record(int(bits, 2).to_bytes(8, "big") + bytes(6)).device_time == datetime(
        2024, 5, 17, 8, 30, 59
    )
    frame = decode_hem7322t_record(bytes(14))
    assert frame.device_time is None
    assert frame.fields["iso"] is None
