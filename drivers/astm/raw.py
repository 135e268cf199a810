"""Raw mode for TCP instruments that skip the E1381 handshake: no ENQ, no ACK/NAK, no EOT needed.

Frames are still checked (checksum, numbering) when the instrument sends them; some send bare
record text (``H|\\^&...<CR>...L|1|N<CR>``), which is accepted too. Nothing can be refused, so a
bad or missing frame discards the message it belongs to, and the next message starts clean.
"""

from __future__ import annotations

from drivers.astm.events import AstmEvent, FrameRejected, MessageReceived, MessageSent, Send, TransferAborted
from drivers.astm.framing import CR, LF, MAX_TEXT, Frame, encode_frame, ends_with_terminator, split_text
from drivers.astm.receiver import DEFAULT_MAX_MESSAGE, RECEIVE_TIMEOUT
from drivers.astm.scanner import DEFAULT_MAX_FRAME, Control, FrameScanner, Token

_PRINTABLE_FROM = 0x20


class RawAstmReceiver:
    """Receiver without a handshake; same interface as AstmReceiver, it never asks to Send."""

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
        self._framed = bytearray()
        self._expected = 0
        self._plain = bytearray()
        self._line = bytearray()
        self._last_byte = 0.0

    @property
    def idle(self) -> bool:
        """True when no message is partly received."""
        return not (self._framed or self._plain or self._line or self._scanner.in_frame)

    @property
    def holding(self) -> bool:
        """Always False: nothing waits for an answer in raw mode."""
        return False

    @property
    def deadline(self) -> float | None:
        """When a partial message will be discarded, or None."""
        return None if self.idle else self._last_byte + self._timeout

    def feed(self, data: bytes, now: float) -> list[AstmEvent]:
        """Consume bytes from the connection."""
        events = self.poll(now)
        if data:
            self._last_byte = now
        for byte in data:
            for token in self._scanner.push(byte):
                events += self._on_token(token)
        return events

    def poll(self, now: float) -> list[AstmEvent]:
        """Discard a partial message after the receive timeout."""
        deadline = self.deadline
        if deadline is None or now < deadline:
            return []
        partial = bytes(self._framed or self._plain or self._line)
        self._framed.clear()
        self._plain.clear()
        self._line.clear()
        self._scanner.reset()
        return [TransferAborted(f"message incomplete after {self._timeout:g} s", partial, timed_out=True)]

    def accept(self, now: float) -> list[AstmEvent]:
        """Nothing to acknowledge in raw mode."""
        return []

    def reject(self, now: float) -> list[AstmEvent]:
        """Nothing to refuse in raw mode: the instrument cannot be told."""
        return []

    def _on_token(self, token: Token) -> list[AstmEvent]:
        if isinstance(token, Control):
            return self._on_text_byte(token.byte)
        if token.frame is None:
            return [FrameRejected(token.error or "bad frame"), *self._drop_framed("a frame was corrupt")]
        return self._on_frame(token.frame)

    def _on_frame(self, frame: Frame) -> list[AstmEvent]:
        if not self._framed and not frame.text.startswith(b"H"):
            return [FrameRejected(f"frame {frame.number} does not start a message; dropped")]
        if self._framed and frame.number != self._expected:
            lost = f"frame {frame.number} where {self._expected} was due: a frame was lost"
            return self._drop_framed(lost)
        if len(self._framed) + len(frame.text) > self._max_message:
            return self._drop_framed(f"message longer than {self._max_message} bytes")
        self._framed += frame.text
        self._expected = (frame.number + 1) % 8
        if frame.final and ends_with_terminator(self._framed):
            message = bytes(self._framed)
            self._framed.clear()
            return [MessageReceived(message)]
        return []

    def _drop_framed(self, reason: str) -> list[AstmEvent]:
        partial = bytes(self._framed)
        self._framed.clear()
        return [TransferAborted(reason, partial)] if partial else []

    def _on_text_byte(self, byte: int) -> list[AstmEvent]:
        if byte not in (CR, LF):
            if byte >= _PRINTABLE_FROM and len(self._line) < self._max_message:
                self._line.append(byte)
            return []
        record, self._line = bytes(self._line), bytearray()
        if not record or (not self._plain and not record.startswith(b"H")):
            return []
        if len(self._plain) + len(record) >= self._max_message:
            self._plain.clear()
            return [TransferAborted(f"message longer than {self._max_message} bytes")]
        self._plain += record + b"\r"
        if not ends_with_terminator(self._plain):
            return []
        message = bytes(self._plain)
        self._plain.clear()
        return [MessageReceived(message)]


class RawAstmSender:
    """Sender without a handshake: frames go out at once, and a message counts as sent when written."""

    def __init__(self, *, max_text: int = MAX_TEXT) -> None:
        self._max_text = max_text

    @property
    def active(self) -> bool:
        """Always False: there is never a reply to wait for."""
        return False

    @property
    def pending(self) -> int:
        """Always 0: messages are written as soon as they are given."""
        return 0

    @property
    def deadline(self) -> float | None:
        """Always None: no timers in raw mode."""
        return None

    def send(self, message: bytes, now: float) -> list[AstmEvent]:
        """The frames of one message, numbered from 1, and MessageSent."""
        if not message:
            raise ValueError("an empty message cannot be sent")
        frames = split_text(message, max_text=self._max_text)
        return [*(Send(encode_frame(frame)) for frame in frames), MessageSent(message)]

    def poll(self, now: float) -> list[AstmEvent]:
        """Nothing to do."""
        return []

    def feed(self, data: bytes, now: float) -> list[AstmEvent]:
        """Replies are not expected; whatever comes is ignored."""
        return []
