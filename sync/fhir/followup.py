"""FollowUp <-> QuestionnaireResponse, with the visit's Encounter and its measured values as Observations.

A follow-up visit goes up as one record of three kinds of resource, in one transaction:

- **QuestionnaireResponse** (the record itself): the whole form, one answer per filled-in field
  (``sync.fhir.questionnaire``), ``questionnaire`` = our Questionnaire's ``canonical|version``,
  ``subject``, ``encounter``, ``authored`` = the visit date, ``identifier`` = the record's urn:uuid,
  ``status`` completed (``entered-in-error`` once deleted here). This is what comes back down on
  pull and what the three-way merge works on: ``from_fhir`` reads a FollowUp from it alone.
- **Encounter** (the visit): class from 随访方式 (门诊 ``AMB``, 家庭 ``HH``, 电话 ``VR``), type = the
  programme, ``period`` = the visit date, ``subject``, ``serviceProvider`` = the clinic's Organization.
- **Observations** of what was measured at the visit: BP panel 85354-9 (8480-6/8462-4), heart rate
  8867-4, body weight 29463-7 and BMI 39156-5 (vital-signs, with their core profiles), fasting
  glucose 14771-0 and HbA1c 4548-4 (laboratory). Each has ``encounter`` and ``derivedFrom`` the
  QuestionnaireResponse (the SDC extraction pattern): pull skips them (``derived_from_form``), the
  form brings their values down.

The Encounter and Observations are *parts* of the record: each has an identifier of its own,
``urn:uuid:<uuid5(record id, part name)>``, so it is created effectively once like any record.
They are rewritten from the form whenever the form is sent, and marked ``entered-in-error`` with it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from clinic_agent.core.errors import InvalidInput
from clinic_agent.core.model import FollowUp, Medication, Programme, Quantity, Reading
from sync.errors import MappingError, PlatformProtocolError
from sync.fhir import codes, observation, questionnaire
from sync.fhir.codes import DEFAULT_NAMESPACE, Namespace
from sync.fhir.common import (
    Reference,
    Resource,
    bundle_reference,
    code_in,
    coding,
    concept,
    dicts,
    expect_type,
    extension,
    identifier_value,
    local_id,
    obj,
    parse_date,
    parse_instant,
    prune,
    required_text,
    text,
    uuid_identifier,
)
from sync.fhir.questionnaire import Item

ACT_CODE: Final = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
ENCOUNTER_CLASS: Final = {"1": ("AMB", "ambulatory"), "2": ("HH", "home health"), "3": ("VR", "virtual")}
ENCOUNTER_STATUS: Final = {False: "finished", True: "entered-in-error"}
FORM_STATUS: Final = {False: "completed", True: "entered-in-error"}
FASTING_GLUCOSE: Final = "14771-0"
HBA1C: Final = "4548-4"
# The parts of a follow-up other than the Encounter, by part name: (LOINC code, display).
OBSERVATION_PARTS: Final = {
    "blood-pressure": (codes.BP_PANEL, "Blood pressure panel with all children optional"),
    "heart-rate": (codes.HEART_RATE, "Heart rate"),
    "body-weight": ("29463-7", "Body weight"),
    "bmi": ("39156-5", "Body mass index (BMI) [Ratio]"),
    "fasting-glucose": (FASTING_GLUCOSE, "Fasting glucose [Moles/volume] in Serum or Plasma"),
    "hba1c": (HBA1C, "Hemoglobin A1c/Hemoglobin.total in Blood"),
}
ENCOUNTER_PART: Final = "encounter"


@dataclass(frozen=True, slots=True)
class Part:
    """One resource of a follow-up besides the form itself."""

    name: str  # "encounter", or a key of OBSERVATION_PARTS
    record_id: str  # its own stable id (uuid5 of the record id and the name)
    resource: Resource


def part_id(record_id: str, name: str) -> str:
    """The stable id of a follow-up's part: a UUID derived from the record's urn:uuid and the part name."""
    return str(uuid.uuid5(uuid.UUID(identifier_value(record_id).removeprefix("urn:uuid:")), name))


# To FHIR --------------------------------------------------------------------------------------


def to_fhir(record: FollowUp, *, subject: Reference, ns: Namespace = DEFAULT_NAMESPACE) -> Resource:
    """The QuestionnaireResponse of a follow-up (no ``id``: the caller chooses POST or PUT)."""
    items = [_answer_item(record, item, ns) for item in questionnaire.items_for(record.programme)]
    _only_form_fields(record)
    return prune(
        {
            "resourceType": "QuestionnaireResponse",
            "identifier": uuid_identifier(record.id),  # 0..1 in R4: one Identifier, not a list
            "questionnaire": questionnaire.versioned(record.programme, ns),
            "status": FORM_STATUS[record.deleted],
            "subject": subject,
            "encounter": bundle_reference(part_id(record.id, ENCOUNTER_PART)),
            "authored": record.visit_date.isoformat(),
            "item": [item for item in items if item is not None],
        }
    )


def _only_form_fields(record: FollowUp) -> None:
    """A field the programme's form does not have cannot be sent (a diabetes field on a hypertension form)."""
    on_form = {item.link_id for item in questionnaire.items_for(record.programme)}
    for item in questionnaire.ITEMS:
        if item.link_id not in on_form and getattr(record, item.link_id) not in (None, "", ()):
            raise MappingError(f"the {record.programme.value} follow-up form has no field {item.link_id}")


def _answer_item(record: FollowUp, item: Item, ns: Namespace) -> Resource | None:
    value = getattr(record, item.link_id)
    if item.link_id == "medications":
        groups = [_medication(m) for m in value]
        return {"linkId": item.link_id, "text": item.text, "item": groups} if groups else None
    values = list(value) if item.repeats else [value]
    answers = [_answer(record, item, v, ns) for v in values if v not in (None, "")]
    if not answers:
        if item.required:
            raise MappingError(f"a follow-up needs its {item.link_id}")
        return None
    return {"linkId": item.link_id, "text": item.text, "answer": answers}


def _answer(record: FollowUp, item: Item, value: Any, ns: Namespace) -> Resource:
    if item.type == "date":
        return {"valueDate": value.isoformat()}
    if item.type == "integer":
        return {"valueInteger": int(value)}
    if item.type == "string":
        return {"valueString": str(value)}
    if item.type == "quantity":
        return {"valueQuantity": _quantity(item, str(value))}
    options = questionnaire.symptom_options(record.programme) if item.link_id == "symptoms" else item.options
    system = (
        questionnaire.symptom_system(record.programme, ns)
        if item.link_id == "symptoms"
        else questionnaire.code_system(item.system, ns)
    )
    code = str(value)
    if not code or code != code.strip() or any(ch in code for ch in "\t\n\r"):
        raise MappingError(f"{item.link_id} {code!r:.40} is not a code")
    return {"valueCoding": coding(system, code, dict(options).get(code))}


def _quantity(item: Item, value: str) -> Resource:
    try:
        number = Decimal(value.strip())
    except InvalidOperation:
        raise MappingError(f"{item.link_id} {value!r:.40} is not a number") from None
    if not number.is_finite() or value != value.strip():
        raise MappingError(f"{item.link_id} {value!r:.40} is not a number")
    exponent = number.as_tuple().exponent
    places = -exponent if isinstance(exponent, int) and exponent < 0 else 0
    return prune(
        {
            "value": number,
            "_value": {"extension": [{"url": codes.QUANTITY_PRECISION, "valueInteger": places}]},
            "unit": item.unit or item.unit_display,
            "system": codes.UCUM if item.unit else None,
            "code": item.unit or None,
        }
    )


def _medication(medication: Medication) -> Resource:
    answers = {"name": medication.name, "times_per_day": medication.times_per_day, "dose": medication.dose}
    children = []
    for child in questionnaire.MEDICATION_ITEMS:
        value = answers[child.link_id]
        if value in (None, ""):
            continue
        answer = {"valueInteger": value} if child.type == "integer" else {"valueString": value}
        children.append({"linkId": child.link_id, "text": child.text, "answer": [answer]})
    return prune({"linkId": "medication", "item": children})


# Parts: the Encounter and the Observations ----------------------------------------------------


def parts(
    record: FollowUp, *, subject: Reference, organization: Reference | None, ns: Namespace = DEFAULT_NAMESPACE
) -> list[Part]:
    """The Encounter and the Observations of a follow-up, each with its own stable id."""
    found = [Part(ENCOUNTER_PART, part_id(record.id, ENCOUNTER_PART), encounter(record, subject, organization, ns))]
    for name, reading in _readings(record).items():
        found.append(Part(name, part_id(record.id, name), _observation(record, name, reading, subject, ns)))
    return found


def part_names(record: FollowUp) -> set[str]:
    """The names of the parts a follow-up has (the Encounter always, an Observation per measured value)."""
    return {ENCOUNTER_PART, *_readings(record)}


def encounter(
    record: FollowUp, subject: Reference, organization: Reference | None, ns: Namespace = DEFAULT_NAMESPACE
) -> Resource:
    """The visit."""
    klass = ENCOUNTER_CLASS.get(record.method)
    if klass is None:
        raise MappingError(f"follow-up method {record.method!r:.20} is not 1 (门诊), 2 (家庭) or 3 (电话)")
    method = dict(questionnaire.METHODS)[record.method]
    return prune(
        {
            "resourceType": "Encounter",
            "identifier": [uuid_identifier(part_id(record.id, ENCOUNTER_PART))],
            "status": ENCOUNTER_STATUS[record.deleted],
            "class": coding(ACT_CODE, klass[0], klass[1]),
            "type": [
                concept(
                    coding(questionnaire.code_system("follow-up-programme", ns), record.programme.value),
                    text=f"{_PROGRAMME_TEXT[record.programme]} ({method})",
                )
            ],
            "subject": subject,
            "period": {"start": record.visit_date.isoformat(), "end": record.visit_date.isoformat()},
            "serviceProvider": organization,
        }
    )


_PROGRAMME_TEXT: Final = {Programme.HYPERTENSION: "高血压患者随访", Programme.DIABETES: "2型糖尿病患者随访"}


def _readings(record: FollowUp) -> dict[str, Reading]:
    """What was measured at the visit, as readings (only to borrow the Observation mapper)."""
    values: dict[str, list[Quantity]] = {}
    if record.sbp is not None and record.dbp is not None:
        values["blood-pressure"] = [
            Quantity(code=codes.SYSTOLIC, value=str(record.sbp), unit="mm[Hg]", display="Systolic blood pressure"),
            Quantity(code=codes.DIASTOLIC, value=str(record.dbp), unit="mm[Hg]", display="Diastolic blood pressure"),
        ]
    measured = {
        "heart-rate": (record.heart_rate, "/min"),
        "body-weight": (record.weight_kg, "kg"),
        "bmi": (record.bmi, "kg/m2"),
        "fasting-glucose": (record.fasting_glucose, "mmol/L"),
        "hba1c": (record.hba1c, "%"),
    }
    for name, (value, unit) in measured.items():
        if value is not None and value != "":
            code, display = OBSERVATION_PARTS[name]
            try:
                values[name] = [Quantity(code=code, value=str(value).strip(), unit=unit, display=display)]
            except InvalidInput as exc:
                raise MappingError(f"{name} of the follow-up: {exc}") from None
    return {
        name: Reading(
            id=part_id(record.id, name),
            resident_id=record.resident_id,
            code=OBSERVATION_PARTS[name][0],
            components=tuple(quantities),
            taken_at=_NOON,
            received_at=_NOON,
        )
        for name, quantities in values.items()
    }


_NOON = parse_instant("2000-01-01T12:00:00Z", "a constant")


def _observation(record: FollowUp, name: str, reading: Reading, subject: Reference, ns: Namespace) -> Resource:
    resource = observation.to_fhir(reading, subject=subject, ns=ns)
    resource.pop("extension", None)  # reading-source: the form is the source (derivedFrom)
    resource.pop("issued", None)
    resource["status"] = "entered-in-error" if record.deleted else "final"
    effective = record.hba1c_date if name == "hba1c" and record.hba1c_date else record.visit_date
    resource["effectiveDateTime"] = effective.isoformat()
    resource["encounter"] = bundle_reference(part_id(record.id, ENCOUNTER_PART))
    resource["derivedFrom"] = [bundle_reference(record.id)]
    return resource


def derived_from_form(resource: Resource) -> bool:
    """True for an Observation extracted from a QuestionnaireResponse: the form, not it, is the record."""
    if resource.get("resourceType") != "Observation":
        return False
    refs = resource.get("derivedFrom")
    if not isinstance(refs, list):
        return False
    return any(
        isinstance(ref, dict)
        and isinstance(ref.get("reference"), str)
        and ref["reference"].split("?", 1)[0].rstrip("/").split("/")[-2:-1] == ["QuestionnaireResponse"]
        for ref in refs
    )


PART_NAMES: Final = (ENCOUNTER_PART, *OBSERVATION_PARTS)
_FIELD_OF_PART: Final = {
    "heart-rate": "heart_rate",
    "body-weight": "weight_kg",
    "bmi": "bmi",
    "fasting-glucose": "fasting_glucose",
    "hba1c": "hba1c",
}
_INTEGER_FIELDS: Final = frozenset({"sbp", "dbp", "heart_rate"})
_CLASS_METHOD: Final = {klass[0]: method for method, klass in ENCOUNTER_CLASS.items()}
# What a server puts on a part or we refer to differently there (Type/id for our urn:uuid): not content.
_NOT_CONTENT: Final = frozenset({"id", "meta", "text", "subject", "encounter", "derivedFrom", "serviceProvider"})


def part_type(name: str) -> str:
    """The resource type of a part by its name."""
    return "Encounter" if name == ENCOUNTER_PART else "Observation"


def form_values(name: str, resource: Resource) -> dict[str, Any]:
    """The form's fields a part carries, as the platform's copy of the part says them (JSON values).

    What an edit of the part on the platform changed in the form: a corrected systolic is ``sbp``.
    """
    found: dict[str, Any] = {}
    if name == ENCOUNTER_PART:
        klass = resource.get("class")
        method = _CLASS_METHOD.get(str(klass.get("code"))) if isinstance(klass, dict) else None
        if method is not None:
            found["method"] = method
        period = resource.get("period")
        start = period.get("start") if isinstance(period, dict) else None
        if isinstance(start, str) and len(start) >= 10:
            found["visit_date"] = start[:10]
        return found
    what = f"the follow-up's {name} Observation"
    if name == "blood-pressure":
        for component in dicts(resource, "component", what):
            code = code_in(obj(component, "code", what), codes.LOINC, what)
            quantity = obj(component, "valueQuantity", what)
            field = {codes.SYSTOLIC: "sbp", codes.DIASTOLIC: "dbp"}.get(str(code))
            if field is not None and quantity is not None:
                found[field] = _read_quantity(quantity, what)
    elif name in _FIELD_OF_PART:
        quantity = obj(resource, "valueQuantity", what)
        if quantity is not None:
            found[_FIELD_OF_PART[name]] = _read_quantity(quantity, what)
    for field in _INTEGER_FIELDS & found.keys():
        found[field] = int(Decimal(found[field]))
    return found


def same_part(ours: Resource | None, theirs: Resource) -> bool:
    """True when the platform's copy of a part holds what this agent would write for it (ids and
    references aside): nothing was added to it on the platform beyond what the form says."""
    if ours is None:
        return False
    return {k: v for k, v in ours.items() if k not in _NOT_CONTENT} == {
        k: v for k, v in theirs.items() if k not in _NOT_CONTENT
    }


# From FHIR ------------------------------------------------------------------------------------


def from_fhir(resource: Resource, *, resident_id: str, ns: Namespace = DEFAULT_NAMESPACE) -> FollowUp:
    """Read a follow-up from its QuestionnaireResponse (answering our Questionnaire under ``ns``)."""
    resource = expect_type(resource, "QuestionnaireResponse")
    named = required_text(resource, "questionnaire", "QuestionnaireResponse")
    programme = questionnaire.programme_of(named, ns)
    if programme is None:
        raise PlatformProtocolError(f"QuestionnaireResponse answers {named[:80]!r}, not one of our follow-up forms")
    status = text(resource, "status", "QuestionnaireResponse")
    if status not in ("completed", "amended", "entered-in-error"):
        raise PlatformProtocolError(f"QuestionnaireResponse status {status!r:.30} is not a finished form")
    items = {item.link_id: item for item in questionnaire.items_for(programme)}
    fields: dict[str, Any] = {}
    for answered in dicts(resource, "item", "QuestionnaireResponse"):
        link_id = required_text(answered, "linkId", "QuestionnaireResponse.item")
        item = items.get(link_id)
        if item is None:
            continue  # an item of a later version of the form: not ours to keep
        if link_id == "medications":
            fields[link_id] = tuple(_read_medication(group) for group in dicts(answered, "item", "medications"))
            continue
        values = [_read_answer(programme, item, a, ns) for a in dicts(answered, "answer", f"item {link_id}")]
        if item.repeats:
            fields[link_id] = tuple(values)
        elif values:
            fields[link_id] = values[0]
    if "visit_date" not in fields:
        authored = text(resource, "authored", "QuestionnaireResponse")
        if authored is None:
            raise PlatformProtocolError("QuestionnaireResponse has no visit date")
        fields["visit_date"] = parse_date(authored, "QuestionnaireResponse.authored")
    fields.setdefault("method", "1")
    record_id = local_id(resource)
    try:
        return FollowUp(
            id=record_id,
            resident_id=resident_id,
            programme=programme,
            deleted=status == "entered-in-error",
            **fields,
        )
    except (TypeError, ValueError, InvalidInput) as exc:
        raise PlatformProtocolError(f"QuestionnaireResponse cannot be read as a follow-up: {exc}") from None


def _read_answer(programme: Programme, item: Item, answer: Resource, ns: Namespace) -> Any:
    what = f"QuestionnaireResponse answer to {item.link_id}"
    if item.type == "date":
        return parse_date(required_text(answer, "valueDate", what), what)
    if item.type == "integer":
        value = answer.get("valueInteger")
        if isinstance(value, bool) or not isinstance(value, int):
            raise PlatformProtocolError(f"{what} is not an integer")
        return value
    if item.type == "string":
        return required_text(answer, "valueString", what)
    if item.type == "quantity":
        quantity = obj(answer, "valueQuantity", what)
        if quantity is None:
            raise PlatformProtocolError(f"{what} is not a quantity")
        return _read_quantity(quantity, what)
    system = (
        questionnaire.symptom_system(programme, ns)
        if item.link_id == "symptoms"
        else questionnaire.code_system(item.system, ns)
    )
    value_coding = obj(answer, "valueCoding", what)
    code = code_in({"coding": [value_coding]}, system, what) if value_coding is not None else None
    if code is None:
        raise PlatformProtocolError(f"{what} has no code of {system}")
    return code


def _read_quantity(quantity: Resource, what: str) -> str:
    number = quantity.get("value")
    if isinstance(number, bool) or not isinstance(number, int | float | Decimal):
        raise PlatformProtocolError(f"{what}: the value is not a number")
    exact = Decimal(str(number))
    element = obj(quantity, "_value", what)
    ext = extension(element, codes.QUANTITY_PRECISION, what) if element else None
    places = ext.get("valueInteger") if ext else None
    if isinstance(places, int) and not isinstance(places, bool) and 0 <= places <= 20:
        exponent = exact.as_tuple().exponent
        if isinstance(exponent, int) and -exponent < places:
            exact = exact.quantize(Decimal(1).scaleb(-places))
    if not exact.is_finite():
        raise PlatformProtocolError(f"{what}: the value is not finite")
    return str(exact)


def _read_medication(group: Resource) -> Medication:
    values: dict[str, Any] = {}
    for child in dicts(group, "item", "medication"):
        link_id = required_text(child, "linkId", "medication.item")
        answers = dicts(child, "answer", f"medication.{link_id}")
        if not answers:
            continue
        if link_id == "times_per_day":
            value = answers[0].get("valueInteger")
            if isinstance(value, bool) or not isinstance(value, int):
                raise PlatformProtocolError("medication times_per_day is not an integer")
            values[link_id] = value
        elif link_id in ("name", "dose"):
            values[link_id] = required_text(answers[0], "valueString", f"medication.{link_id}")
    return Medication(
        name=values.get("name", ""), times_per_day=values.get("times_per_day"), dose=values.get("dose", "")
    )
