"""Configured devices: their settings in agent.toml, their links, the daemon service and API methods.

Importing this package registers the device operations (`device.list`, `device.ingest`,
`device.reload`) with the API; the daemon and the CLI import it, the core never does.
"""

from clinic_agent.devices import methods as _methods  # noqa: F401  (registers the API methods)
from clinic_agent.devices.config import DeviceConfig, add_device, parse, remove_device
from clinic_agent.devices.service import DeviceService, build_link

__all__ = ["DeviceConfig", "DeviceService", "add_device", "build_link", "parse", "remove_device"]
