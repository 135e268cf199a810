"""Condition <-> Condition.

``code`` carries the ICD-10 code when known and the CV02.10.005 form code (2 高血压, 3 糖尿病, ...),
with the disease name as written in ``text``. The date it was confirmed (确诊时间) is
``onsetDateTime``. Category ``problem-list-item``, verification ``confirmed``. Local-only:
``version``, ``updated_at``, ``deleted`` (a tombstone is sent as a DELETE).
"""

from __future__ import annotations

from clinic_agent.core.model import ClinicalStatus, Condition
from sync.errors import PlatformProtocolError
from sync.fhir import codes
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

FORM_CODES = {
    "1": "无",
    "2": "高血压",
    "3": "糖尿病",
    "4": "冠心病",
    "5": "慢阻肺",
    "6": "恶性肿瘤",
    "7": "脑卒中",
    "8": "严重精神障碍",
    "9": "结核病",
    "10": "肝炎",
    "11": "其他法定传染病",
    "12": "职业病",
    "13": "其他",
}


def to_fhir(condition: Condition, *, subject: Reference, ns: Namespace = DEFAULT_NAMESPACE) -> Resource:
    """Map a condition to a Condition of ``subject``."""
    codings = []
    if condition.icd10:
        codings.append(coding(codes.ICD10, condition.icd10))
    if condition.code:
        codings.append(coding(ns.cv02_10_005, condition.code, FORM_CODES.get(condition.code)))
    return prune(
        {
            "resourceType": "Condition",
            "identifier": [uuid_identifier(condition.id)],
            "clinicalStatus": concept(coding(codes.CONDITION_CLINICAL, condition.status.value)),
            "verificationStatus": concept(coding(codes.CONDITION_VERIFICATION, "confirmed")),
            "category": [concept(coding(codes.CONDITION_CATEGORY, "problem-list-item", "Problem List Item"))],
            "code": concept(*codings, text=condition.name),
            "subject": subject,
            "onsetDateTime": condition.diagnosed_on.isoformat() if condition.diagnosed_on else None,
            "note": note(condition.note),
        }
    )


def from_fhir(resource: Resource, *, resident_id: str, ns: Namespace = DEFAULT_NAMESPACE) -> Condition:
    """Map a Condition to a condition of the given resident."""
    found = expect_type(resource, "Condition")
    code = obj(found, "code", "Condition") or {}
    onset = found.get("onsetDateTime")
    status = code_in(found.get("clinicalStatus"), codes.CONDITION_CLINICAL, "Condition.clinicalStatus")
    try:
        clinical = ClinicalStatus(status or "active")
    except ValueError:
        # recurrence, relapse and remission are active or inactive variants in FHIR's own hierarchy
        clinical = {"recurrence": ClinicalStatus.ACTIVE, "relapse": ClinicalStatus.ACTIVE}.get(
            status or "", ClinicalStatus.INACTIVE
        )
    form = code_in(code, ns.cv02_10_005, "Condition.code")
    if not code.get("text") and form is None:
        raise PlatformProtocolError("Condition.code has no text and no CV02.10.005 code; no disease name")
    return Condition(
        id=local_id(found),
        resident_id=resident_id,
        name=required_text(code, "text", "Condition.code") if code.get("text") else FORM_CODES.get(form or "", ""),
        code=form,
        icd10=code_in(code, codes.ICD10, "Condition.code"),
        diagnosed_on=parse_date(onset, "Condition.onsetDateTime") if onset else None,
        status=clinical,
        note=first_note(found),
    )
