"""Note <-> DocumentReference: a village doctor's free-text note about a resident.

A clinical note is a document, and FHIR's answer for "a note the clinician wrote" is a
DocumentReference with the text as an attachment (the pattern of US Core's clinical notes and of
IPS/HL7 China document exchange): platforms index, list and show those to other clinicians, where an
Observation with valueString would be one more measurement and a Communication a message between
parties. ``type`` LOINC 34109-9 (Note), ``category`` 11506-3 (Progress note); the text is
``content.attachment`` (``text/plain; charset=utf-8``, base64 ``data``), ``attachment.creation``
and ``date`` when it was written (with the PC's offset, as recorded), ``author`` the doctor's name as
written (a display-only reference: the agent has no Practitioner resources), ``identifier`` the
record's urn:uuid. ``status`` current, ``entered-in-error`` once deleted here (never a DELETE).
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Final

from clinic_agent.core.model import Note
from sync.errors import MappingError, PlatformProtocolError
from sync.fhir import codes
from sync.fhir.common import (
    Reference,
    Resource,
    coding,
    concept,
    dicts,
    expect_type,
    local_id,
    obj,
    parse_instant,
    prune,
    required_text,
    text,
    uuid_identifier,
)

NOTE: Final = "34109-9"
PROGRESS_NOTE: Final = "11506-3"
CONTENT_TYPE: Final = "text/plain; charset=utf-8"
STATUS: Final = {False: "current", True: "entered-in-error"}


def to_fhir(record: Note, *, subject: Reference) -> Resource:
    """The DocumentReference of a note (no ``id``: the caller chooses POST or PUT)."""
    written = _date_time(record.written_at)
    if not record.text:
        raise MappingError("an empty note has nothing to send")
    return prune(
        {
            "resourceType": "DocumentReference",
            "identifier": [uuid_identifier(record.id)],
            "status": STATUS[record.deleted],
            "type": concept(coding(codes.LOINC, NOTE, "Note")),
            "category": [concept(coding(codes.LOINC, PROGRESS_NOTE, "Progress note"))],
            "subject": subject,
            "date": written,
            "author": [{"display": record.author}] if record.author else None,
            "content": [
                {
                    "attachment": {
                        "contentType": CONTENT_TYPE,
                        "language": "zh-CN",
                        "data": base64.b64encode(record.text.encode("utf-8")).decode("ascii"),
                        "creation": written,
                    }
                }
            ],
        }
    )


def _date_time(moment: datetime) -> str:
    """An instant with the offset it was recorded with (so the record reads back exactly)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise MappingError(f"the time {moment.isoformat()} has no time zone; FHIR needs one")
    spec = "milliseconds" if moment.microsecond % 1000 == 0 else "microseconds"
    written = moment.isoformat(timespec=spec)
    return written[:-6] + "Z" if written.endswith("+00:00") else written


def from_fhir(resource: Resource, *, resident_id: str) -> Note:
    """Read a note from a DocumentReference whose first attachment is plain text."""
    resource = expect_type(resource, "DocumentReference")
    status = text(resource, "status", "DocumentReference")
    if status not in STATUS.values() and status != "superseded":
        raise PlatformProtocolError(f"DocumentReference status {status!r:.30} is not current or entered-in-error")
    contents = dicts(resource, "content", "DocumentReference")
    attachment = obj(contents[0], "attachment", "DocumentReference.content") if contents else None
    if attachment is None:
        raise PlatformProtocolError("DocumentReference has no attachment")
    kind = text(attachment, "contentType", "DocumentReference.content.attachment") or ""
    if not kind.startswith("text/plain"):
        raise PlatformProtocolError(f"DocumentReference holds {kind[:40]!r}, not plain text")
    try:
        body = base64.b64decode(required_text(attachment, "data", "attachment"), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise PlatformProtocolError("DocumentReference text is not base64 UTF-8") from None
    when = text(attachment, "creation", "attachment") or required_text(resource, "date", "DocumentReference")
    authors = dicts(resource, "author", "DocumentReference")
    return Note(
        id=local_id(resource),
        resident_id=resident_id,
        text=body,
        written_at=parse_instant(when, "DocumentReference.date"),
        author=(text(authors[0], "display", "DocumentReference.author") or "") if authors else "",
        deleted=status == "entered-in-error",
    )
