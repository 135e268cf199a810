"""Reading <-> Observation.

- Category ``vital-signs`` with the FHIR core vital-signs profile for the codes that have one (BP,
  heart rate, SpO2, temperature, height, weight, BMI, ...), ``laboratory`` for everything else
  (capillary glucose, lipids, HbA1c ...). The profile is claimed only when there is a subject,
  which the profiles require.
- A reading with one quantity of its own code is ``valueQuantity``; any other is a panel of
  ``component``s. **Blood pressure** is panel 85354-9 with components 8480-6 systolic,
  8462-4 diastolic and, when the device gives them, 8478-0 mean and 8867-4 pulse. Pulse stays a
  component of the panel, as the cuff measured it (the bp profile's component slicing is open), so
  one reading is one resource with one identifier: created, retried and marked entered-in-error as
  a unit.
- Values are ``Decimal``s written exactly as the device wrote them ("2.00" goes out as 2.00; write
  the resource with ``sync.fhir.wire.dumps``). Because some servers read JSON numbers into binary
  floats (SEKMET answers 2.0), each value also carries the HL7 ``quantity-precision`` extension,
  which ``from_fhir`` uses to restore the trailing zeros.
- ``effectiveDateTime`` is when it was taken (PC clock), ``issued`` when the agent received it; the
  device's own clock text is an extension. ``identifier`` is the reading's urn:uuid.
- An Observation made upstream (no reading-source extension) comes back with source ``platform``.
- A value kept outside the plausible range carries the doctor's reason as an extension. A value
  no measurement can have (1e999, 1e12: ``validation.measured_value``) is not read at all.
- Local-only: ``dedupe_key``, ``frame_id``, ``subject_hint``, ``version``, ``updated_at``, ``deleted``.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterable
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from clinic_agent.core.errors import InvalidInput
from clinic_agent.core.model import DeviceInfo, Quantity, Reading, ReadingStatus
from clinic_agent.core.validation import measured_value
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
    instant,
    local_id,
    obj,
    parse_instant,
    prune,
    record_id_of,
    required_text,
    text,
    uuid_identifier,
)

_CATEGORY_DISPLAY = {"vital-signs": "Vital Signs", "laboratory": "Laboratory"}
# Units each vital sign may be sent in (the profile's UCUM value set, narrowed by its fixed code).
PROFILE_UNITS: dict[str, frozenset[str]] = {
    codes.SYSTOLIC: frozenset({"mm[Hg]"}),
    codes.DIASTOLIC: frozenset({"mm[Hg]"}),
    codes.MEAN_ARTERIAL: frozenset({"mm[Hg]"}),
    codes.HEART_RATE: frozenset({"/min"}),
    "9279-1": frozenset({"/min"}),
    codes.OXYGEN_SATURATION: frozenset({"%"}),
    codes.PULSE_OXIMETRY: frozenset({"%"}),
    "8310-5": frozenset({"Cel", "[degF]"}),
    "29463-7": frozenset({"kg", "[lb_av]", "g"}),
    "8302-2": frozenset({"cm", "[in_i]"}),
    "9843-4": frozenset({"cm", "[in_i]"}),
    "8280-0": frozenset({"cm", "[in_i]"}),
    "39156-5": frozenset({"kg/m2"}),
}
# A unit a device may use that no profile allows: sent converted, the original kept in an extension.
_CONVERT: dict[str, tuple[str, Decimal]] = {"kPa": ("mm[Hg]", Decimal("7.50062")), "m": ("cm", Decimal(100))}
BP_PAIR_WINDOW = timedelta(minutes=1)
_HALVES = (codes.SYSTOLIC, codes.DIASTOLIC)
_COMPANION = uuid.UUID("0b5c1bd8-2f0e-5d43-9a8e-6c1f4d2b7a91")  # names the ids of derived heart-rate Observations


def category_of(code: str) -> str:
    """``vital-signs`` or ``laboratory`` for a LOINC code."""
    return "vital-signs" if code in PROFILE_UNITS or code in codes.VITAL_SIGN_PROFILES else "laboratory"


def to_fhir(
    reading: Reading,
    *,
    subject: Reference | None = None,
    device: Reference | None = None,
    performer: Reference | None = None,
    partner: Reading | None = None,
    ns: Namespace = DEFAULT_NAMESPACE,
) -> Resource:
    """Map a reading to an Observation (no ``id``: the caller chooses POST or PUT).

    ``partner`` is the diastolic half of a systolic ``reading`` taken together with it (``pairs``):
    the two go up as one blood-pressure panel carrying both readings' identifiers.
    """
    identifiers = [uuid_identifier(reading.id)]
    if partner is not None:
        identifiers.append(uuid_identifier(partner.id))
        reading = paired_panel(reading, partner)
    single = _single_value(reading)
    vital = _vital(reading, single)
    profile = _profile(reading.code) if vital and subject is not None else None
    category = "vital-signs" if vital else ("laboratory" if category_of(reading.code) == "laboratory" else None)
    return prune(
        {
            "resourceType": "Observation",
            "meta": {"profile": [profile]} if profile else None,
            "extension": _extensions(reading, ns),
            "identifier": identifiers,
            "status": reading.status.value,
            "category": [concept(coding(codes.OBSERVATION_CATEGORY, category, _CATEGORY_DISPLAY[category]))]
            if category
            else None,
            "code": _code(reading, single, paired=partner is not None),
            "subject": subject,
            "effectiveDateTime": instant(reading.taken_at),
            "issued": instant(reading.received_at),
            "performer": [performer] if performer else None,
            "valueQuantity": _value_quantity(single, ns) if single else None,
            "device": device,
            "component": None
            if single
            else [
                _component(q, ns, reading.display if partner and q.code == codes.SYSTOLIC else None)
                for q in reading.components
            ],
        }
    )


def _profile(code: str) -> str:
    return codes.VITAL_SIGN_PROFILES.get(code, codes.VITAL_SIGNS_BASE)


def _vital(reading: Reading, single: Quantity | None) -> bool:
    """A vital sign the profiles can hold: its code and every value in a unit the profile allows."""
    if reading.code not in codes.VITAL_SIGN_PROFILES and reading.code not in PROFILE_UNITS:
        return False
    if single is not None:
        return _sendable_unit(single)
    if reading.code == codes.BP_PANEL:
        found = {q.code for q in reading.components}
        return set(_HALVES) <= found and all(q.code in PROFILE_UNITS and _sendable_unit(q) for q in reading.components)
    return False


def _sendable_unit(quantity: Quantity) -> bool:
    allowed = PROFILE_UNITS.get(quantity.code)
    if allowed is None or quantity.system != codes.LOINC:
        return False
    return quantity.unit in allowed or (quantity.unit in _CONVERT and _CONVERT[quantity.unit][0] in allowed)


def _single_value(reading: Reading) -> Quantity | None:
    if len(reading.components) != 1:
        return None
    only = reading.components[0]
    return only if only.code == reading.code and only.system == codes.LOINC else None


def _code(reading: Reading, single: Quantity | None, *, paired: bool = False) -> dict[str, Any]:
    display = single.display if single else None
    codings = [coding(codes.LOINC, reading.code, display)]
    if reading.code == codes.PULSE_OXIMETRY:  # the oxygensat profile asks for 2708-6 as well
        codings.append(coding(codes.LOINC, codes.OXYGEN_SATURATION))
    return concept(*codings, text=None if paired else reading.display or None)


def _component(quantity: Quantity, ns: Namespace, text_: str | None = None) -> dict[str, Any]:
    return {
        "code": concept(coding(quantity.system, quantity.code, quantity.display or None), text=text_ or None),
        "valueQuantity": _value_quantity(quantity, ns),
    }


def _value_quantity(quantity: Quantity, ns: Namespace) -> dict[str, Any]:
    allowed = PROFILE_UNITS.get(quantity.code, frozenset())
    conversion = _CONVERT.get(quantity.unit)
    if quantity.system == codes.LOINC and quantity.unit not in allowed and conversion and conversion[0] in allowed:
        unit, factor = conversion
        value = quantity.decimal * factor
        places = _places(quantity.decimal)
        sent = value.quantize(Decimal(1).scaleb(-places)) if factor != 100 else quantity.decimal.scaleb(2)
        original = {"url": ns.ext_original_quantity, "valueQuantity": _quantity_json(quantity.decimal, quantity.unit)}
        return {**_quantity_json(sent, unit), "extension": [original]}
    return _quantity_json(quantity.decimal, quantity.unit)


def _places(value: Decimal) -> int:
    exponent = value.as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def _quantity_json(value: Decimal, unit: str) -> dict[str, Any]:
    return {
        "value": value,
        "_value": {"extension": [{"url": codes.QUANTITY_PRECISION, "valueInteger": _places(value)}]},
        "unit": unit,
        "system": codes.UCUM,
        "code": unit,
    }


def _extensions(reading: Reading, ns: Namespace) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = [{"url": ns.ext_reading_source, "valueCode": reading.source}]
    if reading.device_time:
        found.append({"url": ns.ext_device_time, "valueString": reading.device_time})
    found.extend({"url": ns.ext_reading_flag, "valueString": flag} for flag in reading.flags)
    if reading.extreme_reason:
        found.append({"url": ns.ext_extreme_reason, "valueString": reading.extreme_reason})
    return found


# Blood pressure entered as two readings -------------------------------------------------------


def pairs(readings: Iterable[Reading]) -> dict[str, Reading]:
    """Systolic and diastolic readings taken together, entered separately: systolic id -> its diastolic.

    Taken together means: the same resident, within ``BP_PAIR_WINDOW``, both final, each a single
    value of its own code, and the same source, device, device clock text, flags and reason for an
    extreme value (what the panel carries once for both). Each half pairs at most once, with the
    nearest in time (ties: the earlier id).
    """
    halves = [r for r in readings if _lone_half(r)]
    systolics = sorted((r for r in halves if r.code == codes.SYSTOLIC), key=lambda r: (r.taken_at, r.id))
    diastolics = [r for r in halves if r.code == codes.DIASTOLIC]
    found: dict[str, Reading] = {}
    taken: set[str] = set()
    for systolic in systolics:
        candidates = [d for d in diastolics if d.id not in taken and _together(systolic, d)]
        if candidates:
            best = min(candidates, key=lambda d: (abs(d.taken_at - systolic.taken_at), d.id))
            found[systolic.id] = best
            taken.add(best.id)
    return found


def _lone_half(reading: Reading) -> bool:
    single = _single_value(reading)
    return (
        reading.code in _HALVES
        and single is not None
        and reading.resident_id is not None
        and reading.status is ReadingStatus.FINAL
        and not reading.deleted
    )


def _together(systolic: Reading, diastolic: Reading) -> bool:
    return (
        systolic.resident_id == diastolic.resident_id
        and abs(systolic.taken_at - diastolic.taken_at) <= BP_PAIR_WINDOW
        and systolic.source == diastolic.source
        and (systolic.device.id if systolic.device else None) == (diastolic.device.id if diastolic.device else None)
        and systolic.device_time == diastolic.device_time
        and systolic.flags == diastolic.flags
        and systolic.extreme_reason == diastolic.extreme_reason
    )


def paired_panel(systolic: Reading, diastolic: Reading) -> Reading:
    """The panel two halves make: the systolic reading's own fields, both values."""
    return dataclasses.replace(systolic, code=codes.BP_PANEL, components=(*systolic.components, *diastolic.components))


def _paired_half(reading: Reading, observation: Resource) -> Reading:
    """A panel made of two readings reads back as its first (systolic) reading, as it was entered."""
    if len([i for i in dicts(observation, "identifier", "Observation") if i.get("system") == codes.UUID_SYSTEM]) < 2:
        return reading
    systolic = [q for q in reading.components if q.code == codes.SYSTOLIC]
    if reading.code != codes.BP_PANEL or len(systolic) != 1:
        return reading
    component = next(c for c in dicts(observation, "component", "Observation") if _component_code(c) == codes.SYSTOLIC)
    display = text(obj(component, "code", "Observation.component") or {}, "text", "Observation.component.code")
    return dataclasses.replace(reading, code=codes.SYSTOLIC, components=tuple(systolic), display=display or "")


def _component_code(component: dict[str, Any]) -> str | None:
    concept_ = obj(component, "code", "Observation.component") or {}
    codings = dicts(concept_, "coding", "Observation.component.code")
    return text(codings[0], "code", "Observation.component.code.coding") if codings else None


# Heart rate measured with blood pressure ---------------------------------------------------------


def companion_id(reading_id: str) -> str:
    """The record id of the heart-rate Observation derived from a blood-pressure reading."""
    return str(uuid.uuid5(_COMPANION, f"{reading_id}/{codes.HEART_RATE}"))


def heart_rate(
    reading: Reading, *, subject: Reference | None, panel: Reference | None = None, ns: Namespace = DEFAULT_NAMESPACE
) -> Resource | None:
    """The heart rate a blood-pressure panel holds, as an 8867-4 Observation of its own (else None).

    Its identifier is derived from the reading's (``companion_id``), so a replay finds it; it names
    the panel in ``derivedFrom`` (by the reading's identifier, and by ``panel`` when given).
    """
    if reading.code != codes.BP_PANEL or subject is None:
        return None
    rates = [q for q in reading.components if q.code == codes.HEART_RATE and q.system == codes.LOINC]
    if len(rates) != 1 or not _sendable_unit(rates[0]):
        return None
    rate = rates[0]
    source: dict[str, Any] = {"identifier": uuid_identifier(reading.id)}
    if panel is not None:
        source = {**panel, **source}
    single = dataclasses.replace(reading, code=codes.HEART_RATE, components=(rate,), display="")
    resource = to_fhir(single, subject=subject, ns=ns)
    resource["identifier"] = [uuid_identifier(companion_id(reading.id))]
    resource["derivedFrom"] = [source]
    return resource


def is_companion(resource: Resource) -> bool:
    """True for a heart-rate Observation this agent derived from a blood-pressure reading."""
    own = record_id_of(resource)
    if own is None or not isinstance(resource.get("derivedFrom"), list):
        return False
    for ref in resource["derivedFrom"]:
        identifier = ref.get("identifier") if isinstance(ref, dict) else None
        if isinstance(identifier, dict) and identifier.get("system") == codes.UUID_SYSTEM:
            value = identifier.get("value")
            if isinstance(value, str) and companion_id(value.removeprefix("urn:uuid:")) == own:
                return True
    return False


def from_fhir(
    resource: Resource,
    *,
    resident_id: str | None = None,
    device: DeviceInfo | None = None,
    ns: Namespace = DEFAULT_NAMESPACE,
) -> Reading:
    """Map an Observation to a reading; the caller resolves ``subject`` and ``device`` to local objects.

    A panel made of two separately entered halves reads back as its systolic reading.
    """
    observation = expect_type(resource, "Observation")
    code, display = _read_code(observation)
    value = obj(observation, "valueQuantity", "Observation")
    if value is not None:
        components: tuple[Quantity, ...] = (_quantity(value, code, codes.LOINC, display, "Observation", ns),)
    else:
        components = tuple(_read_component(c, ns) for c in dicts(observation, "component", "Observation"))
    if not components:
        raise PlatformProtocolError(f"Observation/{observation.get('id')} has neither a value nor components")
    source = extension(observation, ns.ext_reading_source, "Observation")
    device_time = extension(observation, ns.ext_device_time, "Observation")
    extreme = extension(observation, ns.ext_extreme_reason, "Observation")
    try:
        status = ReadingStatus(str(observation.get("status")))
    except ValueError:
        raise PlatformProtocolError(
            f"Observation status {observation.get('status')!r} is not final or entered-in-error"
        ) from None
    issued = observation.get("issued")
    effective = parse_instant(observation.get("effectiveDateTime"), "Observation.effectiveDateTime")
    reading = Reading(
        id=local_id(observation),
        resident_id=resident_id,
        code=code,
        components=components,
        taken_at=effective,
        received_at=parse_instant(issued, "Observation.issued") if issued is not None else effective,
        display=text(obj(observation, "code", "Observation") or {}, "text", "Observation.code") or "",
        device_time=text(device_time, "valueString", "Observation.extension") if device_time else None,
        device=device,
        source=(text(source, "valueCode", "Observation.extension") if source else None) or "platform",
        flags=tuple(
            required_text(ext, "valueString", "Observation.extension")
            for ext in extensions(observation, ns.ext_reading_flag, "Observation")
        ),
        extreme_reason=text(extreme, "valueString", "Observation.extension") if extreme else None,
        status=status,
    )
    return _paired_half(reading, observation)


def _read_code(observation: Resource) -> tuple[str, str]:
    concept_ = obj(observation, "code", "Observation") or {}
    for item in dicts(concept_, "coding", "Observation.code"):
        if item.get("system") == codes.LOINC:
            return (
                required_text(item, "code", "Observation.code.coding"),
                text(item, "display", "Observation.code.coding") or "",
            )
    raise PlatformProtocolError(f"Observation/{observation.get('id')} has no LOINC code")


def _read_component(component: dict[str, Any], ns: Namespace) -> Quantity:
    concept_ = obj(component, "code", "Observation.component") or {}
    codings = dicts(concept_, "coding", "Observation.component.code")
    if not codings:
        raise PlatformProtocolError("an Observation component has no coding")
    first = codings[0]
    value = obj(component, "valueQuantity", "Observation.component")
    if value is None:
        raise PlatformProtocolError("an Observation component has no valueQuantity")
    return _quantity(
        value,
        required_text(first, "code", "Observation.component.code.coding"),
        required_text(first, "system", "Observation.component.code.coding"),
        text(first, "display", "Observation.component.code.coding") or "",
        "Observation.component",
        ns,
    )


def _quantity(value: dict[str, Any], code: str, system: str, display: str, what: str, ns: Namespace) -> Quantity:
    original = extension(value, ns.ext_original_quantity, f"{what}.valueQuantity")
    if original is not None:  # sent converted to the profile's unit: the value as measured is here
        kept = obj(original, "valueQuantity", f"{what}.valueQuantity.extension")
        if kept is not None:
            value = kept
    unit = text(value, "code", f"{what}.valueQuantity") or text(value, "unit", f"{what}.valueQuantity")
    if unit is None:
        raise PlatformProtocolError(f"{what}.valueQuantity has no unit")
    number = value.get("value")
    if isinstance(number, bool) or not isinstance(number, int | float | Decimal):
        raise PlatformProtocolError(f"{what}.valueQuantity.value is not a number: {number!r:.40}")
    places = _precision(value, what)
    try:
        exact = _restore_places(Decimal(str(number)), places)
        measured_value(str(exact))
        return Quantity(code=code, value=str(exact), unit=unit, display=display, system=system)
    except (InvalidInput, InvalidOperation) as exc:
        raise PlatformProtocolError(f"{what}.valueQuantity.value {number!r:.40} is not usable: {exc}") from None


def _restore_places(exact: Decimal, places: int | None) -> Decimal:
    """Put back trailing zeros that a server reading JSON numbers as floats dropped."""
    if places is None or not exact.is_finite():
        return exact
    exponent = exact.as_tuple().exponent
    if isinstance(exponent, int) and -exponent < places:
        return exact.quantize(Decimal(1).scaleb(-places))
    return exact


def _precision(value: dict[str, Any], what: str) -> int | None:
    element = obj(value, "_value", f"{what}.valueQuantity")
    ext = extension(element, codes.QUANTITY_PRECISION, f"{what}.valueQuantity._value") if element else None
    places = ext.get("valueInteger") if ext else None
    if places is None:
        return None
    if isinstance(places, bool) or not isinstance(places, int) or not 0 <= places <= 20:
        raise PlatformProtocolError(f"{what}: quantity-precision {places!r:.20} is not a small integer")
    return places
