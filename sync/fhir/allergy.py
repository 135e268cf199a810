"""Allergy <-> AllergyIntolerance.

The 药物过敏史 form code (2 青霉素, 3 磺胺, 4 链霉素, 5 其他) is a coding of ``code``, the substance as
written its ``text``; the reaction is the text of one manifestation. Verification is ``confirmed``
(the doctor recorded it). Local-only: ``version``, ``updated_at``, ``deleted`` (a tombstone is sent
as a DELETE).
"""

from __future__ import annotations

from typing import Any

from clinic_agent.core.model import Allergy, ClinicalStatus
from sync.errors import MappingError, PlatformProtocolError
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
    parse_date,
    prune,
    required_text,
    text,
    uuid_identifier,
)

CATEGORIES = frozenset({"food", "medication", "environment", "biologic"})
CRITICALITIES = frozenset({"low", "high", "unable-to-assess"})
_FORM_CODES = {"2": "青霉素", "3": "磺胺", "4": "链霉素", "5": "其他"}


def to_fhir(allergy: Allergy, *, patient: Reference, ns: Namespace = DEFAULT_NAMESPACE) -> Resource:
    """Map an allergy to an AllergyIntolerance of ``patient`` (the form's code list under ``ns``)."""
    if allergy.category not in CATEGORIES:
        raise MappingError(f"allergy category {allergy.category!r} is not one of {sorted(CATEGORIES)}")
    if allergy.criticality is not None and allergy.criticality not in CRITICALITIES:
        raise MappingError(f"allergy criticality {allergy.criticality!r} is not one of {sorted(CRITICALITIES)}")
    form = coding(ns.drug_allergy, allergy.code, _FORM_CODES.get(allergy.code)) if allergy.code else None
    return prune(
        {
            "resourceType": "AllergyIntolerance",
            "identifier": [uuid_identifier(allergy.id)],
            "clinicalStatus": concept(coding(codes.ALLERGY_CLINICAL, allergy.status.value)),
            "verificationStatus": concept(coding(codes.ALLERGY_VERIFICATION, "confirmed")),
            "category": [allergy.category],
            "criticality": allergy.criticality,
            "code": concept(*([form] if form else []), text=allergy.substance),
            "patient": patient,
            "recordedDate": allergy.recorded_on.isoformat() if allergy.recorded_on else None,
            "note": note(allergy.note),
            "reaction": [{"manifestation": [{"text": allergy.reaction}]}] if allergy.reaction else None,
        }
    )


def from_fhir(resource: Resource, *, resident_id: str, ns: Namespace = DEFAULT_NAMESPACE) -> Allergy:
    """Map an AllergyIntolerance to an allergy of the given resident."""
    found = expect_type(resource, "AllergyIntolerance")
    code = obj(found, "code", "AllergyIntolerance") or {}
    categories = found.get("category") or ["medication"]
    if not isinstance(categories, list) or not isinstance(categories[0], str) or categories[0] not in CATEGORIES:
        raise PlatformProtocolError(f"AllergyIntolerance.category {categories!r:.40} is not a FHIR category")
    recorded = found.get("recordedDate")
    return Allergy(
        id=local_id(found),
        resident_id=resident_id,
        substance=_substance(code),
        category=categories[0],
        code=code_in(code, ns.drug_allergy, "AllergyIntolerance.code"),
        reaction=_reaction(found),
        criticality=text(found, "criticality", "AllergyIntolerance"),
        status=_status(found),
        recorded_on=parse_date(recorded, "AllergyIntolerance.recordedDate") if recorded else None,
        note=first_note(found),
    )


def _substance(code: dict[str, Any]) -> str:
    if code.get("text"):
        return required_text(code, "text", "AllergyIntolerance.code")
    for item in dicts(code, "coding", "AllergyIntolerance.code"):
        if item.get("display"):
            return required_text(item, "display", "AllergyIntolerance.code.coding")
    raise PlatformProtocolError("AllergyIntolerance.code names no substance")


def _reaction(found: Resource) -> str:
    for reaction in dicts(found, "reaction", "AllergyIntolerance"):
        for manifestation in dicts(reaction, "manifestation", "AllergyIntolerance.reaction"):
            if manifestation.get("text"):
                return required_text(manifestation, "text", "AllergyIntolerance.reaction.manifestation")
    return ""


def _status(found: Resource) -> ClinicalStatus:
    value = code_in(found.get("clinicalStatus"), codes.ALLERGY_CLINICAL, "AllergyIntolerance.clinicalStatus")
    try:
        return ClinicalStatus(value or "active")
    except ValueError:
        raise PlatformProtocolError(f"allergy clinical status {value!r:.30} is unknown") from None
