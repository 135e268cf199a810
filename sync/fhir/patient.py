"""Resident <-> Patient.

Identifiers: the agent's own ``urn:uuid`` (stable across retries, used for conditional creates), the
ID card number (``urn:oid:2.16.156.10011.1.3``, type v2-0203 NI) and the health-record number
(``urn:oid:2.16.156.10011.1.2``). ``gender`` is the FHIR reading of the GB/T 2261.1 code, which is
kept as recorded in an extension. A tombstoned resident is sent as ``active: false``.
Local-only: ``version`` and ``updated_at`` (the engine keeps them as sync state).
"""

from __future__ import annotations

import re
from typing import Any

from clinic_agent.core.model import KeyPopulation, Resident, Sex
from sync.errors import PlatformProtocolError
from sync.fhir import codes
from sync.fhir.codes import DEFAULT_NAMESPACE, Namespace
from sync.fhir.common import (
    Reference,
    Resource,
    coding,
    concept,
    dicts,
    expect_type,
    extension,
    extensions,
    find_identifier,
    local_id,
    obj,
    parse_date,
    prune,
    required_text,
    text,
    uuid_identifier,
)

_GENDER = {Sex.UNKNOWN: "unknown", Sex.MALE: "male", Sex.FEMALE: "female", Sex.UNSPECIFIED: "unknown"}
_SEX_FROM_GENDER = {"male": Sex.MALE, "female": Sex.FEMALE, "other": Sex.UNSPECIFIED, "unknown": Sex.UNKNOWN}
_SEX_DISPLAY = {Sex.UNKNOWN: "未知的性别", Sex.MALE: "男", Sex.FEMALE: "女", Sex.UNSPECIFIED: "未说明的性别"}
# Two-character surnames common enough to split correctly; any other name splits after one character.
_COMPOUND_SURNAMES = frozenset(
    (
        "欧阳",
        "司马",
        "上官",
        "诸葛",
        "东方",
        "皇甫",
        "尉迟",
        "公孙",
        "慕容",
        "令狐",
        "长孙",
        "宇文",
        "司徒",
        "夏侯",
        "轩辕",
        "端木",
        "独孤",
        "南宫",
        "西门",
        "百里",
        "呼延",
        "申屠",
        "万俟",
        "闻人",
        "澹台",
        "太史",
        "仲孙",
        "钟离",
        "宗政",
        "濮阳",
        "公冶",
        "赫连",
        "第五",
        "拓跋",
    )
)
_HAN_NAME = re.compile(r"[\u3400-\u9fff]{2,4}")
_ETHNICITY_CODE = re.compile(r"[0-9]{2}")


def to_fhir(
    resident: Resident, *, managing_organization: Reference | None = None, ns: Namespace = DEFAULT_NAMESPACE
) -> Resource:
    """Map a resident to a Patient (no ``id``: the caller chooses POST or PUT); our URLs under ``ns``."""
    return prune(
        {
            "resourceType": "Patient",
            "extension": _extensions(resident, ns),
            "identifier": _identifiers(resident, ns),
            "active": not resident.deleted,
            "name": [_name(resident.name)],
            "telecom": [{"system": "phone", "value": resident.phone}] if resident.phone else None,
            "gender": _GENDER[resident.sex],
            "birthDate": resident.birth_date.isoformat(),
            "address": _address(resident, ns),
            "managingOrganization": managing_organization,
        }
    )


# What a Patient written here says about the person; everything else the platform holds on it
# (other identifiers such as a hospital's record number, other names and addresses, contacts,
# extensions of other systems, its managing organization) is kept as it is when we update it.
_OURS_IDENTIFIERS = frozenset({codes.ID_CARD_SYSTEM, codes.HEALTH_RECORD_SYSTEM})


def overlay(current: Resource, ours: Resource, *, ns: Namespace = DEFAULT_NAMESPACE) -> Resource:
    """Our Patient laid over the platform's current one: what we model replaced, the rest kept."""
    ours_extensions = {ns.ext_sex, ns.ext_ethnicity, ns.ext_key_population}
    merged: Resource = {k: v for k, v in current.items() if k not in ("meta", "text")}
    own_uuid = next((i for i in dicts(ours, "identifier", "Patient") if i.get("system") == codes.UUID_SYSTEM), None)
    merged["identifier"] = [
        *(dict(i) for i in dicts(ours, "identifier", "Patient")),
        *(
            i
            for i in dicts(current, "identifier", "Patient")
            if i.get("system") not in _OURS_IDENTIFIERS and i != own_uuid
        ),
    ]
    merged["extension"] = [
        *dicts(ours, "extension", "Patient"),
        *(e for e in dicts(current, "extension", "Patient") if e.get("url") not in ours_extensions),
    ]
    merged["name"] = [
        *dicts(ours, "name", "Patient"),
        *(n for n in dicts(current, "name", "Patient") if n.get("use") != "official"),
    ]
    merged["telecom"] = [
        *dicts(ours, "telecom", "Patient"),
        *(t for t in dicts(current, "telecom", "Patient") if t.get("system") != "phone"),
    ]
    merged["address"] = [
        *dicts(ours, "address", "Patient"),
        *(a for a in dicts(current, "address", "Patient") if a.get("use") != "home"),
    ]
    for key in ("active", "gender", "birthDate"):
        merged[key] = ours[key]
    if "managingOrganization" not in merged and "managingOrganization" in ours:
        merged["managingOrganization"] = ours["managingOrganization"]
    return prune(merged)


def _identifiers(resident: Resident, ns: Namespace) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = [
        uuid_identifier(resident.id),
        prune(
            {
                "extension": [{"url": ns.ext_id_number_override, "valueString": resident.id_number_override}]
                if resident.id_number_override
                else None,
                "use": "official",
                "type": concept(coding(codes.V2_0203, "NI", "National unique individual identifier")),
                "system": codes.ID_CARD_SYSTEM,
                "value": resident.id_number,
            }
        ),
    ]
    if resident.health_record_number:
        found.append({"system": codes.HEALTH_RECORD_SYSTEM, "value": resident.health_record_number})
    return found


def _extensions(resident: Resident, ns: Namespace) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = [
        {
            "url": ns.ext_sex,
            "valueCoding": coding(codes.GBT2261_SEX, resident.sex.value, _SEX_DISPLAY[resident.sex]),
        }
    ]
    if resident.ethnicity:
        if _ETHNICITY_CODE.fullmatch(resident.ethnicity):
            found.append(
                {
                    "url": ns.ext_ethnicity,
                    "valueCoding": coding(codes.GBT3304_ETHNICITY, resident.ethnicity),
                }
            )
        else:
            found.append({"url": ns.ext_ethnicity, "valueString": resident.ethnicity})
    found.extend(
        {"url": ns.ext_key_population, "valueCoding": coding(ns.key_population_system, flag.value)}
        for flag in resident.key_populations
    )
    return found


def split_name(name: str) -> tuple[str | None, list[str]]:
    """Split a Han name into (family, given); other names (with ·, spaces, Latin) are not split."""
    if not _HAN_NAME.fullmatch(name):
        return None, []
    surname_length = 2 if len(name) >= 3 and name[:2] in _COMPOUND_SURNAMES else 1
    return name[:surname_length], [name[surname_length:]]


def _name(name: str) -> dict[str, Any]:
    family, given = split_name(name)
    return prune({"use": "official", "text": name, "family": family, "given": given})


def _address(resident: Resident, ns: Namespace) -> list[dict[str, Any]] | None:
    if not resident.village and not resident.address:
        return None
    village: list[dict[str, Any]] | None = (
        [{"url": ns.ext_village, "valueString": resident.village}] if resident.village else None
    )
    return [prune({"extension": village, "use": "home", "text": resident.address, "country": "CN"})]


def from_fhir(resource: Resource, *, ns: Namespace = DEFAULT_NAMESPACE) -> Resident:
    """Map a Patient to a resident (``version`` 0, ``updated_at`` None: sync state is the caller's).

    Our extensions are read under ``ns``; others' (or another namespace's) are left alone.
    """
    patient = expect_type(resource, "Patient")
    id_number = find_identifier(patient, codes.ID_CARD_SYSTEM)
    if id_number is None:
        raise PlatformProtocolError(
            f"Patient/{patient.get('id')} has no ID card number ({codes.ID_CARD_SYSTEM}); "
            "it cannot be matched to a resident"
        )
    birth = patient.get("birthDate")
    if birth is None:
        raise PlatformProtocolError(f"Patient/{patient.get('id')} has no birth date")
    address = _home_address(patient)
    return Resident(
        id=local_id(patient),
        id_number=id_number,
        name=_read_name(patient),
        sex=_read_sex(patient, ns),
        birth_date=parse_date(birth, "Patient.birthDate"),
        health_record_number=find_identifier(patient, codes.HEALTH_RECORD_SYSTEM),
        phone=_phone(patient),
        village=_village(address, ns),
        address=text(address, "text", "Patient.address") if address else None,
        ethnicity=_read_ethnicity(patient, ns),
        key_populations=_read_key_populations(patient, ns),
        id_number_override=_read_id_number_override(patient, ns),
        deleted=patient.get("active") is False,
    )


def _read_name(patient: Resource) -> str:
    names = dicts(patient, "name", "Patient")
    if not names:
        raise PlatformProtocolError(f"Patient/{patient.get('id')} has no name")
    chosen = next((n for n in names if n.get("use") == "official"), names[0])
    if chosen.get("text"):
        return required_text(chosen, "text", "Patient.name")
    given = chosen.get("given") or []
    if not isinstance(given, list) or not all(isinstance(g, str) for g in given):
        raise PlatformProtocolError("Patient.name.given is not an array of strings")
    return (text(chosen, "family", "Patient.name") or "") + "".join(given)


def _read_sex(patient: Resource, ns: Namespace) -> Sex:
    ext = extension(patient, ns.ext_sex, "Patient")
    value = obj(ext, "valueCoding", "Patient.extension") if ext else None
    if value is not None:
        try:
            return Sex(required_text(value, "code", "Patient.extension.valueCoding"))
        except ValueError:
            raise PlatformProtocolError(f"Patient GB/T 2261.1 sex code {value.get('code')!r} is unknown") from None
    gender = patient.get("gender", "unknown")
    if not isinstance(gender, str) or gender not in _SEX_FROM_GENDER:
        raise PlatformProtocolError(f"Patient.gender {gender!r} is not a FHIR gender")
    return _SEX_FROM_GENDER[gender]


def _phone(patient: Resource) -> str | None:
    for point in dicts(patient, "telecom", "Patient"):
        if point.get("system") == "phone":
            return text(point, "value", "Patient.telecom")
    return None


def _home_address(patient: Resource) -> dict[str, Any] | None:
    addresses = dicts(patient, "address", "Patient")
    return next((a for a in addresses if a.get("use") == "home"), addresses[0] if addresses else None)


def _village(address: dict[str, Any] | None, ns: Namespace) -> str | None:
    ext = extension(address, ns.ext_village, "Patient.address") if address else None
    return text(ext, "valueString", "Patient.address.extension") if ext else None


def _read_ethnicity(patient: Resource, ns: Namespace) -> str | None:
    ext = extension(patient, ns.ext_ethnicity, "Patient")
    if ext is None:
        return None
    value = obj(ext, "valueCoding", "Patient.extension")
    if value is not None:
        return required_text(value, "code", "Patient.extension.valueCoding")
    return required_text(ext, "valueString", "Patient.extension")


def _read_id_number_override(patient: Resource, ns: Namespace) -> str | None:
    for identifier in dicts(patient, "identifier", "Patient"):
        if identifier.get("system") == codes.ID_CARD_SYSTEM:
            found = extension(identifier, ns.ext_id_number_override, "Patient.identifier")
            return text(found, "valueString", "Patient.identifier.extension") if found else None
    return None


def _read_key_populations(patient: Resource, ns: Namespace) -> tuple[KeyPopulation, ...]:
    flags = []
    for ext in extensions(patient, ns.ext_key_population, "Patient"):
        value = obj(ext, "valueCoding", "Patient.extension") or {}
        try:
            flags.append(KeyPopulation(required_text(value, "code", "Patient.extension.valueCoding")))
        except ValueError:
            raise PlatformProtocolError(f"key-population code {value.get('code')!r} is unknown") from None
    return tuple(flags)
