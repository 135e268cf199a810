"""DeviceInfo <-> Device.

The agent's device identity (e.g. ``ble:AA:BB:...``) is the identifier of ``Namespace.device_id_system``;
the FHIR id to PUT it to is ``common.fhir_id(device.id)`` (a UUID derived from it when it is not a
valid FHIR id). The model is a ``deviceName`` of type ``model-name``, the protocol a
``specialization.systemType`` (the standard the device speaks), the serial ``serialNumber``.
"""

from __future__ import annotations

from clinic_agent.core.model import DeviceInfo
from sync.errors import PlatformProtocolError
from sync.fhir.codes import DEFAULT_NAMESPACE, Namespace
from sync.fhir.common import (
    Reference,
    Resource,
    dicts,
    expect_type,
    fhir_id,
    find_identifier,
    identifier_query,
    obj,
    prune,
    reference,
    required_text,
    text,
)


def to_fhir(device: DeviceInfo, *, owner: Reference | None = None, ns: Namespace = DEFAULT_NAMESPACE) -> Resource:
    """Map a device to a Device (no ``id``: see ``client_id``)."""
    return prune(
        {
            "resourceType": "Device",
            "identifier": [{"system": ns.device_id_system, "value": device.id}],
            "status": "active",
            "serialNumber": device.serial or None,
            "deviceName": [{"name": device.model, "type": "model-name"}] if device.model else None,
            "specialization": [{"systemType": {"text": device.protocol}}] if device.protocol else None,
            "owner": owner,
        }
    )


def from_fhir(resource: Resource, *, ns: Namespace = DEFAULT_NAMESPACE) -> DeviceInfo:
    """Map a Device made by an agent back to the device."""
    found = expect_type(resource, "Device")
    device_id = find_identifier(found, ns.device_id_system)
    if device_id is None:
        raise PlatformProtocolError(f"Device/{found.get('id')} has no agent device id")
    names = [n for n in dicts(found, "deviceName", "Device") if n.get("type") == "model-name"]
    kinds = dicts(found, "specialization", "Device")
    system_type = obj(kinds[0], "systemType", "Device.specialization") if kinds else None
    return DeviceInfo(
        id=device_id,
        model=required_text(names[0], "name", "Device.deviceName") if names else "",
        serial=text(found, "serialNumber", "Device") or "",
        protocol=(text(system_type, "text", "Device.specialization.systemType") or "") if system_type else "",
    )


def client_id(device: DeviceInfo) -> str:
    """The FHIR id the agent PUTs this device to."""
    return fhir_id(device.id)


def device_reference(device: DeviceInfo) -> Reference:
    """A literal reference to the device at its client id."""
    return reference("Device", client_id(device), device.model or None)


def identifier_search(device: DeviceInfo, *, ns: Namespace = DEFAULT_NAMESPACE) -> str:
    """The search (and ``ifNoneExist``) query that finds this device."""
    return identifier_query(ns.device_id_system, device.id)
