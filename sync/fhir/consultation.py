"""Consultation <-> ServiceRequest + Task; the specialist's side as Task and Communication.

A village doctor's request for a specialist's advice goes up as one record of two resources, in one
transaction:

- **ServiceRequest** (the record itself): ``intent`` order, ``category`` and ``code`` SNOMED CT
  11429006 (Consultation), ``priority`` routine / urgent / stat (emergency), ``subject`` the
  Patient, ``authoredOn`` when it was asked, ``requester`` the doctor (display) , ``performer``
  whom it asks (an Organization, HealthcareService or PractitionerRole of the platform),
  ``reasonCode[0].text`` the question, ``note`` the information added later (one note each, oldest
  first), ``supportingInfo`` the attached records. ``status`` active, ``revoked`` once withdrawn,
  ``entered-in-error`` once deleted here. ``identifier`` the record's urn:uuid.
- **Task** (a *part*, ``urn:uuid:<uuid5(record id, "task")>``): ``code`` fulfill, ``focus`` the
  ServiceRequest, ``for`` the Patient, ``requester`` the clinic's Organization, ``owner`` whom it
  asks, ``status`` requested; ``cancelled`` when the request is withdrawn. The specialist's side
  moves it on (accepted, in-progress, completed, rejected) and may put its answer in ``output``.

Each attached record is referred to by the agent's identifier (``identifier`` urn:uuid, with
``type``) and, when the platform already holds it or it goes in the same transaction, by a literal
reference too: the reference never dangles, and a platform that resolves logical references finds
the record when it arrives.

What comes down: the Task (as ``ConsultationTask``: its status, reason, owner and text outputs) and
every Communication or DiagnosticReport ``basedOn`` a ServiceRequest (as ``ConsultationMessage``: the
reply's text, sender and time). One that cannot be read is set aside under the request it answers
(``request_of``). The clinic's outcome (advice followed, referred, resident not reached) goes up as
a Communication too, ``basedOn`` the ServiceRequest, ``category`` our ``consultation-message|outcome``
and ``reasonCode`` our ``consultation-outcome`` code.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from dataclasses import dataclass
from typing import Any, Final

from clinic_agent.core.errors import InvalidInput
from clinic_agent.core.model import (
    Consultation,
    ConsultationMessage,
    ConsultationOutcome,
    ConsultationTask,
    EntryKind,
    Urgency,
)
from sync.errors import MappingError, PlatformProtocolError
from sync.fhir.codes import DEFAULT_NAMESPACE, Namespace
from sync.fhir.common import (
    Reference,
    Resource,
    code_in,
    coding,
    concept,
    dicts,
    expect_type,
    identifier_value,
    instant,
    local_id,
    obj,
    parse_instant,
    prune,
    text,
    uuid_identifier,
)

SNOMED: Final = "http://snomed.info/sct"
CONSULTATION_CODE: Final = "11429006"
TASK_CODES: Final = "http://hl7.org/fhir/CodeSystem/task-code"
PRIORITY: Final = {Urgency.ROUTINE: "routine", Urgency.URGENT: "urgent", Urgency.EMERGENCY: "stat"}
TASK_PART: Final = "task"
# Where each kind of attachment lives on the platform.
ATTACHED_TYPES: Final = {
    "reading": "Observation",
    EntryKind.ALLERGY.value: "AllergyIntolerance",
    EntryKind.CONDITION.value: "Condition",
    EntryKind.PROCEDURE.value: "Procedure",
    EntryKind.FAMILY_HISTORY.value: "FamilyMemberHistory",
    EntryKind.NOTE.value: "DocumentReference",
    EntryKind.FOLLOW_UP.value: "QuestionnaireResponse",
}
_KIND_OF_TYPE: Final = {v: k for k, v in ATTACHED_TYPES.items()}
# Task states that end a consultation without an answer.
CLOSED_TASK: Final = frozenset({"rejected", "cancelled", "failed", "entered-in-error"})
ACCEPTED_TASK: Final = frozenset({"received", "accepted", "in-progress", "on-hold", "ready"})
# Task states a withdrawal leaves as they are: the consultation has ended already.
ENDED_TASK: Final = frozenset({"completed", "cancelled", "rejected", "failed", "entered-in-error"})


@dataclass(frozen=True, slots=True)
class TaskPart:
    """A consultation's Task as a part of the request's transaction."""

    record_id: str
    resource: Resource


def task_id(record_id: str) -> str:
    """The stable id of a consultation's Task (a UUID derived from the record's urn:uuid)."""
    return str(uuid.uuid5(uuid.UUID(identifier_value(record_id).removeprefix("urn:uuid:")), TASK_PART))


def _request_status(record: Consultation) -> str:
    if record.deleted:
        return "entered-in-error"
    return "revoked" if record.withdrawn else "active"


def to_fhir(
    record: Consultation,
    *,
    subject: Reference,
    ns: Namespace = DEFAULT_NAMESPACE,
    attached: dict[str, Reference] | None = None,
) -> Resource:
    """The ServiceRequest of a consultation (no ``id``: the caller chooses POST or PUT).

    ``attached``: literal references of attachments the platform holds (``kind:id`` -> reference).
    """
    del ns  # the request carries only standard codes
    if not record.question:
        raise MappingError("a consultation with no question has nothing to ask")
    found = attached or {}
    consultation = coding(SNOMED, CONSULTATION_CODE, "Consultation")
    return prune(
        {
            "resourceType": "ServiceRequest",
            "identifier": [uuid_identifier(record.id)],
            "status": _request_status(record),
            "intent": "order",
            "category": [concept(consultation)],
            "code": concept(consultation),
            "priority": PRIORITY[record.urgency],
            "subject": subject,
            "authoredOn": instant(record.requested_at),
            "requester": {"display": record.author} if record.author else None,
            "performer": [_target(record)],
            "reasonCode": [{"text": record.question}],
            "note": [{"text": added} for added in record.added] or None,
            "supportingInfo": [_attachment(a, found.get(a)) for a in record.attachments] or None,
        }
    )


def _target(record: Consultation) -> Reference:
    ref: Reference = {"reference": record.target}
    if record.target_name:
        ref["display"] = record.target_name
    return ref


def _attachment(attachment: str, literal: Reference | None) -> dict[str, Any]:
    kind, _, record_id = attachment.partition(":")
    resource_type = ATTACHED_TYPES.get(kind)
    if resource_type is None:
        raise MappingError(f"a {kind[:30]} cannot be attached to a consultation")
    ref: dict[str, Any] = {"type": resource_type, "identifier": uuid_identifier(record_id)}
    if literal is not None:
        ref["reference"] = literal["reference"]
    return ref


def task(
    record: Consultation,
    *,
    subject: Reference,
    request: Reference,
    organization: Reference | None,
    outputs: tuple[str, ...] = (),
) -> Resource:
    """The Task tracking a consultation: requested, or cancelled once withdrawn (keeping known outputs)."""
    cancelled = record.withdrawn or record.deleted
    return prune(
        {
            "resourceType": "Task",
            "identifier": [uuid_identifier(task_id(record.id))],
            "status": "cancelled" if cancelled else "requested",
            "intent": "order",
            "priority": PRIORITY[record.urgency],
            "code": concept(coding(TASK_CODES, "fulfill", "Fulfill the focal request")),
            "description": record.question,
            "focus": request,
            "for": subject,
            "authoredOn": instant(record.requested_at),
            "requester": organization,
            "owner": _target(record),
            "output": [{"type": {"text": "answer"}, "valueString": output} for output in outputs] or None,
        }
    )


def from_fhir(resource: Resource, *, resident_id: str) -> Consultation:
    """Read a consultation back from its ServiceRequest (our own, after a 409/412 or a found copy)."""
    resource = expect_type(resource, "ServiceRequest")
    status = text(resource, "status", "ServiceRequest")
    priorities = {v: k for k, v in PRIORITY.items()}
    reasons = dicts(resource, "reasonCode", "ServiceRequest")
    question = (text(reasons[0], "text", "ServiceRequest.reasonCode") or "") if reasons else ""
    performers = dicts(resource, "performer", "ServiceRequest")
    requester = obj(resource, "requester", "ServiceRequest") or {}
    attachments = []
    for info in dicts(resource, "supportingInfo", "ServiceRequest"):
        identifier = obj(info, "identifier", "ServiceRequest.supportingInfo") or {}
        value = text(identifier, "value", "ServiceRequest.supportingInfo.identifier") or ""
        kind = _KIND_OF_TYPE.get(text(info, "type", "ServiceRequest.supportingInfo") or "")
        if kind is None or not value.startswith("urn:uuid:"):
            raise PlatformProtocolError("a ServiceRequest.supportingInfo names no record of ours")
        attachments.append(f"{kind}:{value.removeprefix('urn:uuid:')}")
    when = text(resource, "authoredOn", "ServiceRequest")
    try:
        return Consultation(
            id=local_id(resource),
            resident_id=resident_id,
            question=question,
            urgency=priorities.get(text(resource, "priority", "ServiceRequest") or "routine", Urgency.ROUTINE),
            target=(text(performers[0], "reference", "ServiceRequest.performer") or "") if performers else "",
            target_name=(text(performers[0], "display", "ServiceRequest.performer") or "") if performers else "",
            attachments=tuple(attachments),
            added=tuple(
                text(n, "text", "ServiceRequest.note") or "" for n in dicts(resource, "note", "ServiceRequest")
            ),
            requested_at=parse_instant(when, "ServiceRequest.authoredOn"),
            author=text(requester, "display", "ServiceRequest.requester") or "",
            withdrawn=status == "revoked",
            deleted=status == "entered-in-error",
        )
    except InvalidInput as exc:
        raise PlatformProtocolError(f"ServiceRequest cannot be read: {exc}") from None


# Whom a doctor may ask: the platform's HealthcareServices typed as consultation (SNOMED CT 11429006).
TARGET_TYPE: Final = "HealthcareService"
TARGET_SEARCH: Final = (("service-type", f"{SNOMED}|{CONSULTATION_CODE}"), ("active", "true"), ("_count", "100"))


def target_from_fhir(resource: Resource) -> dict[str, str] | None:
    """A consultation service the platform offers, as ``{"target": "HealthcareService/<id>", "name": ...}``.

    The name is the providing organization's (``providedBy.display``) and the service's own, as a
    doctor would say it ("铜仁市人民医院 心内科"). None for an inactive service or one that is not
    typed as consultation (a platform that ignores the search's parameters sends those too).
    """
    if resource.get("resourceType") != TARGET_TYPE or resource.get("active") is False:
        return None
    server_id = text(resource, "id", TARGET_TYPE)
    offered = any(
        coding_.get("system") == SNOMED and coding_.get("code") == CONSULTATION_CODE
        for kind in dicts(resource, "type", TARGET_TYPE)
        for coding_ in dicts(kind, "coding", "HealthcareService.type")
    )
    if not server_id or not offered:
        return None
    provider = obj(resource, "providedBy", TARGET_TYPE) or {}
    parts = [text(provider, "display", "HealthcareService.providedBy"), text(resource, "name", TARGET_TYPE)]
    name = " ".join(p.strip() for p in parts if p and p.strip())
    return {"target": f"{TARGET_TYPE}/{server_id}", "name": name[:100]}


def is_consultation_task(resource: Resource) -> bool:
    """A Task whose focus is a ServiceRequest: one this agent keeps (others are not ours to show)."""
    focus = resource.get("focus")
    ref = focus.get("reference") if isinstance(focus, dict) else None
    return isinstance(ref, str) and ref.startswith("ServiceRequest/")


def is_consultation_message(resource: Resource) -> bool:
    """A Communication based on a ServiceRequest: a consultation's reply or outcome."""
    based = resource.get("basedOn")
    return isinstance(based, list) and any(
        isinstance(b, dict) and str(b.get("reference", "")).startswith("ServiceRequest/") for b in based
    )


REPLY_TYPES: Final = frozenset({"Task", "Communication", "DiagnosticReport"})


def request_of(resource: Resource) -> str:
    """The consultation request a Task, Communication or DiagnosticReport is about ("ServiceRequest/<id>"),
    or "" when it names none: a reply that cannot be read is set aside under it, so that the
    consultation can say an answer came that is not shown here."""
    if resource.get("resourceType") == "Task":
        focus = resource.get("focus")
        refs = [focus.get("reference")] if isinstance(focus, dict) else []
    else:
        based = resource.get("basedOn")
        refs = [b.get("reference") for b in based if isinstance(b, dict)] if isinstance(based, list) else []
    found = [r for r in refs if isinstance(r, str) and r.startswith("ServiceRequest/")]
    return found[0].split("/_history/", 1)[0][:200] if found else ""


def task_from_fhir(resource: Resource, *, resident_id: str) -> ConsultationTask:
    """The platform's Task of a consultation, as the doctor is shown it."""
    resource = expect_type(resource, "Task")
    status = text(resource, "status", "Task")
    if not status:
        raise PlatformProtocolError("Task has no status")
    focus = obj(resource, "focus", "Task") or {}
    request = text(focus, "reference", "Task.focus") or ""
    if not request.startswith("ServiceRequest/"):
        raise PlatformProtocolError("Task is not about a ServiceRequest")
    reason = obj(resource, "statusReason", "Task") or {}
    owner = obj(resource, "owner", "Task") or {}
    outputs = []
    for output in dicts(resource, "output", "Task"):
        value = output.get("valueString", output.get("valueMarkdown"))
        if isinstance(value, str) and value.strip():
            outputs.append(value.strip())
        elif isinstance(output.get("valueAttachment"), dict):
            outputs.append(_attachment_text(output["valueAttachment"], "Task.output"))
        elif _answer_reference(output.get("valueReference")):
            continue  # the reply or report it points at comes down itself, based on the request
        elif not any(k.startswith("value") for k in output):
            raise PlatformProtocolError("a Task.output has no value")
        else:
            raise PlatformProtocolError(
                "a Task.output is not text (valueString, valueMarkdown, a text/plain valueAttachment) "
                "nor a reference to a Communication or DiagnosticReport"
            )
    return ConsultationTask(
        id=local_id(resource),
        resident_id=resident_id,
        request=request.split("/_history/", 1)[0],
        status=status,
        reason=text(reason, "text", "Task.statusReason") or "",
        owner=text(owner, "display", "Task.owner") or text(owner, "reference", "Task.owner") or "",
        outputs=tuple(outputs),
        deleted=status == "entered-in-error",
    )


def _answer_reference(value: Any) -> bool:
    """A Task.output pointing at a reply or report (read on its own when it is based on the request)."""
    ref = value.get("reference") if isinstance(value, dict) else None
    return isinstance(ref, str) and ref.split("/", 1)[0] in ("Communication", "DiagnosticReport")


def _attachment_text(attachment: dict[str, Any], what: str) -> str:
    """The text of a text/plain attachment (inline ``data``); anything else cannot be shown here."""
    kind = str(attachment.get("contentType") or "").split(";", 1)[0].strip().lower()
    data = attachment.get("data")
    if kind != "text/plain" or not isinstance(data, str):
        raise PlatformProtocolError(f"a {what} attachment is not inline text/plain ({kind[:40] or 'no type'})")
    try:
        body = base64.b64decode(data, validate=True).decode("utf-8").strip()
    except (binascii.Error, UnicodeDecodeError):
        raise PlatformProtocolError(f"a {what} attachment is not base64 UTF-8 text") from None
    if not body:
        raise PlatformProtocolError(f"a {what} attachment is empty")
    return body


def is_consultation_request(resource: Resource) -> bool:
    """A ServiceRequest for a consultation (SNOMED CT 11429006): ours, or another PC's of this clinic."""
    code = resource.get("code")
    codings = code.get("coding") if isinstance(code, dict) else None
    return isinstance(codings, list) and any(
        isinstance(c, dict) and c.get("system") == SNOMED and c.get("code") == CONSULTATION_CODE for c in codings
    )


def is_consultation_report(resource: Resource) -> bool:
    """A DiagnosticReport based on a ServiceRequest, with something in it: a specialist's written opinion."""
    return is_consultation_message(resource) and resource.get("status") not in ("registered", "cancelled")


def report_from_fhir(resource: Resource, *, resident_id: str) -> ConsultationMessage:
    """A specialist's report on a consultation, shown as a reply: its conclusion and text/plain forms.

    A form that is not text (a PDF) is not shown; with a conclusion beside it the report is read,
    without one it is set aside with the reason, as a reply that cannot be read.
    """
    resource = expect_type(resource, "DiagnosticReport")
    requests = [
        str(b.get("reference"))
        for b in dicts(resource, "basedOn", "DiagnosticReport")
        if str(b.get("reference", "")).startswith("ServiceRequest/")
    ]
    if not requests:
        raise PlatformProtocolError("DiagnosticReport is not about a ServiceRequest")
    parts = [text(resource, "conclusion", "DiagnosticReport") or ""]
    codes_ = dicts(resource, "conclusionCode", "DiagnosticReport")
    parts += [text(c, "text", "DiagnosticReport.conclusionCode") or "" for c in codes_]
    unreadable = None
    for form in dicts(resource, "presentedForm", "DiagnosticReport"):
        try:
            parts.append(_attachment_text(form, "DiagnosticReport.presentedForm"))
        except PlatformProtocolError as exc:
            unreadable = exc
    body = "\n\n".join(p.strip() for p in parts if p.strip())
    if not body:
        raise unreadable or PlatformProtocolError("DiagnosticReport has no conclusion and no text")
    who = [
        *dicts(resource, "resultsInterpreter", "DiagnosticReport"),
        *dicts(resource, "performer", "DiagnosticReport"),
    ]
    sender = next(
        (
            text(w, "display", "DiagnosticReport.performer") or text(w, "reference", "DiagnosticReport.performer")
            for w in who
        ),
        None,
    )
    when = (
        text(resource, "issued", "DiagnosticReport")
        or text(resource, "effectiveDateTime", "DiagnosticReport")
        or (obj(resource, "meta", "DiagnosticReport") or {}).get("lastUpdated")
    )
    return ConsultationMessage(
        id=local_id(resource),
        resident_id=resident_id,
        request=requests[0].split("/_history/", 1)[0],
        text=body,
        sent_at=parse_instant(when, "DiagnosticReport.issued"),
        sender=sender or "",
        deleted=text(resource, "status", "DiagnosticReport") == "entered-in-error",
    )


def message_to_fhir(record: ConsultationMessage, *, subject: Reference, ns: Namespace = DEFAULT_NAMESPACE) -> Resource:
    """The Communication of the clinic's outcome of a consultation."""
    if record.outcome is None:
        raise MappingError("only the clinic's outcome of a consultation goes up; replies come down")
    return prune(
        {
            "resourceType": "Communication",
            "identifier": [uuid_identifier(record.id)],
            "status": "entered-in-error" if record.deleted else "completed",
            "category": [concept(coding(ns.code_system("consultation-message"), "outcome", "Outcome"))],
            "basedOn": [{"reference": record.request}],
            "subject": subject,
            "sent": instant(record.sent_at),
            "sender": {"display": record.sender} if record.sender else None,
            "reasonCode": [concept(coding(ns.code_system("consultation-outcome"), record.outcome.value))],
            "payload": [{"contentString": record.text}] if record.text else None,
        }
    )


def message_from_fhir(
    resource: Resource, *, resident_id: str, ns: Namespace = DEFAULT_NAMESPACE
) -> ConsultationMessage:
    """A Communication about a consultation: the specialist's reply, or our own outcome read back."""
    resource = expect_type(resource, "Communication")
    requests = [
        str(b.get("reference"))
        for b in dicts(resource, "basedOn", "Communication")
        if str(b.get("reference", "")).startswith("ServiceRequest/")
    ]
    if not requests:
        raise PlatformProtocolError("Communication is not about a ServiceRequest")
    outcome = None
    for reason in dicts(resource, "reasonCode", "Communication"):
        code = code_in(reason, ns.code_system("consultation-outcome"), "Communication.reasonCode")
        if code is not None:
            try:
                outcome = ConsultationOutcome(code)
            except ValueError:
                raise PlatformProtocolError(f"consultation outcome {code[:40]!r} is not one of ours") from None
    parts = []
    for payload in dicts(resource, "payload", "Communication"):
        content = payload.get("contentString")
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(payload.get("contentAttachment"), dict):
            parts.append(_attachment_text(payload["contentAttachment"], "Communication.payload"))
        else:
            raise PlatformProtocolError(
                "a Communication.payload is not text (contentString, or a text/plain contentAttachment)"
            )
    body = "\n\n".join(p for p in parts if p.strip())
    if not body and outcome is None:
        raise PlatformProtocolError("Communication has no text")
    sender = obj(resource, "sender", "Communication") or {}
    when = text(resource, "sent", "Communication") or (obj(resource, "meta", "Communication") or {}).get("lastUpdated")
    return ConsultationMessage(
        id=local_id(resource),
        resident_id=resident_id,
        request=requests[0].split("/_history/", 1)[0],
        text=body,
        sent_at=parse_instant(when, "Communication.sent"),
        sender=text(sender, "display", "Communication.sender")
        or text(sender, "reference", "Communication.sender")
        or "",
        outcome=outcome,
        deleted=text(resource, "status", "Communication") == "entered-in-error",
    )
