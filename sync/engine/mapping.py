"""Records and resources for the engine: which mapper, which request, and the comparable form for merging.

The comparable form of a record is its JSON without what is local bookkeeping (id, version,
updated_at, resident id) and, for readings, without what exists only on this PC (the dedupe key,
the raw frame, the device hint). A record read back from the platform compares equal to the record
that was sent: that is what makes an echo of our own write a no-op, and what the three-way merge
works on.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from clinic_agent.core import serde
from clinic_agent.core.model import (
    Allergy,
    Condition,
    Consultation,
    ConsultationMessage,
    ConsultationTask,
    Entry,
    EntryKind,
    FamilyHistory,
    FollowUp,
    Note,
    Procedure,
    Reading,
    Resident,
)
from clinic_agent.core.sync_values import ENTRIES, READINGS, RESIDENTS, Record
from sync.errors import MappingError, PlatformProtocolError
from sync.fhir import (
    allergy,
    bundle,
    codes,
    condition,
    consultation,
    family_history,
    followup,
    note,
    observation,
    patient,
    procedure,
)
from sync.fhir.bundle import RequestEntry
from sync.fhir.capability import CreateBy
from sync.fhir.codes import DEFAULT_NAMESPACE, UUID_SYSTEM, Namespace
from sync.fhir.common import (
    Reference,
    Resource,
    bundle_reference,
    entry_url,
    fhir_id,
    identifier_query,
    identifier_value,
)

ENTRY_TYPES: dict[EntryKind, str] = {
    EntryKind.ALLERGY: "AllergyIntolerance",
    EntryKind.CONDITION: "Condition",
    EntryKind.PROCEDURE: "Procedure",
    EntryKind.FAMILY_HISTORY: "FamilyMemberHistory",
    EntryKind.NOTE: "DocumentReference",
    EntryKind.FOLLOW_UP: "QuestionnaireResponse",  # with its Encounter and Observations (sync.engine.forms)
    EntryKind.CONSULTATION: "ServiceRequest",  # with its Task (sync.engine.forms)
    EntryKind.CONSULTATION_TASK: "Task",  # only read: the specialist's side moves it on
    EntryKind.CONSULTATION_MESSAGE: "Communication",  # replies come down; the clinic's outcome goes up
}
# Resource types pulled, in dependency order (a Patient before what refers to it).
PULLED = (
    "Patient",
    "Condition",
    "AllergyIntolerance",
    "Procedure",
    "FamilyMemberHistory",
    "Observation",
    "DocumentReference",
    "QuestionnaireResponse",
    "ServiceRequest",  # consultations: this PC's read back, and those the clinic's other PCs made
    "Task",  # a consultation's, as the specialist's side moved it on
    "Communication",  # replies to a consultation (and the clinic's own outcomes, read back)
    "DiagnosticReport",  # a specialist's written report on a consultation, shown as a reply
)
# Where each pulled type names its patient.
SUBJECT_PARAM = {
    "Observation": "subject",
    "Condition": "subject",
    "Procedure": "subject",
    "AllergyIntolerance": "patient",
    "FamilyMemberHistory": "patient",
    "DocumentReference": "subject",
    "QuestionnaireResponse": "subject",
    "ServiceRequest": "subject",
    "Task": "subject",  # the search parameter; the element is Task.for
    "Communication": "subject",
    "DiagnosticReport": "subject",
}

_BOOKKEEPING = frozenset({"id", "version", "updated_at", "resident_id"})
_READING_LOCAL = frozenset({"dedupe_key", "frame_id", "subject_hint", "device"})


def resource_type(record: Record) -> str | None:
    """The FHIR type a record is sent as (None for a kind of entry that has no platform form)."""
    if isinstance(record, Resident):
        return "Patient"
    if isinstance(record, Reading):
        return "Observation"
    return ENTRY_TYPES.get(record.kind)


def entity_of(resource_type_: str) -> str:
    """The store's table for a FHIR type."""
    if resource_type_ == "Patient":
        return RESIDENTS
    if resource_type_ == "Observation":
        return READINGS
    return ENTRIES


def comparable(record: Record) -> dict[str, Any]:
    """The fields of a record that the platform also holds, as JSON values."""
    data: dict[str, Any] = serde.to_json(record)
    drop = _BOOKKEEPING | (_READING_LOCAL if isinstance(record, Reading) else frozenset())
    return {key: value for key, value in data.items() if key not in drop}


def with_remote(local: Record, remote: dict[str, Any]) -> Record:
    """The local record with the platform's fields over it (local bookkeeping kept)."""
    return serde.from_json(type(local), {**serde.to_json(local), **remote})


def to_resource(
    record: Record,
    *,
    subject: Reference | None,
    organization: Reference | None,
    partner: Reading | None = None,
    ns: Namespace = DEFAULT_NAMESPACE,
) -> Resource:
    """Map a record to its resource (``subject`` is the resident's Patient, for everything but a Patient).

    ``ns``: the namespace of our own extensions, NamingSystems, CodeSystems and Questionnaires.

    ``partner``: the diastolic reading a systolic one goes up with, as one panel (``pairs``).
    """
    if isinstance(record, Resident):
        return patient.to_fhir(record, managing_organization=organization, ns=ns)
    if subject is None:
        raise MappingError(f"{type(record).__name__} {record.id} has no resident to refer to")
    if isinstance(record, Reading):
        return observation.to_fhir(record, subject=subject, partner=partner, ns=ns)
    if isinstance(record, Allergy):
        return allergy.to_fhir(record, patient=subject, ns=ns)
    if isinstance(record, Condition):
        return condition.to_fhir(record, subject=subject, ns=ns)
    if isinstance(record, Procedure):
        return procedure.to_fhir(record, subject=subject, ns=ns)
    if isinstance(record, FamilyHistory):
        return family_history.to_fhir(record, patient=subject, ns=ns)
    if isinstance(record, Note):
        return note.to_fhir(record, subject=subject)  # a note carries no URL of ours
    if isinstance(record, FollowUp):
        return followup.to_fhir(record, subject=subject, ns=ns)
    if isinstance(record, Consultation):
        return consultation.to_fhir(record, subject=subject, ns=ns)
    if isinstance(record, ConsultationMessage):
        return consultation.message_to_fhir(record, subject=subject, ns=ns)
    if isinstance(record, ConsultationTask):
        raise MappingError("a consultation's Task is the specialist's side's to move on; it is not sent from here")
    raise MappingError(f"a {type(record).__name__} has no FHIR form yet; it stays on this PC")


def pairs(records: Sequence[Record]) -> dict[str, Reading]:
    """Separately entered systolic and diastolic readings taken together: systolic id -> diastolic."""
    return observation.pairs(r for r in records if isinstance(r, Reading))


def companion_requests(
    record: Record,
    entry: RequestEntry,
    *,
    create_by: CreateBy | None,
    plain_post: bool = False,
    ns: Namespace = DEFAULT_NAMESPACE,
) -> list[RequestEntry]:
    """What goes in the same Bundle as ``entry`` besides it: a BP reading's heart rate as its own Observation.

    Created like every create (conditional on its own identifier, derived from the reading's), updated
    with it by a conditional update on that identifier, deleted with it by identifier.
    """
    if not isinstance(record, Reading) or record.code != codes.BP_PANEL:
        return []
    cid = observation.companion_id(record.id)
    if entry.method == "DELETE":
        has_rate = any(q.code == codes.HEART_RATE for q in record.components)
        return [bundle.delete_by_identifier("Observation", cid)] if has_rate else []
    subject = entry.resource.get("subject") if entry.resource else None
    panel = bundle_reference(record.id) if entry.full_url else None
    rate = observation.heart_rate(record, subject=subject, panel=panel, ns=ns)
    if rate is None:
        return []
    if entry.if_match is not None:  # the reading changed (entered-in-error): its heart rate follows
        query = identifier_query(UUID_SYSTEM, identifier_value(cid))
        return [RequestEntry(method="PUT", url=f"Observation?{query}", resource=rate, full_url=entry_url(cid))]
    if plain_post:
        return [RequestEntry(method="POST", url="Observation", resource=rate, full_url=entry_url(cid))]
    if create_by == "conditional-create":
        return [bundle.create(rate, cid)]
    return [bundle.put(rate, fhir_id(cid), record_id=cid, create_only=True)]


def derived(resource: Resource) -> bool:
    """A resource this agent sends only as part of another record's (a BP reading's heart rate): not pulled."""
    if followup.derived_from_form(resource):  # a follow-up's measured value: the form brings it down
        return True
    kind = resource.get("resourceType")
    if kind == "Task" and not consultation.is_consultation_task(resource):
        return True  # a Task about something else than a consultation: not kept in a file
    if kind == "Communication" and not consultation.is_consultation_message(resource):
        return True  # likewise a Communication about anything but a consultation
    if kind == "ServiceRequest" and not consultation.is_consultation_request(resource):
        return True  # a lab order, a referral: not a consultation of this clinic's
    if kind == "DiagnosticReport" and not consultation.is_consultation_report(resource):
        return True  # a lab's or a hospital's report (the file keeps readings, not reports), or one still empty
    return resource.get("resourceType") == "Observation" and observation.is_companion(resource)


def from_resource(resource: Resource, *, resident_id: str | None, ns: Namespace = DEFAULT_NAMESPACE) -> Record:
    """Map a resource pulled from the platform to a record (of ``resident_id``, for all but a Patient).

    Our extensions and codes are read under ``ns``, the namespace they were sent under.
    """
    kind = resource.get("resourceType")
    if kind == "Patient":
        return patient.from_fhir(resource, ns=ns)
    if resident_id is None:
        raise PlatformProtocolError(f"a {kind} names no resident of this clinic")
    if kind == "Observation":
        return observation.from_fhir(resource, resident_id=resident_id, ns=ns)
    if kind == "DocumentReference":
        return note.from_fhir(resource, resident_id=resident_id)  # a note carries no URL of ours
    if kind == "ServiceRequest":
        return consultation.from_fhir(resource, resident_id=resident_id)
    if kind == "Task":
        return consultation.task_from_fhir(resource, resident_id=resident_id)
    if kind == "Communication":
        return consultation.message_from_fhir(resource, resident_id=resident_id, ns=ns)
    if kind == "DiagnosticReport":
        return consultation.report_from_fhir(resource, resident_id=resident_id)
    mappers = {
        "AllergyIntolerance": allergy.from_fhir,
        "Condition": condition.from_fhir,
        "Procedure": procedure.from_fhir,
        "FamilyMemberHistory": family_history.from_fhir,
        "QuestionnaireResponse": followup.from_fhir,
    }
    mapper = mappers.get(str(kind))
    if mapper is None:
        raise PlatformProtocolError(f"a {str(kind)[:40]} cannot be kept in a resident's file")
    found: Entry = mapper(resource, resident_id=resident_id, ns=ns)
    return found


def create_request(
    record: Record, resource: Resource, *, create_by: CreateBy | None, plain_post: bool = False
) -> RequestEntry:
    """A create that a replay cannot duplicate: conditional on the record's identifier, or PUT to its id.

    ``plain_post`` drops the condition: only the fault tests' negative control asks for it.
    """
    if plain_post:
        return RequestEntry(
            method="POST", url=str(resource["resourceType"]), resource=resource, full_url=entry_url(record.id)
        )
    if isinstance(record, Resident):  # one person, one Patient: the national ID card number decides
        return bundle.create(
            resource, record.id, if_none_exist=identifier_query(codes.ID_CARD_SYSTEM, record.id_number)
        )
    if create_by == "conditional-create":
        return bundle.create(resource, record.id)
    return bundle.put(resource, fhir_id(record.id), record_id=record.id, create_only=True)


def update_request(record: Record, resource: Resource, remote_id: str, remote_version: str) -> RequestEntry:
    """An update that only applies to the version we last saw (If-Match)."""
    return bundle.put(resource, remote_id, version_id=remote_version, record_id=record.id)


def subject_id(resource: Resource) -> str | None:
    """The Patient id a resource refers to (``Patient/<id>``), if any."""
    kind = resource.get("resourceType")
    key = "patient" if kind in ("AllergyIntolerance", "FamilyMemberHistory") else "for" if kind == "Task" else "subject"
    ref = resource.get(key)
    text = ref.get("reference") if isinstance(ref, dict) else None
    if not isinstance(text, str):
        return None
    parts = text.split("?", 1)[0].rstrip("/").split("/")
    if len(parts) >= 2 and parts[-2] == "Patient":
        return parts[-1]
    return None
