"""Configured devices: their settings in agent.toml, their links, the daemon service and API methods.

The device operations of the API (`device.list`, `device.ingest`, `device.reload`) are in
``methods``, joined with the others in ``clinic_agent.api.registry``; the core never imports this
package.
"""

from clinic_agent.runtime.devices.config import DeviceConfig, add_device, parse, remove_device
from clinic_agent.runtime.devices.service import DeviceService, build_link

__all__ = ["DeviceConfig", "DeviceService", "add_device", "build_link", "parse", "remove_device"]
