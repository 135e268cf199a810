"""MLLP framing and the streaming decoder: chunks, junk, resync and bounded memory."""

from __future__ import annotations

import pytest

from drivers.errors import FrameError
from drivers.hl7.mllp import MllpDecoder, frame, unwrap

MESSAGE = b"MSH|^~\\&|A||||20240601||ORU^R01|1|P|2.6\rOBR|1"


def test_frame_matches_python_hl7() -> None:
    assert frame(b"foobar") == b"\x0bfoobar\x1c\r"
    with pytest.raises(ValueError):  # a caller mistake: the message cannot be framed
        frame(b"a\x1cb")


def test_messages_arrive_in_any_chunks() -> None:
    stream = frame(MESSAGE) + frame(b"second")
    for size in (1, 2, 7, len(stream)):
        decoder = MllpDecoder()
        got = [m for i in range(0, len(stream), size) for m in decoder.feed(stream[i : i + size])]
        assert got == [MESSAGE, b"second"]
        assert decoder.take_problems() == []


def test_a_message_ends_at_fs_even_without_the_cr() -> None:
    decoder = MllpDecoder()
    assert decoder.feed(b"\x0bone\x1c") == [b"one"]
    assert decoder.feed(b"\x0btwo\x1c\r\n") == [b"two"]
    assert decoder.take_problems() == []


def test_junk_is_skipped_and_reported() -> None:
    decoder = MllpDecoder()
    assert decoder.feed(b"noise" + frame(b"one")) == [b"one"]
    assert decoder.take_problems() == ["skipped 5 bytes outside an MLLP block"]
    assert decoder.take_problems() == []


def test_a_new_start_block_resyncs() -> None:
    decoder = MllpDecoder()
    assert decoder.feed(b"\x0bhalf a mess") == []
    assert decoder.feed(b"age\x0bwhole\x1c\r") == [b"whole"]
    assert decoder.take_problems() == ["message cut short after 14 bytes by a new start block"]


def test_an_oversize_message_is_dropped_without_holding_it() -> None:
    decoder = MllpDecoder(max_message=100)
    assert decoder.feed(b"\x0b" + b"x" * 60) == []
    assert decoder.feed(b"x" * 60) == []
    assert decoder.buffered == 0
    assert decoder.feed(b"x" * 10_000) == []
    assert decoder.buffered == 0
    assert decoder.feed(b"\x1c\r" + frame(b"next")) == [b"next"]
    assert decoder.take_problems() == ["message longer than 100 bytes dropped"]


def test_an_unterminated_stream_never_holds_more_than_the_limit() -> None:
    decoder = MllpDecoder(max_message=1000)
    decoder.feed(b"\x0b")
    for _ in range(100):
        decoder.feed(b"y" * 999)
        assert decoder.buffered <= 1000


def test_empty_blocks_are_reported_not_delivered() -> None:
    decoder = MllpDecoder()
    assert decoder.feed(b"\x0b\x1c\r") == []
    assert decoder.take_problems() == ["empty MLLP block"]


def test_unwrap() -> None:
    assert unwrap(frame(MESSAGE)) == MESSAGE
    assert unwrap(MESSAGE + b"\r\n") == MESSAGE
    for bad, reason in [
        (b"\x0bno end", "no end byte"),
        (frame(b"a") + frame(b"b"), "one message at a time"),
        (b"MSH\x0b", "stray MLLP framing byte"),
    ]:
        with pytest.raises(FrameError, match=reason):
            unwrap(bad)
