"""What the ASTM E1381 state machines ask of their caller, and tell it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Send:
    """Write these bytes to the line (ACK, NAK, ENQ, EOT or a frame)."""

    data: bytes


@dataclass(frozen=True, slots=True)
class MessageReceived:
    """A whole message (H through L) arrived; store it, then call ``accept`` or ``reject``."""

    text: bytes


@dataclass(frozen=True, slots=True)
class FrameRejected:
    """A frame was refused (NAK sent, or dropped in raw mode); the reason is for the log."""

    reason: str


@dataclass(frozen=True, slots=True)
class TransferAborted:
    """A transfer ended without a complete message; ``partial`` is the text discarded with it."""

    reason: str
    partial: bytes = b""
    timed_out: bool = False


@dataclass(frozen=True, slots=True)
class MessageSent:
    """The receiver acknowledged every frame of this message."""

    text: bytes


@dataclass(frozen=True, slots=True)
class MessageFailed:
    """This message could not be delivered (refused or unanswered frames); it is dropped from the queue."""

    text: bytes
    reason: str
    timed_out: bool = False


@dataclass(frozen=True, slots=True)
class LineContention:
    """Both sides sent ENQ; this side yielded the line and will try again later."""


AstmEvent = Send | MessageReceived | FrameRejected | TransferAborted | MessageSent | MessageFailed | LineContention
