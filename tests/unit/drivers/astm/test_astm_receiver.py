"""The E1381 receiver: replies, frame checks, message delivery held until the caller stores it."""

from __future__ import annotations

from drivers.astm.events import AstmEvent, FrameRejected, MessageReceived, Send, TransferAborted
from drivers.astm.framing import Frame, encode_frame, split_text
from drivers.astm.receiver import AstmReceiver

ENQ, ACK, NAK, EOT = b"\x05", b"\x06", b"\x15", b"\x04"
MESSAGE = b"H|\\^&|||Sim\rP|1|11010519491231002X\rR|1|^^^GLU|5.6|mmol/L||N||F\rL|1|N\r"


def replies(events: list[AstmEvent]) -> bytes:
    return b"".join(e.data for e in events if isinstance(e, Send))


def frames_of(text: bytes, size: int = 240, first: int = 1) -> list[bytes]:
    return [encode_frame(f) for f in split_text(text, first_number=first, max_text=size)]


def started(now: float = 0.0) -> AstmReceiver:
    receiver = AstmReceiver()
    assert receiver.feed(ENQ, now) == [Send(ACK)]
    return receiver


def test_a_message_is_delivered_and_its_last_frame_acknowledged_only_after_accept() -> None:
    receiver = started()
    first, last = frames_of(MESSAGE, size=40)[:-1], frames_of(MESSAGE, size=40)[-1]
    for frame in first:
        assert receiver.feed(frame, 1.0) == [Send(ACK)]
    assert receiver.feed(last, 2.0) == [MessageReceived(MESSAGE)]
    assert receiver.holding
    assert receiver.accept(3.0) == [Send(ACK)]
    assert receiver.feed(EOT, 4.0) == []
    assert receiver.idle


def test_reject_refuses_the_last_frame_and_its_retransmission_delivers_again() -> None:
    receiver = started()
    frames = frames_of(MESSAGE, size=40)
    for frame in frames[:-1]:
        receiver.feed(frame, 1.0)
    assert receiver.feed(frames[-1], 2.0) == [MessageReceived(MESSAGE)]
    assert receiver.reject(2.5) == [FrameRejected("message not stored"), Send(NAK)]
    assert receiver.feed(frames[-1], 3.0) == [MessageReceived(MESSAGE)]
    assert receiver.accept(3.5) == [Send(ACK)]


def test_a_repeated_frame_is_acknowledged_and_not_appended_twice() -> None:
    receiver = started()
    frames = frames_of(MESSAGE, size=30)
    receiver.feed(frames[0], 1.0)
    assert receiver.feed(frames[0], 1.1) == [Send(ACK)]
    events: list[AstmEvent] = []
    for frame in frames[1:]:
        events += receiver.feed(frame, 1.2)
    assert events[-1] == MessageReceived(MESSAGE)


def test_a_frame_out_of_sequence_is_refused() -> None:
    receiver = started()
    wrong = encode_frame(Frame(number=2, text=MESSAGE, final=True))
    assert receiver.feed(wrong, 1.0) == [Send(NAK), FrameRejected("frame number 2, expected 1")]


def test_a_bad_checksum_is_refused_and_the_good_copy_accepted() -> None:
    receiver = started()
    good = frames_of(MESSAGE)[0]
    bad = good[:-4] + (b"00" if good[-4:-2] != b"00" else b"01") + b"\r\n"
    events = receiver.feed(bad, 1.0)
    assert events[0] == Send(NAK)
    assert isinstance(events[1], FrameRejected)
    assert "checksum" in events[1].reason
    assert receiver.feed(good, 2.0) == [MessageReceived(MESSAGE)]


def test_record_per_frame_with_etx_is_delivered_at_the_l_record() -> None:
    receiver = started()
    records = [r + b"\r" for r in MESSAGE.split(b"\r") if r]
    events: list[AstmEvent] = []
    for number, record in enumerate(records, start=1):
        events += receiver.feed(encode_frame(Frame(number=number % 8, text=record, final=True)), 1.0)
    assert events == [Send(ACK)] * 3 + [MessageReceived(MESSAGE)]


def test_cobas_style_etb_after_every_record_joins_into_one_message() -> None:
    receiver = started()
    records = [r + b"\r" for r in MESSAGE.split(b"\r") if r]
    events: list[AstmEvent] = []
    for number, record in enumerate(records, start=1):
        frame = Frame(number=number % 8, text=record, final=record.startswith(b"L"))
        events += receiver.feed(encode_frame(frame), 1.0)
    assert events[-1] == MessageReceived(MESSAGE)


def test_frame_numbers_wrap_from_7_to_0_within_a_long_message() -> None:
    receiver = started()
    frames = frames_of(MESSAGE, size=6)
    assert len(frames) > 9
    events: list[AstmEvent] = []
    for frame in frames:
        events += receiver.feed(frame, 1.0)
    assert events[-1] == MessageReceived(MESSAGE)
    assert replies(events) == ACK * (len(frames) - 1)


def test_two_messages_in_one_transfer_continue_the_frame_numbers() -> None:
    receiver = started()
    second = MESSAGE.replace(b"5.6", b"7.1")
    assert receiver.feed(frames_of(MESSAGE)[0], 1.0) == [MessageReceived(MESSAGE)]
    receiver.accept(1.5)
    assert receiver.feed(frames_of(second, first=2)[0], 2.0) == [MessageReceived(second)]


def test_the_receive_timer_discards_a_partial_message_after_30_s() -> None:
    receiver = started(now=0.0)
    first = frames_of(MESSAGE, size=40)[0]
    receiver.feed(first, 10.0)
    assert receiver.deadline == 40.0
    assert receiver.poll(39.9) == []
    events = receiver.poll(40.0)
    assert events == [TransferAborted("no frame or <EOT> for 30 s", first[2:42], timed_out=True)]
    assert receiver.idle
    assert receiver.feed(frames_of(MESSAGE)[0], 41.0) == [
        FrameRejected("frame outside a transfer (no <ENQ>); is the instrument in raw TCP mode?")
    ]


def test_the_timer_fires_inside_feed_too() -> None:
    receiver = started(now=0.0)
    events = receiver.feed(ENQ, 30.0)
    assert isinstance(events[0], TransferAborted)
    assert events[1:] == [Send(ACK)]  # the late ENQ starts a new transfer


def test_eot_before_the_l_record_discards_the_partial_message() -> None:
    receiver = started()
    frames = frames_of(MESSAGE, size=40)
    receiver.feed(frames[0], 1.0)
    assert receiver.feed(EOT, 2.0) == [TransferAborted("transfer ended before the L record", MESSAGE[:40])]


def test_eot_inside_a_frame_ends_the_transfer_without_a_reply() -> None:
    receiver = started()
    assert receiver.feed(frames_of(MESSAGE)[0][:20] + EOT, 1.0) == []
    assert receiver.idle


def test_an_eot_while_holding_means_the_sender_left_so_accept_sends_no_ack() -> None:
    receiver = started()
    receiver.feed(frames_of(MESSAGE)[0], 1.0)
    assert receiver.feed(EOT, 16.0) == []
    assert receiver.accept(20.0) == []
    assert receiver.idle


def test_bytes_that_arrive_while_holding_are_handled_after_the_reply() -> None:
    receiver = started()
    frames = frames_of(MESSAGE + MESSAGE)
    assert receiver.feed(frames[0] + b"\n", 1.0) == [MessageReceived(MESSAGE + MESSAGE)]
    receiver.reject(1.0)
    assert receiver.feed(frames[0] + frames[0], 2.0) == [MessageReceived(MESSAGE + MESSAGE)]
    assert receiver.accept(3.0) == [Send(ACK), Send(ACK)]  # the second copy is a repeat


def test_an_enq_during_a_transfer_is_not_answered() -> None:
    receiver = started()
    assert receiver.feed(ENQ, 1.0) == []
    receiver.feed(frames_of(MESSAGE, size=40)[0], 2.0)
    assert receiver.feed(ENQ, 3.0) == []


def test_a_message_that_does_not_start_with_h_is_refused() -> None:
    receiver = started()
    tail = MESSAGE[MESSAGE.index(b"P|") :]
    refused = [Send(NAK), TransferAborted("message does not start with an H record", tail)]
    assert receiver.feed(frames_of(tail)[0], 1.0) == refused
    assert receiver.feed(frames_of(tail)[0], 2.0) == refused  # the same frame again is no duplicate


def test_an_stx_inside_a_frame_starts_it_again() -> None:
    receiver = started()
    frame = frames_of(MESSAGE)[0]
    assert receiver.feed(frame[:15] + frame, 1.0) == [MessageReceived(MESSAGE)]


def test_an_unsolicited_frame_is_reported_once_and_never_answered() -> None:
    receiver = AstmReceiver()
    frame = frames_of(MESSAGE)[0]
    events = receiver.feed(frame + frame, 0.0)
    assert len(events) == 1
    assert isinstance(events[0], FrameRejected)


def test_a_message_over_the_limit_is_refused_frame_by_frame() -> None:
    receiver = AstmReceiver(max_message=50)
    receiver.feed(ENQ, 0.0)
    frames = frames_of(MESSAGE, size=30)
    assert receiver.feed(frames[0], 1.0) == [Send(ACK)]
    assert receiver.feed(frames[1], 1.0) == [Send(NAK), FrameRejected("message longer than 50 bytes")]


def test_a_frame_over_the_memory_limit_is_refused() -> None:
    receiver = AstmReceiver(max_frame=20)
    receiver.feed(ENQ, 0.0)
    events = receiver.feed(frames_of(MESSAGE)[0], 1.0)
    assert events == [Send(NAK), FrameRejected("frame is longer than 20 bytes")]


def test_accept_and_reject_with_nothing_held_do_nothing() -> None:
    receiver = started()
    assert receiver.accept(1.0) == []
    assert receiver.reject(1.0) == []
