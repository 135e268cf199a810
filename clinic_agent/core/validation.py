"""Checks on what people type, field by field, with messages that name the field and the rule."""

from __future__ import annotations

import dataclasses
import re
from datetime import date
from decimal import Decimal
from typing import Any

from clinic_agent.core.errors import InvalidIdNumber, InvalidInput
from clinic_agent.core.idnumber import IdNumber, check_character, check_health_record_number, parse_id_number
from clinic_agent.core.model import (
    ENTRY_TYPES,
    Consultation,
    ConsultationMessage,
    Entry,
    EntryKind,
    Resident,
    Sex,
    decimal_value,
)

_PHONE = re.compile(r"\+?[0-9][0-9 -]{4,19}")
# Whatever the quantity (a viral load, a cell count per litre), a measured value has fewer than 13
# digits before the point and at most 12 after it; 1e999 or 1e12 is a typo or garbage, never a body.
MEASURED_LIMIT = Decimal("1e12")
MEASURED_PLACES = 12


def text_field(name: str, value: str, *, required: bool = False, max_length: int = 200) -> str:
    """Printable, single-line text of bounded length; surrounding spaces removed."""
    cleaned = value.strip()
    if required and not cleaned:
        raise InvalidInput(f"{name} is required")
    if len(cleaned) > max_length:
        raise InvalidInput(f"{name} is too long ({len(cleaned)} characters; at most {max_length})")
    if any(not ch.isprintable() for ch in cleaned):
        raise InvalidInput(f"{name} holds control characters; type it again")
    return cleaned


def optional_text(name: str, value: str | None, *, max_length: int = 200) -> str | None:
    """Like text_field, with empty meaning absent."""
    if value is None:
        return None
    return text_field(name, value, max_length=max_length) or None


def resident(record: Resident, *, today: date | None = None) -> Resident:
    """A resident checked and normalised, or InvalidInput naming the first problem."""
    override = optional_text("reason for keeping the ID number", record.id_number_override)
    number = checked_id_number(record.id_number, override, today=today)
    if number.number[17] == check_character(number.number[:17]):
        override = None  # a number that passes needs no reason
    if record.birth_date != number.birth_date:
        raise InvalidInput(
            f"birth date {record.birth_date.isoformat()} does not match the ID number, "
            f"which holds {number.birth_date.isoformat()}"
        )
    if record.sex in (Sex.MALE, Sex.FEMALE) and (record.sex is Sex.MALE) != number.is_male:
        held = "male" if number.is_male else "female"
        raise InvalidInput(f"sex {record.sex.name.lower()} does not match the ID number, which is a {held} number")
    phone = optional_text("phone", record.phone, max_length=24)
    if phone is not None and not _PHONE.fullmatch(phone):
        raise InvalidInput(f"phone {phone!r} is not a phone number (digits, spaces and - only)")
    hrn = record.health_record_number
    return dataclasses.replace(
        record,
        id_number=number.number,
        id_number_override=override,
        name=text_field("name", record.name, required=True, max_length=50),
        health_record_number=check_health_record_number(hrn) if hrn else None,
        phone=phone,
        village=optional_text("village", record.village, max_length=100),
        address=optional_text("address", record.address),
        ethnicity=optional_text("ethnicity", record.ethnicity, max_length=20),
    )


def checked_id_number(text: str, override: str | None, *, today: date | None = None) -> IdNumber:
    """An ID number that passes every check, or fails only its check digit and is kept for a reason.

    The national forms allow this: a paper record or card with a typo is kept as written, with the
    doctor's reason, rather than refused or silently "corrected".
    """
    try:
        return parse_id_number(text, today=today)
    except InvalidIdNumber as exc:
        if exc.check != "check_digit" or not (override and override.strip()):
            raise
    return parse_id_number(text, today=today, check_digit=False)


def entry(record: Entry) -> Entry:
    """Every text field of a file entry is printable and bounded; required names are present."""
    changes: dict[str, Any] = {}
    for f in dataclasses.fields(record):
        value = getattr(record, f.name)
        if isinstance(value, str) and f.name not in ("id", "resident_id"):
            long_text = f.name in ("note", "text", "tests", "other_symptoms", "adverse_reaction", "question")
            changes[f.name] = text_field(f.name, value, max_length=2000 if long_text else 200)
    outcome_only = isinstance(record, ConsultationMessage) and record.outcome is not None  # words optional
    for required in ("substance", "name", "condition", "text"):
        if required in changes and not changes[required] and not (outcome_only and required == "text"):
            raise InvalidInput(f"{required} is required")
    checked = dataclasses.replace(record, **changes)
    return consultation(checked) if isinstance(checked, Consultation) else checked


# What a consultation may attach: readings and the file entries the platform holds as clinical records
# (sync.fhir.consultation.ATTACHED_TYPES). Not another consultation, its Task or its messages: there is
# no supportingInfo for them, and such a request would be accepted here only to be parked at the push.
_NOT_ATTACHABLE = (EntryKind.CONSULTATION, EntryKind.CONSULTATION_TASK, EntryKind.CONSULTATION_MESSAGE)
ATTACHABLE = frozenset({"reading"}) | {k.value for k in ENTRY_TYPES if k not in _NOT_ATTACHABLE}


def consultation(record: Consultation) -> Consultation:
    """A consultation asks something, of someone, with something to look at."""
    if not record.question:
        raise InvalidInput("a consultation needs a question")
    if not record.target:
        raise InvalidInput("a consultation needs someone to ask (target)")
    if not re.fullmatch(r"(Organization|HealthcareService|PractitionerRole)/[A-Za-z0-9\-.]{1,64}", record.target):
        raise InvalidInput("target must name an Organization, HealthcareService or PractitionerRole: Type/id")
    if not record.attachments:
        raise InvalidInput("a consultation needs at least one attached record (readings, conditions, ...)")
    if len(record.attachments) > 200:
        raise InvalidInput("a consultation can attach at most 200 records")
    for attachment in record.attachments:
        kind, _, record_id = attachment.partition(":")
        if kind not in ATTACHABLE or not re.fullmatch(r"[0-9a-f\-]{36}", record_id):
            raise InvalidInput(
                f"attachment {attachment[:60]!r} is not kind:record-id (kinds: {', '.join(sorted(ATTACHABLE))})"
            )
    if len(record.attachments) != len(set(record.attachments)):
        raise InvalidInput("a record is attached twice")
    added = tuple(text_field("added", a, required=True, max_length=2000) for a in record.added)
    return dataclasses.replace(record, added=added)


def measured_value(text: str) -> Decimal:
    """A measured value as typed, sent by a device or pulled from the platform: a finite, sane number."""
    value = decimal_value(text)
    shown = text.strip()[:40]
    if abs(value) >= MEASURED_LIMIT:
        raise InvalidInput(f"value {shown!r} is too large to be a measurement (at most 12 digits before the point)")
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -MEASURED_PLACES:
        raise InvalidInput(f"value {shown!r} has more than {MEASURED_PLACES} decimal places")
    return value
