"""The local API's frames: split or joined anyhow, and oversize ones skipped in constant memory."""

from __future__ import annotations

import contextlib
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clinic_agent.api.framing import HEADER, MAX_DEPTH, FrameDecoder, FramingError, Oversize, decode_body, encode


def test_frames_survive_any_chunking() -> None:
    messages = [{"id": i, "method": "ping", "params": {"text": "张" * i}} for i in range(50)]
    stream = b"".join(encode(m) for m in messages)
    rng = random.Random(5)
    decoder = FrameDecoder()
    out: list[bytes | Oversize] = []
    position = 0
    while position < len(stream):
        step = rng.randint(1, 40)
        out += decoder.feed(stream[position : position + step])
        position += step
    assert [decode_body(body) for body in out if isinstance(body, bytes)] == messages


def test_an_oversize_frame_is_skipped_without_being_buffered() -> None:
    decoder = FrameDecoder(max_frame=1024)
    big = HEADER.pack(10_000_000)
    assert decoder.feed(big) == [Oversize(10_000_000)]
    for _ in range(1000):  # 10 MB of body, fed in 10 kB pieces
        assert decoder.feed(b"x" * 10_000) == []
        assert decoder.buffered == 0
    follow = encode({"id": 2, "method": "ping"})
    assert decoder.feed(follow) == [follow[HEADER.size :]]


def test_an_oversize_frame_followed_at_once_by_a_good_one() -> None:
    decoder = FrameDecoder(max_frame=8)
    good = encode({"a": 1})
    decoder.max_frame = len(good)
    result = decoder.feed(HEADER.pack(20) + b"y" * 20 + good)
    assert result == [Oversize(20), good[HEADER.size :]]


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b"\xff\xfe", b'"text"'])
def test_bodies_that_are_not_objects_are_refused(body: bytes) -> None:
    with pytest.raises(FramingError):
        decode_body(body)


@given(st.binary(max_size=2000))
def test_random_bytes_never_raise(data: bytes) -> None:
    decoder = FrameDecoder(max_frame=512)
    for body in decoder.feed(data):
        if isinstance(body, bytes):
            with contextlib.suppress(FramingError):
                decode_body(body)


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 1000, 100_000])
def test_deep_nesting_is_a_bad_frame_not_a_crash(depth: int) -> None:
    """Regression: 100k nested arrays raised RecursionError, which the daemon answered as `internal`."""
    body = b'{"id":1,"params":' + b"[" * depth + b"]" * depth + b"}"
    with pytest.raises(FramingError, match="nested"):
        decode_body(body)


def test_nesting_within_the_limit_is_fine() -> None:
    inner: object = []
    for _ in range(MAX_DEPTH - 2):
        inner = [inner]
    assert decode_body(encode({"params": inner})[HEADER.size :])["params"] == inner
    brackets = {"params": [[1, 2]] * 50_000}  # many brackets, little depth
    assert decode_body(encode(brackets)[HEADER.size :]) == brackets


@pytest.mark.parametrize("number", [b"NaN", b"Infinity", b"-Infinity", b"1e999", b"-1e400"])
def test_numbers_json_does_not_have_are_a_bad_frame(number: bytes) -> None:
    with pytest.raises(FramingError, match="number"):
        decode_body(b'{"id":1,"params":{"value":' + number + b"}}")
