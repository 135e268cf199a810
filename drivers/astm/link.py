"""One ASTM E1381 line, both directions: a receiver and a sender sharing the wire.

The transport owns the port; it calls ``feed`` with what it read, ``poll`` when ``deadline``
passes, writes every ``Send`` in order, stores every ``MessageReceived`` and then calls ``accept``
(or ``reject`` if the store failed). While we send, the peer's bytes are replies for the sender;
otherwise they are for the receiver. On ENQ contention the instrument has priority.
"""

from __future__ import annotations

from drivers.astm.events import AstmEvent
from drivers.astm.raw import RawAstmReceiver, RawAstmSender
from drivers.astm.receiver import DEFAULT_MAX_MESSAGE, RECEIVE_TIMEOUT, AstmReceiver
from drivers.astm.sender import BUSY_DELAY, MAX_ATTEMPTS, REPLY_TIMEOUT, AstmSender, Role


class AstmLink:
    """Receiver and sender of one line; ``raw=True`` for TCP instruments that skip ENQ/ACK."""

    def __init__(
        self,
        *,
        role: Role = "computer",
        raw: bool = False,
        receive_timeout: float = RECEIVE_TIMEOUT,
        reply_timeout: float = REPLY_TIMEOUT,
        busy_delay: float = BUSY_DELAY,
        max_attempts: int = MAX_ATTEMPTS,
        max_message: int = DEFAULT_MAX_MESSAGE,
    ) -> None:
        self.raw = raw
        self.receiver: AstmReceiver | RawAstmReceiver
        self.sender: AstmSender | RawAstmSender
        if raw:
            self.receiver = RawAstmReceiver(timeout=receive_timeout, max_message=max_message)
            self.sender = RawAstmSender()
        else:
            self.receiver = AstmReceiver(timeout=receive_timeout, max_message=max_message)
            self.sender = AstmSender(
                role=role, reply_timeout=reply_timeout, busy_delay=busy_delay, max_attempts=max_attempts
            )

    @property
    def deadline(self) -> float | None:
        """The earliest time ``poll`` has work to do, or None."""
        times = [self.receiver.deadline]
        # A sender waiting for a busy receiver starts when the receiver finishes, not on a timer.
        if self.sender.active or self.receiver.idle:
            times.append(self.sender.deadline)
        due = [t for t in times if t is not None]
        return min(due) if due else None

    def feed(self, data: bytes, now: float) -> list[AstmEvent]:
        """Consume bytes read from the line."""
        # Timers first, but a transfer of ours starts only after the peer's bytes are read: an ENQ
        # among them is then answered instead of colliding with ours.
        events = self._timers(now)
        for index in range(len(data)):
            side = self.sender if self.sender.active else self.receiver
            events += side.feed(data[index : index + 1], now)
        return events + self._start_sending(now)

    def poll(self, now: float) -> list[AstmEvent]:
        """Run the timers of both sides, and start sending if there is work and the line is free."""
        return self._timers(now) + self._start_sending(now)

    def send(self, message: bytes, now: float) -> list[AstmEvent]:
        """Send a message (H through L record text) as soon as the line is free."""
        if isinstance(self.sender, RawAstmSender):
            return self.sender.send(message, now)
        self.sender.queue(message)
        return self._start_sending(now)

    def accept(self, now: float) -> list[AstmEvent]:
        """The message from the last MessageReceived is stored: acknowledge it."""
        return self.receiver.accept(now) + self._start_sending(now)

    def reject(self, now: float) -> list[AstmEvent]:
        """The message from the last MessageReceived could not be stored: have it sent again."""
        return self.receiver.reject(now) + self._start_sending(now)

    def _timers(self, now: float) -> list[AstmEvent]:
        events = self.receiver.poll(now)
        return events + self.sender.poll(now) if self.sender.active else events

    def _start_sending(self, now: float) -> list[AstmEvent]:
        if self.sender.active or not self.receiver.idle:
            return []
        return self.sender.poll(now)
