"""API operations on devices: list them with their links' state, feed one frame, reload the list."""

from __future__ import annotations

import asyncio
import binascii
import os
from typing import Any

from clinic_agent.api.methods import DOCTOR, EVERYONE, TECHNICIAN, MethodTable, find_resident
from clinic_agent.api.params import Params
from clinic_agent.core.errors import AccessDenied, InvalidInput
from clinic_agent.core.model import utcnow
from clinic_agent.runtime.agent import Agent, Caller
from clinic_agent.runtime.devices.config import parse
from clinic_agent.runtime.ingest import Ingest
from drivers.decode import is_known, protocols
from drivers.frames import DeviceRef, RawFrame, Receipt

METHODS = MethodTable()  # joined with the others in clinic_agent.api.registry
method = METHODS.method


def receipt_json(receipt: Receipt) -> dict[str, Any]:
    """A receipt as the API shows it."""
    return {
        "stored": list(receipt.stored),
        "duplicates": list(receipt.duplicates),
        "quarantined": receipt.quarantined,
        "failed": receipt.failed,
    }


def parse_hex(text: str) -> bytes:
    """Bytes from hex as people paste it: spaces, colons and a 0x prefix allowed."""
    cleaned = "".join(text.split()).replace(":", "").removeprefix("0x")
    try:
        return binascii.unhexlify(cleaned)
    except (binascii.Error, ValueError):
        raise InvalidInput(f"{text[:40]!r} is not hexadecimal bytes") from None


@method("device.list", roles=EVERYONE, needs_keys=False, public=True)
def _device_list(agent: Agent, caller: Caller, params: Params) -> dict[str, Any]:
    running = agent.status_providers.get("devices")
    if running is not None:
        return {"devices": running(), "daemon": True}
    configs = parse(agent.config.devices, str(agent.home.config_path))
    listed = [
        {
            "name": c.name,
            "kind": c.kind,
            "protocol": c.protocol,
            "where": c.describe(),
            "state": "not running",
            "detail": "",
        }
        for c in configs
    ]
    return {"devices": listed, "daemon": False}


@method("device.ingest", roles=frozenset({DOCTOR, TECHNICIAN}))
def _device_ingest(agent: Agent, caller: Caller, params: Params) -> dict[str, Any]:
    protocol = params.text("protocol", max_length=20)
    if not is_known(protocol):
        raise InvalidInput(f"unknown protocol {protocol!r}; known: {', '.join(protocols())}")
    data = parse_hex(params.text("hex", max_length=2_000_000))
    resident = find_resident(agent, params.text("resident", max_length=40)) if "resident" in params else None
    device = params.optional_text("device", max_length=40) or "manual-ingest"
    configs = {c.name: c for c in parse(agent.config.devices, str(agent.home.config_path))}
    ref = configs[device].ref if device in configs else DeviceRef(id=device, protocol=protocol)
    sink = Ingest(agent, {name: c.settings for name, c in configs.items()})
    frame = RawFrame(device=ref, protocol=protocol, data=data, received_at=utcnow())
    agent.store.audit.record(caller.actor, "device.ingest", "device", device, protocol)
    return receipt_json(sink.submit(frame, resident_id=resident.id if resident else None))


@method("device.reload", roles=frozenset({TECHNICIAN}), needs_keys=False, public=True)
def _device_reload(agent: Agent, caller: Caller, params: Params) -> dict[str, Any]:
    # Whoever may edit agent.toml (root, the agent's own user) may have it re-read; no health data moves.
    if not (caller.owner or caller.role == TECHNICIAN or caller.peer in ("uid:0", f"uid:{os.geteuid()}")):
        raise AccessDenied("only the agent's user, root or a technician may reload the devices")
    service = agent.services.get("devices")
    if service is None:
        return {"reloaded": False}
    configs = parse(agent.home.load_config().devices, str(agent.home.config_path))
    loop = service.loop  # the daemon's loop: links live there
    changed = asyncio.run_coroutine_threadsafe(service.reload(configs), loop).result(timeout=30)
    return {"reloaded": True, **changed}
