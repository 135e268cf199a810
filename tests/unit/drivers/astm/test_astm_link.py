"""One line, both directions: routing between receiver and sender, contention, and raw mode."""

from __future__ import annotations

from drivers.astm.events import AstmEvent, LineContention, MessageReceived, MessageSent, Send
from drivers.astm.framing import decode_frame, encode_frame, split_text
from drivers.astm.link import AstmLink

ENQ, ACK, NAK, EOT = b"\x05", b"\x06", b"\x15", b"\x04"
RESULT = b"H|\\^&|||Analyser\rP|1|PID7\rR|1|^^^GLU|6.2|mmol/L||N||F\rL|1|N\r"
ORDER = b"H|\\^&|||ClinicAgent\rP|1|PID7\rO|1|S1||^^^GLU\rL|1|N\r"


def wire(data: bytes) -> list[bytes]:
    return [encode_frame(f) for f in split_text(data)]


def sent(events: list[AstmEvent]) -> bytes:
    return b"".join(e.data for e in events if isinstance(e, Send))


def test_the_computer_receives_and_acknowledges_after_accept() -> None:
    link = AstmLink()
    assert link.feed(ENQ, 0.0) == [Send(ACK)]
    assert link.feed(wire(RESULT)[0], 0.5) == [MessageReceived(RESULT)]
    assert link.accept(0.6) == [Send(ACK)]
    assert link.feed(EOT, 0.7) == []


def test_the_computer_sends_when_the_line_is_free() -> None:
    link = AstmLink()
    assert link.send(ORDER, 0.0) == [Send(ENQ)]
    frame = sent(link.feed(ACK, 0.1))
    assert decode_frame(frame).text == ORDER
    assert link.feed(ACK, 0.2) == [MessageSent(ORDER), Send(EOT)]


def test_nothing_is_sent_while_a_message_is_being_received() -> None:
    link = AstmLink()
    link.feed(ENQ, 0.0)
    assert link.send(ORDER, 0.1) == []
    link.feed(wire(RESULT)[0], 0.2)
    assert link.poll(0.3) == []
    assert link.accept(0.4) == [Send(ACK)]
    assert link.feed(EOT, 0.5) == [Send(ENQ)]


def test_contention_the_instrument_wins_and_the_computer_sends_afterwards() -> None:
    link = AstmLink(role="computer")
    assert link.send(ORDER, 0.0) == [Send(ENQ)]
    assert link.feed(ENQ, 0.1) == [LineContention()]  # not answered: the instrument asks again
    assert link.feed(ENQ, 1.2) == [Send(ACK)]
    assert link.feed(wire(RESULT)[0], 1.3) == [MessageReceived(RESULT)]
    assert link.accept(1.4) == [Send(ACK)]
    assert link.feed(EOT, 1.5) == []  # the computer waits 20 s from the contention
    assert link.poll(20.0) == []
    assert link.poll(20.1) == [Send(ENQ)]


def test_an_instrument_side_link_insists_after_contention() -> None:
    link = AstmLink(role="instrument")
    link.send(RESULT, 0.0)
    assert link.feed(ENQ, 0.1) == [LineContention()]
    assert link.deadline == 1.1
    assert link.poll(1.1) == [Send(ENQ)]


def test_deadline_is_the_earliest_timer() -> None:
    link = AstmLink()
    assert link.deadline is None
    link.feed(ENQ, 0.0)
    assert link.deadline == 30.0


def test_raw_link_takes_frames_without_a_handshake_and_never_replies() -> None:
    link = AstmLink(raw=True)
    events = link.feed(b"".join(wire(RESULT)), 0.0)
    assert events == [MessageReceived(RESULT)]
    assert link.accept(0.1) == []


def test_raw_link_sends_frames_at_once() -> None:
    link = AstmLink(raw=True)
    events = link.send(ORDER, 0.0)
    assert events[-1] == MessageSent(ORDER)
    assert [decode_frame(e.data).text for e in events if isinstance(e, Send)] == [ORDER]
