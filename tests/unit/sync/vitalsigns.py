"""The FHIR R4 (4.0.1) vital-signs profiles' rules, as a checker for tests (no validator package works offline).

``problems(resource)`` lists what an Observation breaks of http://hl7.org/fhir/StructureDefinition/vitalsigns
and of the specific profile it claims in ``meta.profile``: status, the vital-signs category slice,
a LOINC code (the specific profile's fixed code), subject Reference(Patient), effective[x] at least
to the day (vs-1), a value or a data-absent reason when there are no components or members (vs-2, vs-3),
UCUM quantities whose code is in the profile's unit value set (required binding), and the
blood-pressure panel's systolic and diastolic component slices (85354-9, in mm[Hg]).
"""

from __future__ import annotations

import re
from typing import Any

BASE = "http://hl7.org/fhir/StructureDefinition/vitalsigns"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
# ValueSet ucum-vitals-common (R4): the units any vital-sign quantity may have.
VITALS_UNITS = frozenset({"%", "cm", "[in_i]", "kg", "g", "[lb_av]", "Cel", "[degF]", "mm[Hg]", "/min", "kg/m2", "m2"})
# Profile -> (fixed LOINC code, units its valueQuantity may have; None = no valueQuantity rule of its own).
SPECIFIC: dict[str, tuple[str, frozenset[str] | None]] = {
    "http://hl7.org/fhir/StructureDefinition/bp": ("85354-9", None),
    "http://hl7.org/fhir/StructureDefinition/heartrate": ("8867-4", frozenset({"/min"})),
    "http://hl7.org/fhir/StructureDefinition/resprate": ("9279-1", frozenset({"/min"})),
    "http://hl7.org/fhir/StructureDefinition/oxygensat": ("2708-6", frozenset({"%"})),
    "http://hl7.org/fhir/StructureDefinition/bodytemp": ("8310-5", frozenset({"Cel", "[degF]"})),
    "http://hl7.org/fhir/StructureDefinition/bodyheight": ("8302-2", frozenset({"cm", "[in_i]"})),
    "http://hl7.org/fhir/StructureDefinition/headcircum": ("9843-4", frozenset({"cm", "[in_i]"})),
    "http://hl7.org/fhir/StructureDefinition/bodyweight": ("29463-7", frozenset({"kg", "[lb_av]", "g"})),
    "http://hl7.org/fhir/StructureDefinition/bmi": ("39156-5", frozenset({"kg/m2"})),
}
BP_COMPONENTS = {"8480-6": "SystolicBP", "8462-4": "DiastolicBP"}
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def problems(resource: dict[str, Any]) -> list[str]:
    """What the Observation breaks of the vital-signs profiles it claims (empty: it conforms)."""
    found: list[str] = []
    profiles = (resource.get("meta") or {}).get("profile") or []
    if not profiles:
        return ["no meta.profile"]
    if resource.get("resourceType") != "Observation":
        return ["not an Observation"]
    if resource.get("status") not in (
        "registered",
        "preliminary",
        "final",
        "amended",
        "corrected",
        "cancelled",
        "entered-in-error",
        "unknown",
    ):
        found.append(f"status {resource.get('status')!r}")
    vs_cat = [
        c
        for cat in resource.get("category") or []
        for c in cat.get("coding") or []
        if c.get("system") == CATEGORY and c.get("code") == "vital-signs"
    ]
    if len(vs_cat) != 1:
        found.append("category VSCat: exactly one coding observation-category#vital-signs")
    codings = (resource.get("code") or {}).get("coding") or []
    if not any(c.get("system") == LOINC and c.get("code") for c in codings):
        found.append("code: no LOINC coding")
    subject = (resource.get("subject") or {}).get("reference", "")
    if not subject.startswith(("Patient/", "urn:uuid:")):
        found.append(f"subject {subject!r} is not a Reference(Patient)")
    effective = resource.get("effectiveDateTime")
    period = resource.get("effectivePeriod")
    if effective is None and period is None:
        found.append("effective[x] missing")
    if effective is not None and not _DAY.match(str(effective)):
        found.append("vs-1: effectiveDateTime not precise to the day")
    components = resource.get("component") or []
    bare = not components and not resource.get("hasMember")
    if bare and "valueQuantity" not in resource and "dataAbsentReason" not in resource:
        found.append("vs-2: no value, component, member or data-absent reason")
    if "valueQuantity" in resource:
        found += _quantity(resource["valueQuantity"], VITALS_UNITS, "valueQuantity")
    for index, component in enumerate(components):
        where = f"component[{index}]"
        if not ((component.get("code") or {}).get("coding")):
            found.append(f"{where}.code missing")
        if "valueQuantity" not in component and "dataAbsentReason" not in component:
            found.append(f"vs-3: {where} has neither a value nor a data-absent reason")
        if "valueQuantity" in component:
            found += _quantity(component["valueQuantity"], VITALS_UNITS, f"{where}.valueQuantity")
    for profile in profiles:
        if profile == BASE:
            continue
        if profile not in SPECIFIC:
            found.append(f"unknown profile {profile}")
            continue
        code, units = SPECIFIC[profile]
        if not any(c.get("system") == LOINC and c.get("code") == code for c in codings):
            found.append(f"{profile}: code must have LOINC {code}")
        if units is not None:
            if "valueQuantity" not in resource and "dataAbsentReason" not in resource:
                found.append(f"{profile}: no valueQuantity")
            elif "valueQuantity" in resource:
                found += _quantity(resource["valueQuantity"], units, f"{profile} valueQuantity")
        if code == "85354-9":
            found += _bp_components(components)
    return found


def _bp_components(components: list[dict[str, Any]]) -> list[str]:
    found = []
    for code, name in BP_COMPONENTS.items():
        slice_ = [
            c
            for c in components
            if any(
                x.get("system") == LOINC and x.get("code") == code for x in (c.get("code") or {}).get("coding") or []
            )
        ]
        if len(slice_) != 1:
            found.append(f"bp: component:{name} must occur once, not {len(slice_)} times")
            continue
        if "valueQuantity" in slice_[0]:
            found += _quantity(slice_[0]["valueQuantity"], frozenset({"mm[Hg]"}), f"bp component:{name}")
        elif "dataAbsentReason" not in slice_[0]:
            found.append(f"bp component:{name}: no value and no data-absent reason")
    return found


def _quantity(quantity: dict[str, Any], units: frozenset[str], where: str) -> list[str]:
    found = []
    if quantity.get("value") is None:
        found.append(f"{where}.value missing")
    if quantity.get("system") != UCUM:
        found.append(f"{where}.system must be {UCUM}")
    if not quantity.get("unit"):
        found.append(f"{where}.unit missing")
    if quantity.get("code") not in units:
        found.append(f"{where}.code {quantity.get('code')!r} not in {sorted(units)}")
    return found
