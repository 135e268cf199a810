"""Configured devices: their settings in agent.toml, their links, the daemon service and API methods.

The device operations of the API (`device.list`, `device.ingest`, `device.reload`) are in
``methods``, joined with the others in ``clinic_agent.api.registry``; the core never imports this
package. The links and their sessions (``service``) are imported by the daemon itself, not with the
settings, so a command reading agent.toml loads no device stack (issue 13: start-up).
"""

from clinic_agent.runtime.devices.config import DeviceConfig, add_device, parse, remove_device

__all__ = ["DeviceConfig", "add_device", "parse", "remove_device"]
