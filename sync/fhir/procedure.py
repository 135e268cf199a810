"""Procedure <-> Procedure (既往史: surgery, trauma, transfusion).

``category`` is a coding of our past-history-category system; the name or reason as written is
``code.text``; the date is ``performedDateTime``; status ``completed``. Local-only: ``version``,
``updated_at``, ``deleted`` (a tombstone is sent as a DELETE).
"""

from __future__ import annotations

from clinic_agent.core.model import Procedure, ProcedureCategory
from sync.errors import PlatformProtocolError
from sync.fhir.codes import DEFAULT_NAMESPACE, Namespace
from sync.fhir.common import (
    Reference,
    Resource,
    code_in,
    coding,
    concept,
    expect_type,
    first_note,
    local_id,
    note,
    obj,
    parse_date,
    prune,
    required_text,
    uuid_identifier,
)

_DISPLAY = {
    ProcedureCategory.SURGERY: "手术",
    ProcedureCategory.TRAUMA: "外伤",
    ProcedureCategory.TRANSFUSION: "输血",
}


def to_fhir(procedure: Procedure, *, subject: Reference, ns: Namespace = DEFAULT_NAMESPACE) -> Resource:
    """Map a past surgery, trauma or transfusion to a Procedure of ``subject``."""
    category = coding(ns.past_history_category, procedure.category.value, _DISPLAY[procedure.category])
    return prune(
        {
            "resourceType": "Procedure",
            "identifier": [uuid_identifier(procedure.id)],
            "status": "completed",
            "category": concept(category),
            "code": concept(text=procedure.name),
            "subject": subject,
            "performedDateTime": procedure.performed_on.isoformat() if procedure.performed_on else None,
            "note": note(procedure.note),
        }
    )


def from_fhir(resource: Resource, *, resident_id: str, ns: Namespace = DEFAULT_NAMESPACE) -> Procedure:
    """Map a Procedure to a past-history entry of the given resident."""
    found = expect_type(resource, "Procedure")
    value = code_in(found.get("category"), ns.past_history_category, "Procedure.category")
    try:
        category = ProcedureCategory(value or "surgery")
    except ValueError:
        raise PlatformProtocolError(f"Procedure category {value!r:.30} is not surgery, trauma or transfusion") from None
    performed = found.get("performedDateTime")
    return Procedure(
        id=local_id(found),
        resident_id=resident_id,
        category=category,
        name=required_text(obj(found, "code", "Procedure") or {}, "text", "Procedure.code"),
        performed_on=parse_date(performed, "Procedure.performedDateTime") if performed else None,
        note=first_note(found),
    )
