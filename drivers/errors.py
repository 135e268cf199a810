"""Errors raised by device codecs and transports."""

from __future__ import annotations


class DriverError(Exception):
    """Base of every error a driver raises on purpose."""


class FrameError(DriverError):
    """A frame is malformed, truncated or fails its checksum; it is rejected whole.

    The only exception a codec may raise on bad input.
    """


class DeviceUnavailable(DriverError):
    """The device cannot be reached: unplugged, out of range, or the port is busy."""

    def __init__(self, device: str, reason: str) -> None:
        super().__init__(f"device {device} is unavailable: {reason}")
        self.device = device
        self.reason = reason


class ProtocolViolation(DriverError):
    """The peer broke the protocol's state machine (e.g. a frame number out of sequence)."""
