"""The local audit chain's head, anchored on the platform at each sync: an AuditEvent PUT to a client id.

A hash chain cannot show locally that its tail was cut off (Ma–Tsudik): the platform's copy of the
last (sequence number, MAC) can. One AuditEvent per store, replaced at each sync (its version
history on the platform keeps every anchor). It holds no personal data: a random store id, a
counter and a MAC.
"""

from __future__ import annotations

from datetime import datetime

from sync.errors import PlatformProtocolError
from sync.fhir.bundle import RequestEntry, put
from sync.fhir.codes import DEFAULT_NAMESPACE, Namespace
from sync.fhir.common import Reference, Resource, fhir_id, instant, parse_instant

APPLICATION_ACTIVITY = {"system": "http://dicom.nema.org/resources/ontology/DCM", "code": "110100"}


def anchor_id(store_id: str) -> str:
    """The client id the store's anchor is PUT to."""
    return fhir_id(f"audit-anchor:{store_id}")


def to_fhir(
    store_id: str, seq: int, mac: bytes, at: datetime, *, observer: Reference | None, ns: Namespace = DEFAULT_NAMESPACE
) -> Resource:
    """The AuditEvent that records the chain head (sequence number and MAC, hex) at ``at``.

    The store is named by an identifier of ``ns.store_id_system``.
    """
    store = {"system": ns.store_id_system, "value": store_id}
    event: Resource = {
        "resourceType": "AuditEvent",
        "type": {**APPLICATION_ACTIVITY, "display": "Application Activity"},
        "action": "E",
        "recorded": instant(at),
        "outcome": "0",
        "agent": [{"who": {"identifier": dict(store)}, "requestor": False}],
        "source": {"observer": observer or {"identifier": dict(store)}},
        "entity": [
            {
                "what": {"identifier": dict(store)},
                "description": "clinic-agent audit chain head",
                "detail": [{"type": "seq", "valueString": str(seq)}, {"type": "mac", "valueString": mac.hex()}],
            }
        ],
    }
    return event


def request(
    store_id: str,
    seq: int,
    mac: bytes,
    at: datetime,
    *,
    observer: Reference | None,
    version_id: str | None = None,
    ns: Namespace = DEFAULT_NAMESPACE,
) -> RequestEntry:
    """The PUT that replaces the store's anchor: If-Match the version read just before, or, when none was
    there, a first write that must not replace an anchor written since (``create_only``)."""
    resource = to_fhir(store_id, seq, mac, at, observer=observer, ns=ns)
    return put(resource, anchor_id(store_id), version_id=version_id, create_only=version_id is None)


def from_fhir(resource: Resource) -> tuple[int, bytes] | None:
    """The (sequence number, MAC) an anchor AuditEvent holds; None when it holds none that reads."""
    for entity in resource.get("entity") or []:
        if not isinstance(entity, dict):
            continue
        details = {d.get("type"): d.get("valueString") for d in entity.get("detail") or [] if isinstance(d, dict)}
        try:
            return int(str(details["seq"])), bytes.fromhex(str(details["mac"]))
        except (KeyError, ValueError):
            continue
    return None


def recorded_at(resource: Resource) -> datetime | None:
    """When the anchor AuditEvent was written (its ``recorded``); None when it holds no time that reads."""
    value = resource.get("recorded")
    try:
        return parse_instant(value, "the audit anchor's recorded time")
    except PlatformProtocolError:
        return None
