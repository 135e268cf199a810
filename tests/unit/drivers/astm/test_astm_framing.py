"""E1381 frames: strict on checksum, number and restricted bytes; lenient on length and CR/LF."""

from __future__ import annotations

import pytest

from drivers.astm.framing import (
    Frame,
    checksum,
    decode_frame,
    encode_frame,
    ends_with_terminator,
    iter_frames,
    join_frames,
    split_text,
)
from drivers.errors import FrameError

GOOD = b"\x021A|B|C|D\r\x03BF\r\n"


@pytest.mark.parametrize("ending", [b"\r\n", b"\r", b"\n"])
def test_a_lost_cr_or_lf_after_the_checksum_is_tolerated(ending: bytes) -> None:
    assert decode_frame(GOOD[:-2] + ending) == Frame(number=1, text=b"A|B|C|D\r", final=True)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\x021A|B|C|D\r\x03BE\r\n", "checksum BE does not match BF"),
        (b"\x021A|B|C|D\r\x03bf\r\n", "not two uppercase hex digits"),
        (b"\x028A|B|C|D\r\x03C6\r\n", "not a digit 0-7"),
        (b"1A|B|C|D\r\x03BF\r\n", "does not start with <STX>"),
        (b"\x021A|B|C|D\rX\x03BF\r\n", "checksum"),
        (b"\x021A|B|\x05C\r\x03" + checksum(b"1A|B|\x05C\r\x03") + b"\r\n", "restricted byte 0x05"),
        (b"\x021A|B|C|D\rBF\r\n", "not ended by <ETX> or <ETB>"),
        (b"\x02\x03\r\n", "too short"),
    ],
)
def test_bad_frames_are_refused_with_a_reason(data: bytes, reason: str) -> None:
    with pytest.raises(FrameError, match=reason):
        decode_frame(data)


def test_lf_in_text_is_restricted_even_with_a_right_checksum() -> None:
    body = b"1A\nB\r\x03"
    with pytest.raises(FrameError, match="restricted byte 0x0A"):
        decode_frame(b"\x02" + body + checksum(body) + b"\r\n")


def test_checksum_of_the_e1381_example() -> None:
    assert checksum(b"1A|B|C|D\r\x03") == b"BF"
    assert checksum(b"") == b"00"


def test_oversize_frames_decode() -> None:
    text = b"R|1|" + b"x" * 600 + b"\r"
    assert decode_frame(encode_frame(Frame(number=2, text=text, final=True))).text == text


def test_text_is_split_at_240_bytes_with_etb_frames_before_the_etx_frame() -> None:
    text = bytes(range(0x20, 0x7F)) * 6  # 570 bytes
    frames = split_text(text)
    assert [len(f.text) for f in frames] == [240, 240, 90]
    assert [f.final for f in frames] == [False, False, True]
    assert [f.number for f in frames] == [1, 2, 3]
    assert all(len(encode_frame(f)) <= 247 for f in frames)
    assert encode_frame(frames[0])[-5] == 0x17  # ETB
    assert b"".join(f.text for f in frames) == text


def test_frame_numbers_run_1_to_7_then_0() -> None:
    frames = split_text(b"x" * 10, max_text=1)
    assert [f.number for f in frames] == [1, 2, 3, 4, 5, 6, 7, 0, 1, 2]
    assert [f.number for f in split_text(b"xy", first_number=7, max_text=1)] == [7, 0]


@pytest.mark.parametrize("frame", [Frame(number=8, text=b"x", final=True), Frame(number=1, text=b"a\x03b", final=True)])
def test_encoder_refuses_what_e1381_forbids(frame: Frame) -> None:
    with pytest.raises(ValueError):  # caller mistakes, not peer input: not FrameError
        encode_frame(frame)


def test_iter_frames_reads_a_capture_with_handshake_bytes_between_frames() -> None:
    frames = split_text(b"H|\\^&\rL|1|N\r", max_text=6)
    capture = b"\x05\x06" + b"\x06".join(encode_frame(f) for f in frames) + b"\x06\x04"
    assert list(iter_frames(capture)) == frames


@pytest.mark.parametrize(
    ("capture", "reason"),
    [
        (b"\x021abc", "no <ETX> or <ETB>"),
        (b"\x021abc\x03B", "cut off inside its checksum"),
        (b"\x021ab\x021cd\x03\r\n", "before the next <STX>"),
        (GOOD + b"junk", "unexpected byte 0x6A"),
    ],
)
def test_iter_frames_refuses_a_broken_capture(capture: bytes, reason: str) -> None:
    with pytest.raises(FrameError, match=reason):
        list(iter_frames(capture))


def test_join_frames_drops_a_retransmission_and_checks_numbering() -> None:
    a, b = split_text(b"H|\\^&\rL|1|N\r", max_text=6)
    assert join_frames([a, a, b]) == b"H|\\^&\rL|1|N\r"
    with pytest.raises(FrameError, match="frame number 1 follows 1"):
        join_frames([a, Frame(number=1, text=b"other", final=True)])
    with pytest.raises(FrameError, match="incomplete"):
        join_frames([a])
    with pytest.raises(FrameError, match="no frames"):
        join_frames([])


@pytest.mark.parametrize(
    ("text", "complete"),
    [
        (b"H|\\^&\rL|1|N\r", True),
        (b"H|\\^&\rL|1|N", True),
        (b"H|\\^&\rR|1\r", False),
        (b"H|\\^&\rLX|1\r", False),
        (b"H!\\^&\rL!1\r", True),
        (b"H!\\^&\rL|1\r", False),
        (b"L", True),
    ],
)
def test_a_message_is_complete_when_its_last_record_is_l(text: bytes, complete: bool) -> None:
    assert ends_with_terminator(text) is complete
