"""The clinic <-> Organization.

The domain model has no clinic record yet (the clinic's code and name come from ``agent.toml`` at
enrolment), so this module defines the small value it maps: ``Clinic``. The Organization is
identified by the clinic code the platform assigned (``Namespace.clinic_code_system``); the GB/T 2260
code of the county it serves, when known, is an ``address.district`` code.
"""

from __future__ import annotations

from dataclasses import dataclass

from sync.errors import PlatformProtocolError
from sync.fhir.codes import DEFAULT_NAMESPACE, Namespace
from sync.fhir.common import (
    Reference,
    Resource,
    dicts,
    expect_type,
    find_identifier,
    identifier_query,
    prune,
    required_text,
    text,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Clinic:
    """The village clinic this agent runs in."""

    code: str
    name: str
    region_code: str | None = None  # GB/T 2260 county code
    phone: str | None = None


def to_fhir(clinic: Clinic, *, ns: Namespace = DEFAULT_NAMESPACE) -> Resource:
    """Map the clinic to an Organization of type ``prov`` (healthcare provider)."""
    return prune(
        {
            "resourceType": "Organization",
            "identifier": [{"system": ns.clinic_code_system, "value": clinic.code}],
            "active": True,
            "type": [
                {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/organization-type",
                            "code": "prov",
                            "display": "Healthcare Provider",
                        }
                    ]
                }
            ],
            "name": clinic.name,
            "telecom": [{"system": "phone", "value": clinic.phone}] if clinic.phone else None,
            "address": [{"district": clinic.region_code, "country": "CN"}] if clinic.region_code else None,
        }
    )


def from_fhir(resource: Resource, *, ns: Namespace = DEFAULT_NAMESPACE) -> Clinic:
    """Map an Organization with a clinic code back to the clinic."""
    found = expect_type(resource, "Organization")
    code = find_identifier(found, ns.clinic_code_system)
    if code is None:
        raise PlatformProtocolError(f"Organization/{found.get('id')} has no clinic code")
    phones = [p for p in dicts(found, "telecom", "Organization") if p.get("system") == "phone"]
    addresses = dicts(found, "address", "Organization")
    return Clinic(
        code=code,
        name=required_text(found, "name", "Organization"),
        region_code=text(addresses[0], "district", "Organization.address") if addresses else None,
        phone=text(phones[0], "value", "Organization.telecom") if phones else None,
    )


def identifier_search(clinic_code: str, *, ns: Namespace = DEFAULT_NAMESPACE) -> str:
    """The search (and ``ifNoneExist``) query that finds the clinic's Organization."""
    return identifier_query(ns.clinic_code_system, clinic_code)


def conditional_reference(clinic_code: str, *, ns: Namespace = DEFAULT_NAMESPACE) -> Reference:
    """A reference to the clinic's Organization by its code; valid inside a transaction Bundle."""
    return {"reference": f"Organization?{identifier_search(clinic_code, ns=ns)}"}
