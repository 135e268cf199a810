"""The receiving side of ASTM E1381: answer ENQ, check and acknowledge frames, deliver messages.

The ACK of the frame that completes a message is withheld: the receiver emits MessageReceived and
waits for the caller to ``accept`` (store committed: ACK) or ``reject`` (could not store: NAK, so
the instrument sends that frame again). An instrument is therefore told "received" only for a
message that is durably stored.
"""

from __future__ import annotations

from enum import Enum, auto

from drivers.astm.events import AstmEvent, FrameRejected, MessageReceived, Send, TransferAborted
from drivers.astm.framing import ACK, ENQ, EOT, NAK, Frame, ends_with_terminator
from drivers.astm.scanner import DEFAULT_MAX_FRAME, Control, FrameScanner, Scanned, Token

DEFAULT_MAX_MESSAGE = 1024 * 1024
"""Bytes of one message kept in memory; a longer one is refused frame by frame until the sender gives up."""

RECEIVE_TIMEOUT = 30.0
"""E1381: the receiver discards an incomplete message when no frame or EOT comes for 30 s."""

_MAX_HELD_INPUT = 4096


class _State(Enum):
    IDLE = auto()
    TRANSFER = auto()
    HOLDING = auto()


class AstmReceiver:
    """E1381 receiver: ``feed`` bytes and ``poll`` timers; write every ``Send`` it returns."""

    def __init__(
        self,
        *,
        timeout: float = RECEIVE_TIMEOUT,
        max_frame: int = DEFAULT_MAX_FRAME,
        max_message: int = DEFAULT_MAX_MESSAGE,
    ) -> None:
        self._timeout = timeout
        self._max_message = max_message
        self._scanner = FrameScanner(max_frame)
        self._state = _State.IDLE
        self._deadline: float | None = None
        self._message = bytearray()
        self._expected = 1
        self._last: int | None = None
        self._undo: tuple[int, int, int | None] = (
            0,
            1,
            None,
        )  # message length and frame numbers before the held frame
        self._held_input = bytearray()
        self._warned = False

    @property
    def idle(self) -> bool:
        """True when no transfer is in progress and nothing waits for accept/reject."""
        return self._state is _State.IDLE

    @property
    def holding(self) -> bool:
        """True while a delivered message waits for ``accept`` or ``reject``."""
        return self._state is _State.HOLDING

    @property
    def deadline(self) -> float | None:
        """When ``poll`` next has work to do, or None."""
        return self._deadline if self._state is _State.TRANSFER else None

    def feed(self, data: bytes, now: float) -> list[AstmEvent]:
        """Consume bytes from the line."""
        events = self.poll(now)
        for index, byte in enumerate(data):
            if self._state is _State.HOLDING:
                # The sender should be silent until we answer; keep what it sends (an EOT if it
                # gave up waiting) and act on it after accept/reject.
                self._held_input += data[index : index + _MAX_HELD_INPUT - len(self._held_input)]
                break
            for token in self._scanner.push(byte):
                events += self._on_token(token, now)
        return events

    def poll(self, now: float) -> list[AstmEvent]:
        """Fire the receive timer if it is due."""
        if self._state is _State.TRANSFER and self._deadline is not None and now >= self._deadline:
            partial = bytes(self._message)
            self._to_idle()
            return [TransferAborted(f"no frame or <EOT> for {self._timeout:g} s", partial, timed_out=True)]
        return []

    def accept(self, now: float) -> list[AstmEvent]:
        """The held message is stored: acknowledge its last frame. A no-op when nothing is held."""
        if self._state is not _State.HOLDING:
            return []
        self._message.clear()
        return self._release(ACK, now)

    def reject(self, now: float) -> list[AstmEvent]:
        """The held message could not be stored: refuse its last frame so the sender repeats it."""
        if self._state is not _State.HOLDING:
            return []
        length, self._expected, self._last = self._undo
        del self._message[length:]
        return [FrameRejected("message not stored"), *self._release(NAK, now)]

    def _release(self, reply: int, now: float) -> list[AstmEvent]:
        pending, self._held_input = bytes(self._held_input), bytearray()
        self._state = _State.TRANSFER
        # An EOT while we held means the sender timed out and left; a late reply would be read
        # as the answer to whatever it sends next.
        events: list[AstmEvent] = [] if EOT in pending else [self._reply(reply, now)]
        return events + self.feed(pending, now)

    def _on_token(self, token: Token, now: float) -> list[AstmEvent]:
        if self._state is _State.IDLE:
            return self._idle_token(token, now)
        if isinstance(token, Scanned):
            if token.frame is None:
                return [self._reply(NAK, now), FrameRejected(token.error or "bad frame")]
            return self._on_frame(token.frame, now)
        if token.byte == EOT:
            partial = bytes(self._message)
            self._to_idle()
            return [TransferAborted("transfer ended before the L record", partial)] if partial else []
        # Anything else is noise. Not even an ENQ is answered here: a second reply to one
        # transmission would be read by the sender as the reply to its next frame.
        return []

    def _idle_token(self, token: Token, now: float) -> list[AstmEvent]:
        if isinstance(token, Control):
            if token.byte != ENQ:
                return []
            self._state, self._expected, self._last, self._warned = _State.TRANSFER, 1, None, False
            self._message.clear()
            return [self._reply(ACK, now)]
        if self._warned:
            return []
        self._warned = True
        return [FrameRejected("frame outside a transfer (no <ENQ>); is the instrument in raw TCP mode?")]

    def _on_frame(self, frame: Frame, now: float) -> list[AstmEvent]:
        if frame.number == self._last:
            return [self._reply(ACK, now)]  # a repeat of a frame we accepted: our ACK was lost
        if frame.number != self._expected:
            reason = f"frame number {frame.number}, expected {self._expected}"
            return [self._reply(NAK, now), FrameRejected(reason)]
        if len(self._message) + len(frame.text) > self._max_message:
            reason = f"message longer than {self._max_message} bytes"
            return [self._reply(NAK, now), FrameRejected(reason)]
        self._undo = (len(self._message), self._expected, self._last)
        self._message += frame.text
        self._last, self._expected = frame.number, (frame.number + 1) % 8
        if not (frame.final and ends_with_terminator(self._message)):
            return [self._reply(ACK, now)]
        if not self._message.startswith(b"H"):
            # Only a whole message counts; a tail is what is left after a lost beginning.
            partial = bytes(self._message)
            self._message.clear()
            self._expected, self._last = self._undo[1:]
            return [
                self._reply(NAK, now),
                TransferAborted("message does not start with an H record", partial),
            ]
        self._state = _State.HOLDING
        return [MessageReceived(bytes(self._message))]

    def _reply(self, byte: int, now: float) -> Send:
        self._deadline = now + self._timeout
        return Send(bytes([byte]))

    def _to_idle(self) -> None:
        self._state = _State.IDLE
        self._deadline = None
        self._message.clear()
        self._scanner.reset()
