"""The audit chain's head, anchored on the platform at the end of every clean sync.

The platform's copy is read first and compared with the chain here (a cut or rolled-back log is
recorded as such); then the new head is put there with If-Match on the version read, or as a
first write that replaces nothing (``sync.engine.versions``). A failure only waits for the next sync.
"""

from __future__ import annotations

import asyncio
import logging

from clinic_agent.core.model import utcnow
from sync.engine import versions
from sync.errors import PlatformRejected, SyncError
from sync.fhir import audit_anchor
from sync.host import Host
from sync.platform import Platform

_LOGGER = logging.getLogger(__name__)


async def anchor(host: Host, client: Platform, organization_id: str | None) -> str:
    """Compare the platform's copy of the audit chain's head with the chain here, then put the new head there.

    What the comparison found ('' when the heads agree): a cut, or a restore written in the log since
    the platform's head was anchored (``recorded``), which it explains."""
    version: str | None = None
    try:
        read = await client.read("AuditEvent", audit_anchor.anchor_id(host.store_id))
        held, version = audit_anchor.from_fhir(read.resource), read.version_id
    except PlatformRejected as exc:
        if exc.status not in (404, 410):
            _LOGGER.warning("the platform's audit anchor could not be read: %s", exc)
            return ""
        held = None  # never anchored there yet
    except SyncError as exc:
        _LOGGER.warning("the platform's audit anchor could not be read: %s", exc)
        return ""
    problem = ""
    if held is not None:
        problem = await asyncio.to_thread(
            host.audit.compare_with_anchor,
            *held,
            where="the platform",
            anchored_at=audit_anchor.recorded_at(read.resource),
        )
        if problem:
            _LOGGER.warning("%s", problem)
    seq, mac = await asyncio.to_thread(host.audit.head)
    head = f"{seq}:{mac.hex()}"
    if (await asyncio.to_thread(host.records.settings)).get("audit_anchor") == head:
        return problem  # nothing was logged since the last anchor
    observer = {"reference": f"Organization/{organization_id}"} if organization_id else None
    entry = audit_anchor.request(
        host.store_id, seq, mac, utcnow(), observer=observer, version_id=version, ns=host.site.namespace
    )
    try:
        [result] = await versions.transaction(client, [entry])
    except SyncError as exc:
        _LOGGER.warning("the audit anchor was not accepted: %s", exc)
        return problem
    if result.resource is not None and audit_anchor.from_fhir(result.resource) != (seq, mac):
        _LOGGER.warning("an audit anchor was written on the platform since it was read; compared at the next sync")
        return problem
    await asyncio.to_thread(host.records.save_settings, {"audit_anchor": head})
    return problem
