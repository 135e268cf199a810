"""The E1381 sender: establishment, numbered frames, retries, contention, timeouts, interrupts."""

from __future__ import annotations

from drivers.astm.events import (
    AstmEvent,
    LineContention,
    MessageFailed,
    MessageSent,
    Send,
    TransferAborted,
)
from drivers.astm.framing import decode_frame
from drivers.astm.sender import AstmSender

ENQ, ACK, NAK, EOT = b"\x05", b"\x06", b"\x15", b"\x04"
MESSAGE = b"H|\\^&\r" + b"R|1|^^^GLU|5.6|mmol/L\r" * 30 + b"L|1|N\r"  # 672 bytes: three frames


def established(message: bytes = MESSAGE, **options: object) -> tuple[AstmSender, bytes]:
    sender = AstmSender(**options)  # type: ignore[arg-type]
    assert sender.send(message, 0.0) == [Send(ENQ)]
    events = sender.feed(ACK, 0.1)
    assert len(events) == 1
    assert isinstance(events[0], Send)
    return sender, events[0].data


def sent(events: list[AstmEvent]) -> list[bytes]:
    return [e.data for e in events if isinstance(e, Send)]


def test_a_message_goes_in_frames_of_240_with_etb_then_etx_and_eot() -> None:
    sender, first = established()
    frames = [decode_frame(first)]
    events = sender.feed(ACK, 1.0)
    frames.append(decode_frame(sent(events)[0]))
    events = sender.feed(ACK, 2.0)
    frames.append(decode_frame(sent(events)[0]))
    shape = [(f.number, f.final, len(f.text)) for f in frames]
    assert shape == [(1, False, 240), (2, False, 240), (3, True, 192)]
    assert b"".join(f.text for f in frames) == MESSAGE
    assert sender.feed(ACK, 3.0) == [MessageSent(MESSAGE), Send(EOT)]
    assert not sender.active
    assert sender.pending == 0


def test_frame_numbers_continue_across_messages_and_wrap_to_zero() -> None:
    sender = AstmSender(max_text=4)
    sender.queue(b"H|\\^&\rL|1|N\r")  # 3 frames of 4 bytes
    sender.queue(b"H|\\^&\rR|1|x\rL|1|N\r")  # 5 frames
    events = sender.poll(0.0) + sender.feed(ACK, 0.0)
    numbers = []
    while sender.active:
        frame = [d for d in sent(events) if d[:1] == b"\x02"]
        numbers += [decode_frame(d).number for d in frame]
        events = sender.feed(ACK, 1.0)
    assert numbers == [1, 2, 3, 4, 5, 6, 7, 0]
    assert events == [MessageSent(b"H|\\^&\rR|1|x\rL|1|N\r"), Send(EOT)]


def test_a_refused_frame_is_sent_again_then_given_up_after_six_attempts() -> None:
    sender, first = established()
    for _ in range(5):
        assert sender.feed(NAK, 1.0) == [Send(first)]
    assert sender.feed(NAK, 1.0) == [Send(EOT), MessageFailed(MESSAGE, "frame 1 refused 6 times")]
    assert not sender.active
    assert sender.pending == 0


def test_any_reply_other_than_ack_or_eot_counts_as_nak() -> None:
    sender, first = established()
    assert sender.feed(b"?", 1.0) == [Send(first)]


def test_a_busy_receiver_is_asked_again_after_10_s() -> None:
    sender = AstmSender()
    sender.send(MESSAGE, 0.0)
    assert sender.feed(NAK, 1.0) == []
    assert sender.deadline == 11.0
    assert sender.poll(10.9) == []
    assert sender.poll(11.0) == [Send(ENQ)]


def test_on_contention_the_computer_yields_for_20_s() -> None:
    sender = AstmSender(role="computer")
    sender.send(MESSAGE, 0.0)
    assert sender.feed(ENQ, 1.0) == [LineContention()]
    assert not sender.active
    assert sender.poll(20.9) == []
    assert sender.poll(21.0) == [Send(ENQ)]


def test_on_contention_the_instrument_insists_after_1_s() -> None:
    sender = AstmSender(role="instrument")
    sender.send(MESSAGE, 0.0)
    assert sender.feed(ENQ, 1.0) == [LineContention()]
    assert sender.poll(2.0) == [Send(ENQ)]


def test_no_reply_to_enq_within_15_s_ends_with_eot_and_keeps_the_message() -> None:
    sender = AstmSender()
    sender.send(MESSAGE, 0.0)
    assert sender.poll(14.9) == []
    assert sender.poll(15.0) == [
        Send(EOT),
        TransferAborted("no reply to <ENQ> in 15 s", timed_out=True),
    ]
    assert sender.pending == 1
    assert sender.poll(25.0) == [Send(ENQ)]


def test_no_reply_to_a_frame_within_15_s_fails_the_message() -> None:
    sender, _ = established()
    assert sender.poll(15.0) == []
    assert sender.feed(b"", 15.1) == [
        Send(EOT),
        MessageFailed(MESSAGE, "no reply to frame 1 in 15 s", timed_out=True),
    ]


def test_eot_after_the_last_frame_is_an_ack_and_a_request_for_the_line() -> None:
    sender, _ = established(b"H|\\^&\rL|1|N\r")
    sender.queue(MESSAGE)
    assert sender.feed(EOT, 1.0) == [MessageSent(b"H|\\^&\rL|1|N\r"), Send(EOT)]
    assert not sender.active
    assert sender.pending == 1
    assert sender.poll(5.0) == []  # the receiver has the line for a while


def test_eot_in_the_middle_of_a_message_sends_it_again_later_from_the_start() -> None:
    sender, _ = established()
    assert sender.feed(EOT, 1.0) == [Send(EOT)]
    assert sender.pending == 1
    assert sender.poll(11.0) == [Send(ENQ)]
    first = sent(sender.feed(ACK, 11.5))[0]
    assert decode_frame(first).text == MESSAGE[:240]


def test_replies_while_idle_are_ignored() -> None:
    sender = AstmSender()
    assert sender.feed(ACK + NAK + EOT, 0.0) == []
    assert sender.deadline is None
