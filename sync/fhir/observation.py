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

from decimal import Decimal, InvalidOperation
from typing import Any

from clinic_agent.errors import InvalidInput
from clinic_agent.model import DeviceInfo, Quantity, Reading, ReadingStatus
from clinic_agent.validation import measured_value
from sync.errors import PlatformProtocolError
from sync.fhir import codes
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
    required_text,
    text,
    uuid_identifier,
)

_CATEGORY_DISPLAY = {"vital-signs": "Vital Signs", "laboratory": "Laboratory"}


def category_of(code: str) -> str:
    """``vital-signs`` or ``laboratory`` for a LOINC code."""
    vital = code in codes.VITAL_SIGN_PROFILES or code in codes.OTHER_VITAL_SIGNS
    return "vital-signs" if vital else "laboratory"


def to_fhir(
    reading: Reading,
    *,
    subject: Reference | None = None,
    device: Reference | None = None,
    performer: Reference | None = None,
) -> Resource:
    """Map a reading to an Observation (no ``id``: the caller chooses POST or PUT)."""
    category = category_of(reading.code)
    profile = codes.VITAL_SIGN_PROFILES.get(reading.code) if subject is not None else None
    single = _single_value(reading)
    return prune(
        {
            "resourceType": "Observation",
            "meta": {"profile": [profile]} if profile else None,
            "extension": _extensions(reading),
            "identifier": [uuid_identifier(reading.id)],
            "status": reading.status.value,
            "category": [concept(coding(codes.OBSERVATION_CATEGORY, category, _CATEGORY_DISPLAY[category]))],
            "code": _code(reading, single),
            "subject": subject,
            "effectiveDateTime": instant(reading.taken_at),
            "issued": instant(reading.received_at),
            "performer": [performer] if performer else None,
            "valueQuantity": _value_quantity(single) if single else None,
            "device": device,
            "component": None if single else [_component(q) for q in reading.components],
        }
    )


def _single_value(reading: Reading) -> Quantity | None:
    if len(reading.components) != 1:
        return None
    only = reading.components[0]
    return only if only.code == reading.code and only.system == codes.LOINC else None


def _code(reading: Reading, single: Quantity | None) -> dict[str, Any]:
    display = single.display if single else None
    codings = [coding(codes.LOINC, reading.code, display)]
    if reading.code == codes.PULSE_OXIMETRY:  # the oxygensat profile asks for 2708-6 as well
        codings.append(coding(codes.LOINC, codes.OXYGEN_SATURATION))
    return concept(*codings, text=reading.display or None)


def _component(quantity: Quantity) -> dict[str, Any]:
    return {
        "code": concept(coding(quantity.system, quantity.code, quantity.display or None)),
        "valueQuantity": _value_quantity(quantity),
    }


def _value_quantity(quantity: Quantity) -> dict[str, Any]:
    value = quantity.decimal
    exponent = value.as_tuple().exponent
    places = -exponent if isinstance(exponent, int) and exponent < 0 else 0
    return {
        "value": value,
        "_value": {"extension": [{"url": codes.QUANTITY_PRECISION, "valueInteger": places}]},
        "unit": quantity.unit,
        "system": codes.UCUM,
        "code": quantity.unit,
    }


def _extensions(reading: Reading) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = [{"url": codes.EXT_READING_SOURCE, "valueCode": reading.source}]
    if reading.device_time:
        found.append({"url": codes.EXT_DEVICE_TIME, "valueString": reading.device_time})
    found.extend({"url": codes.EXT_READING_FLAG, "valueString": flag} for flag in reading.flags)
    if reading.extreme_reason:
        found.append({"url": codes.EXT_EXTREME_REASON, "valueString": reading.extreme_reason})
    return found


def from_fhir(resource: Resource, *, resident_id: str | None = None, device: DeviceInfo | None = None) -> Reading:
    """Map an Observation to a reading; the caller resolves ``subject`` and ``device`` to local objects."""
    observation = expect_type(resource, "Observation")
    code, display = _read_code(observation)
    value = obj(observation, "valueQuantity", "Observation")
    if value is not None:
        components: tuple[Quantity, ...] = (_quantity(value, code, codes.LOINC, display, "Observation"),)
    else:
        components = tuple(_read_component(c) for c in dicts(observation, "component", "Observation"))
    if not components:
        raise PlatformProtocolError(f"Observation/{observation.get('id')} has neither a value nor components")
    source = extension(observation, codes.EXT_READING_SOURCE, "Observation")
    device_time = extension(observation, codes.EXT_DEVICE_TIME, "Observation")
    extreme = extension(observation, codes.EXT_EXTREME_REASON, "Observation")
    try:
        status = ReadingStatus(str(observation.get("status")))
    except ValueError:
        raise PlatformProtocolError(
            f"Observation status {observation.get('status')!r} is not final or entered-in-error"
        ) from None
    issued = observation.get("issued")
    effective = parse_instant(observation.get("effectiveDateTime"), "Observation.effectiveDateTime")
    return Reading(
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
            for ext in extensions(observation, codes.EXT_READING_FLAG, "Observation")
        ),
        extreme_reason=text(extreme, "valueString", "Observation.extension") if extreme else None,
        status=status,
    )


def _read_code(observation: Resource) -> tuple[str, str]:
    concept_ = obj(observation, "code", "Observation") or {}
    for item in dicts(concept_, "coding", "Observation.code"):
        if item.get("system") == codes.LOINC:
            return (
                required_text(item, "code", "Observation.code.coding"),
                text(item, "display", "Observation.code.coding") or "",
            )
    raise PlatformProtocolError(f"Observation/{observation.get('id')} has no LOINC code")


def _read_component(component: dict[str, Any]) -> Quantity:
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
    )


def _quantity(value: dict[str, Any], code: str, system: str, display: str, what: str) -> Quantity:
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
