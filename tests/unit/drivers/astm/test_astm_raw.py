"""Raw mode (TCP instruments without ENQ/ACK): checked frames, bare record text, loss detection."""

from __future__ import annotations

from drivers.astm.events import FrameRejected, MessageReceived, TransferAborted
from drivers.astm.framing import Frame, encode_frame, split_text
from drivers.astm.raw import RawAstmReceiver

MESSAGE = b"H|\\^&|||Analyser\rP|1|PID7\rR|1|^^^HbA1c|6.1|%||N||F\rL|1|N\r"


def frames(text: bytes = MESSAGE, size: int = 20) -> list[bytes]:
    return [encode_frame(f) for f in split_text(text, max_text=size)]


def test_frames_without_enq_make_a_message() -> None:
    receiver = RawAstmReceiver()
    assert receiver.feed(b"".join(frames()), 0.0) == [MessageReceived(MESSAGE)]
    assert receiver.idle


def test_bare_record_text_makes_a_message_with_any_line_ending() -> None:
    receiver = RawAstmReceiver()
    text = MESSAGE.replace(b"\r", b"\r\n")
    assert receiver.feed(b"noise\r" + text[:30], 0.0) == []
    assert receiver.feed(text[30:], 0.1) == [MessageReceived(MESSAGE)]


def test_a_corrupt_frame_discards_its_message_and_the_next_message_is_clean() -> None:
    receiver = RawAstmReceiver()
    parts = frames()
    broken = parts[1][:5] + b"#" + parts[1][6:]
    events = receiver.feed(parts[0] + broken + b"".join(parts[2:]), 0.0)
    assert isinstance(events[0], FrameRejected)
    assert isinstance(events[1], TransferAborted)
    assert all(not isinstance(e, MessageReceived) for e in events)
    assert receiver.feed(b"".join(frames()), 1.0) == [MessageReceived(MESSAGE)]


def test_a_lost_frame_is_noticed_by_its_number() -> None:
    receiver = RawAstmReceiver()
    parts = frames()
    events = receiver.feed(parts[0] + b"".join(parts[2:]), 0.0)
    assert events[0] == TransferAborted("frame 3 where 2 was due: a frame was lost", MESSAGE[:20])
    assert all(not isinstance(e, MessageReceived) for e in events)


def test_a_partial_message_is_dropped_after_the_timeout() -> None:
    receiver = RawAstmReceiver(timeout=30.0)
    receiver.feed(frames()[0], 5.0)
    assert receiver.deadline == 35.0
    assert receiver.poll(34.0) == []
    expired = TransferAborted("message incomplete after 30 s", MESSAGE[:20], timed_out=True)
    assert receiver.poll(35.0) == [expired]
    assert receiver.idle


def test_a_frame_that_does_not_start_with_h_cannot_start_a_message() -> None:
    receiver = RawAstmReceiver()
    events = receiver.feed(encode_frame(Frame(number=1, text=b"R|1\rL|1|N\r", final=True)), 0.0)
    assert events == [FrameRejected("frame 1 does not start a message; dropped")]


def test_messages_over_the_limit_are_dropped() -> None:
    receiver = RawAstmReceiver(max_message=40)
    too_long = TransferAborted("message longer than 40 bytes", MESSAGE[:40])
    assert receiver.feed(b"".join(frames()), 0.0) == [too_long]
    assert receiver.feed(MESSAGE, 1.0) == [TransferAborted("message longer than 40 bytes")]
