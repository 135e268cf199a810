"""A driver's error as a person reads it: one line naming the device and what happened.

The drivers keep their own error tree (``drivers.errors``: they import nothing of ours); this is
where it is translated into ``DeviceError``, for the device service's states (``status``,
``devices list``, the ``device.state`` events) and for the CLI.
"""

from __future__ import annotations

from clinic_agent.core.errors import DeviceError
from drivers.errors import DeviceUnavailable, DriverError, FrameError, ProtocolViolation


def device_error(exc: DriverError) -> DeviceError:
    """The error a person is shown for a driver's error."""
    said = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, DeviceUnavailable):
        return DeviceError(said)  # the driver's words name the device and the reason
    if isinstance(exc, ProtocolViolation):
        return DeviceError(f"the device broke its protocol: {said}; check the device's protocol setting")
    if isinstance(exc, FrameError):
        return DeviceError(f"the device sent a frame that cannot be read: {said}")
    return DeviceError(f"device error: {said}")
