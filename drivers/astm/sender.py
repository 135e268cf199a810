"""The sending side of ASTM E1381: establish the line, send numbered frames, retry, terminate."""

from __future__ import annotations

from collections import deque
from enum import Enum, auto
from typing import Literal

from drivers.astm.events import AstmEvent, LineContention, MessageFailed, MessageSent, Send, TransferAborted
from drivers.astm.framing import ACK, ENQ, EOT, MAX_TEXT, NAK, Frame, encode_frame, split_text

REPLY_TIMEOUT = 15.0
"""E1381: a sender waits 15 s for the reply to ENQ or to a frame, then sends EOT."""
BUSY_DELAY = 10.0
"""E1381: after a NAK to ENQ the sender waits at least 10 s before the next ENQ."""
MAX_ATTEMPTS = 6
"""E1381: a frame refused six times aborts the message."""
# After ENQ contention the instrument has priority: it tries again after 1 s, the computer waits
# 20 s so the instrument's next ENQ finds it listening.
CONTENTION_DELAY = {"computer": 20.0, "instrument": 1.0}

Role = Literal["computer", "instrument"]


class _State(Enum):
    IDLE = auto()
    WAIT_ENQ_REPLY = auto()
    WAIT_FRAME_REPLY = auto()


class AstmSender:
    """E1381 sender: ``send`` (or ``queue`` + ``poll``) messages, ``feed`` the peer's replies.

    All queued messages go in one transfer phase; frame numbers run 1..7, 0, 1 ... across them.
    """

    def __init__(
        self,
        *,
        role: Role = "computer",
        reply_timeout: float = REPLY_TIMEOUT,
        busy_delay: float = BUSY_DELAY,
        max_attempts: int = MAX_ATTEMPTS,
        max_text: int = MAX_TEXT,
    ) -> None:
        self._contention_delay = CONTENTION_DELAY[role]
        self._timeout = reply_timeout
        self._busy_delay = busy_delay
        self._max_attempts = max_attempts
        self._max_text = max_text
        self._state = _State.IDLE
        self._queue: deque[bytes] = deque()
        self._current = b""
        self._frames: list[Frame] = []
        self._index = 0
        self._attempts = 0
        self._next_number = 1
        self._deadline = 0.0
        self._not_before = float("-inf")

    @property
    def active(self) -> bool:
        """True from our ENQ until our EOT: the peer's bytes are replies to us."""
        return self._state is not _State.IDLE

    @property
    def pending(self) -> int:
        """Messages not yet sent or failed, the one in flight included."""
        return len(self._queue) + (1 if self._state is _State.WAIT_FRAME_REPLY else 0)

    @property
    def deadline(self) -> float | None:
        """When ``poll`` next has work to do, or None."""
        if self.active:
            return self._deadline
        return self._not_before if self._queue else None

    def queue(self, message: bytes) -> None:
        """Add a message (H through L record text) to send; ``poll`` starts the transfer."""
        if not message:
            raise ValueError("an empty message cannot be sent")
        self._queue.append(message)

    def send(self, message: bytes, now: float) -> list[AstmEvent]:
        """Queue a message and start sending if the line is free."""
        self.queue(message)
        return self.poll(now)

    def poll(self, now: float) -> list[AstmEvent]:
        """Start a transfer when there is work, or fire the reply timer."""
        if self._state is not _State.IDLE:
            return self._expire(now)
        if not self._queue or now < self._not_before:
            return []
        self._state, self._deadline = _State.WAIT_ENQ_REPLY, now + self._timeout
        return [Send(bytes([ENQ]))]

    def _expire(self, now: float) -> list[AstmEvent]:
        if self._state is _State.IDLE or now < self._deadline:
            return []
        if self._state is _State.WAIT_ENQ_REPLY:
            reason = f"no reply to <ENQ> in {self._timeout:g} s"
            return [*self._end(now), TransferAborted(reason, timed_out=True)]
        reason = f"no reply to frame {self._frame.number} in {self._timeout:g} s"
        return self._fail(now, reason, timed_out=True)

    def feed(self, data: bytes, now: float) -> list[AstmEvent]:
        """Consume the peer's replies; bytes that come while idle are not for us and are ignored."""
        events = self._expire(now)
        for byte in data:
            if self._state is _State.IDLE:
                break
            if self._state is _State.WAIT_ENQ_REPLY:
                events += self._on_enq_reply(byte, now)
            else:
                events += self._on_frame_reply(byte, now)
        return events

    @property
    def _frame(self) -> Frame:
        return self._frames[self._index]

    def _on_enq_reply(self, byte: int, now: float) -> list[AstmEvent]:
        if byte == ACK:
            self._next_number = 1
            return self._start_message(now)
        if byte == NAK:
            self._state, self._not_before = _State.IDLE, now + self._busy_delay
        elif byte == ENQ:
            self._state, self._not_before = _State.IDLE, now + self._contention_delay
            return [LineContention()]
        return []

    def _on_frame_reply(self, byte: int, now: float) -> list[AstmEvent]:
        if byte == ACK:
            return self._advance(now)
        if byte == EOT:
            return self._interrupted(now)
        # E1381: any reply other than ACK or EOT counts as a NAK.
        if self._attempts >= self._max_attempts:
            return self._fail(now, f"frame {self._frame.number} refused {self._attempts} times")
        return self._transmit(now)

    def _start_message(self, now: float) -> list[AstmEvent]:
        self._current = self._queue.popleft()
        self._frames = split_text(self._current, first_number=self._next_number, max_text=self._max_text)
        self._index, self._attempts = 0, 0
        self._state = _State.WAIT_FRAME_REPLY
        return self._transmit(now)

    def _transmit(self, now: float) -> list[AstmEvent]:
        self._attempts += 1
        self._deadline = now + self._timeout
        return [Send(encode_frame(self._frame))]

    def _advance(self, now: float) -> list[AstmEvent]:
        self._next_number = (self._frame.number + 1) % 8
        self._index += 1
        if self._index < len(self._frames):
            self._attempts = 0
            return self._transmit(now)
        events: list[AstmEvent] = [MessageSent(self._current)]
        if self._queue:
            return events + self._start_message(now)
        return events + self._end(now, delay=0.0)

    def _interrupted(self, now: float) -> list[AstmEvent]:
        # EOT is an ACK plus the receiver's request for the line: finish here and let it talk.
        self._index += 1
        if self._index >= len(self._frames):
            return [MessageSent(self._current), *self._end(now)]
        # Only whole messages count, so the interrupted one goes again from its start.
        self._queue.appendleft(self._current)
        return self._end(now)

    def _fail(self, now: float, reason: str, *, timed_out: bool = False) -> list[AstmEvent]:
        return [*self._end(now), MessageFailed(self._current, reason, timed_out=timed_out)]

    def _end(self, now: float, delay: float | None = None) -> list[AstmEvent]:
        self._state = _State.IDLE
        self._not_before = now + (self._busy_delay if delay is None else delay)
        return [Send(bytes([EOT]))]
