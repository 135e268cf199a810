"""FamilyHistory <-> FamilyMemberHistory.

``relationship`` is v3 RoleCode FTH, MTH, SIB or CHILD; the disease is one ``condition`` whose code
carries the 家族史 form code and the name as written. Status ``completed``. Local-only:
``version``, ``updated_at``, ``deleted`` (a tombstone is sent as a DELETE).
"""

from __future__ import annotations

from clinic_agent.core.model import FamilyHistory, Relation
from sync.errors import PlatformProtocolError
from sync.fhir import codes
from sync.fhir.codes import DEFAULT_NAMESPACE, Namespace
from sync.fhir.common import (
    Reference,
    Resource,
    code_in,
    coding,
    concept,
    dicts,
    expect_type,
    first_note,
    local_id,
    note,
    obj,
    prune,
    required_text,
    uuid_identifier,
)

_RELATION_FROM_CODE = {code: Relation(name) for name, (code, _) in codes.RELATION_CODES.items()}


def to_fhir(history: FamilyHistory, *, patient: Reference, ns: Namespace = DEFAULT_NAMESPACE) -> Resource:
    """Map a family-history entry to a FamilyMemberHistory of ``patient``."""
    role, display = codes.RELATION_CODES[history.relation.value]
    disease = coding(ns.family_disease, history.code) if history.code else None
    return prune(
        {
            "resourceType": "FamilyMemberHistory",
            "identifier": [uuid_identifier(history.id)],
            "status": "completed",
            "patient": patient,
            "relationship": concept(coding(codes.V3_ROLE_CODE, role, display)),
            "condition": [{"code": concept(*([disease] if disease else []), text=history.condition)}],
            "note": note(history.note),
        }
    )


def from_fhir(resource: Resource, *, resident_id: str, ns: Namespace = DEFAULT_NAMESPACE) -> FamilyHistory:
    """Map a FamilyMemberHistory to a family-history entry of the given resident."""
    found = expect_type(resource, "FamilyMemberHistory")
    role = code_in(found.get("relationship"), codes.V3_ROLE_CODE, "FamilyMemberHistory.relationship")
    if role not in _RELATION_FROM_CODE:
        raise PlatformProtocolError(f"family relation {role!r:.20} is not FTH, MTH, SIB or CHILD")
    conditions = dicts(found, "condition", "FamilyMemberHistory")
    if not conditions:
        raise PlatformProtocolError("FamilyMemberHistory has no condition")
    code = obj(conditions[0], "code", "FamilyMemberHistory.condition") or {}
    return FamilyHistory(
        id=local_id(found),
        resident_id=resident_id,
        relation=_RELATION_FROM_CODE[role],
        condition=required_text(code, "text", "FamilyMemberHistory.condition.code"),
        code=code_in(code, ns.family_disease, "FamilyMemberHistory.condition.code"),
        note=first_note(found),
    )
