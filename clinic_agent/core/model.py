"""The domain model: small frozen dataclasses, no I/O.

Every record carries its local ``version`` (bumped on each local write), ``updated_at`` and a
``deleted`` tombstone flag. What the platform knows about a record (its id, its opaque versionId,
the last-synced base copy) is sync state, kept by the store beside the record.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any, ClassVar

from clinic_agent.core.errors import InvalidInput

LOINC = "http://loinc.org"


def new_id() -> str:
    """A fresh random record id (UUID4, never derived from personal data)."""
    return str(uuid.uuid4())


def utcnow() -> datetime:
    """The PC clock in UTC, to the millisecond."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


class Sex(StrEnum):
    """GB/T 2261.1 sex codes."""

    UNKNOWN = "0"
    MALE = "1"
    FEMALE = "2"
    UNSPECIFIED = "9"

    @classmethod
    def parse(cls, text: str) -> Sex:
        """Accept a code (0/1/2/9) or a word (male, female, unknown, unspecified, 男, 女)."""
        value = _SEX_WORDS.get(text.strip().lower(), text.strip())
        try:
            return cls(value)
        except ValueError:
            raise InvalidInput(f"sex {text!r} is not one of 0, 1, 2, 9, male, female, unknown, unspecified") from None


_SEX_WORDS = {
    "unknown": "0",
    "male": "1",
    "m": "1",
    "男": "1",
    "female": "2",
    "f": "2",
    "女": "2",
    "unspecified": "9",
}


class Role(StrEnum):
    """What a signed-in user may do."""

    DOCTOR = "doctor"
    NURSE = "nurse"
    TECHNICIAN = "technician"


class KeyPopulation(StrEnum):
    """Key-population flags of the national basic public health service."""

    HYPERTENSION = "hypertension"
    DIABETES = "diabetes"
    ELDERLY = "elderly"
    SEVERE_MENTAL_DISORDER = "smi"
    TUBERCULOSIS = "tb"
    PREGNANT = "pregnant"
    CHILD = "child"
    DISABLED = "disabled"
    POOR = "poor"


@dataclass(frozen=True, slots=True, kw_only=True)
class Resident:
    """A resident with a health file."""

    id: str
    id_number: str
    name: str
    sex: Sex
    birth_date: date
    health_record_number: str | None = None
    phone: str | None = None
    village: str | None = None
    address: str | None = None
    ethnicity: str | None = None
    key_populations: tuple[KeyPopulation, ...] = ()
    id_number_override: str | None = None  # why a number failing its check digit was kept, in the doctor's words
    version: int = 0
    updated_at: datetime | None = None
    deleted: bool = False


class EntryKind(StrEnum):
    """The kinds of entry in a resident's file."""

    ALLERGY = "allergy"
    CONDITION = "condition"
    PROCEDURE = "procedure"
    FAMILY_HISTORY = "family_history"
    NOTE = "note"
    FOLLOW_UP = "follow_up"
    CONSULTATION = "consultation"
    CONSULTATION_TASK = "consultation_task"
    CONSULTATION_MESSAGE = "consultation_message"


@dataclass(frozen=True, slots=True, kw_only=True)
class Entry:
    """Base of every file entry: one row each, tied to one resident."""

    kind: ClassVar[EntryKind]
    id: str
    resident_id: str
    version: int = 0
    updated_at: datetime | None = None
    deleted: bool = False


class ClinicalStatus(StrEnum):
    """Clinical status shared by allergies and conditions (FHIR codes)."""

    ACTIVE = "active"
    INACTIVE = "inactive"
    RESOLVED = "resolved"


@dataclass(frozen=True, slots=True, kw_only=True)
class Allergy(Entry):
    """An allergy or intolerance (药物过敏史 and others)."""

    kind: ClassVar[EntryKind] = EntryKind.ALLERGY
    substance: str
    category: str = "medication"  # FHIR: food | medication | environment | biologic
    code: str | None = None  # form code: 2 青霉素, 3 磺胺, 4 链霉素, 5 其他
    reaction: str = ""
    criticality: str | None = None  # FHIR: low | high | unable-to-assess
    status: ClinicalStatus = ClinicalStatus.ACTIVE
    recorded_on: date | None = None
    note: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Condition(Entry):
    """A diagnosed disease (既往史-疾病), with the date it was confirmed."""

    kind: ClassVar[EntryKind] = EntryKind.CONDITION
    name: str
    code: str | None = None  # CV02.10.005: 2 高血压, 3 糖尿病, 4 冠心病, ...
    icd10: str | None = None
    diagnosed_on: date | None = None
    status: ClinicalStatus = ClinicalStatus.ACTIVE
    note: str = ""


class ProcedureCategory(StrEnum):
    """既往史: surgery, trauma or transfusion."""

    SURGERY = "surgery"
    TRAUMA = "trauma"
    TRANSFUSION = "transfusion"


@dataclass(frozen=True, slots=True, kw_only=True)
class Procedure(Entry):
    """A past surgery, trauma or transfusion, with its name or reason and date."""

    kind: ClassVar[EntryKind] = EntryKind.PROCEDURE
    category: ProcedureCategory
    name: str
    performed_on: date | None = None
    note: str = ""


class Relation(StrEnum):
    """Family relations on the personal information form (v3 RoleCode in FHIR)."""

    FATHER = "father"
    MOTHER = "mother"
    SIBLING = "sibling"
    CHILD = "child"


@dataclass(frozen=True, slots=True, kw_only=True)
class FamilyHistory(Entry):
    """A disease in a close relative (家族史)."""

    kind: ClassVar[EntryKind] = EntryKind.FAMILY_HISTORY
    relation: Relation
    condition: str
    code: str | None = None
    note: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Note(Entry):
    """A free-text note in the file."""

    kind: ClassVar[EntryKind] = EntryKind.NOTE
    text: str
    written_at: datetime
    author: str = ""


class Programme(StrEnum):
    """Chronic-disease follow-up programmes."""

    HYPERTENSION = "hypertension"
    DIABETES = "diabetes"


@dataclass(frozen=True, slots=True, kw_only=True)
class Medication:
    """One drug on a follow-up form: name, times a day, dose each time."""

    name: str
    times_per_day: int | None = None
    dose: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class FollowUp(Entry):
    """A national hypertension or type 2 diabetes follow-up record (国家基本公共卫生服务规范, 3rd edition, 2017)."""

    kind: ClassVar[EntryKind] = EntryKind.FOLLOW_UP
    programme: Programme
    visit_date: date
    method: str = "1"  # 1 门诊, 2 家庭, 3 电话
    symptoms: tuple[str, ...] = ()
    other_symptoms: str = ""
    sbp: int | None = None
    dbp: int | None = None
    weight_kg: str | None = None
    target_weight_kg: str | None = None
    bmi: str | None = None
    target_bmi: str | None = None
    heart_rate: int | None = None
    foot_pulse: str | None = None  # diabetes: 1 触及正常, 2 减弱, 3 消失
    smoking_per_day: int | None = None
    target_smoking_per_day: int | None = None
    alcohol_liang_per_day: str | None = None
    target_alcohol_liang_per_day: str | None = None
    exercise_times_per_week: int | None = None
    exercise_minutes: int | None = None
    target_exercise_times_per_week: int | None = None
    target_exercise_minutes: int | None = None
    salt_intake: str | None = None  # light | medium | heavy
    target_salt_intake: str | None = None
    staple_food_g: int | None = None  # diabetes
    target_staple_food_g: int | None = None
    psychological: str | None = None  # 1 良好, 2 一般, 3 差
    compliance: str | None = None  # 1 良好, 2 一般, 3 差
    fasting_glucose: str | None = None  # mmol/L
    hba1c: str | None = None  # %
    hba1c_date: date | None = None
    tests: str = ""
    adherence: str | None = None  # 1 规律, 2 间断, 3 不服药
    adverse_reaction: str = ""  # empty: none
    hypoglycaemia: str | None = None  # diabetes: 1 无, 2 偶尔, 3 频繁
    classification: str | None = None  # 1 控制满意, 2 控制不满意, 3 不良反应, 4 并发症
    medications: tuple[Medication, ...] = ()
    insulin: str = ""
    referral_reason: str = ""
    referral_to: str = ""
    next_visit: date | None = None
    doctor: str = ""


class Urgency(StrEnum):
    """How soon a consultation needs an answer (FHIR request priority: routine, urgent, stat)."""

    ROUTINE = "routine"
    URGENT = "urgent"
    EMERGENCY = "emergency"


class ConsultationOutcome(StrEnum):
    """What the village doctor did with a specialist's answer."""

    ADVICE_FOLLOWED = "advice-followed"
    REFERRED = "referred"
    NOT_REACHED = "not-reached"


@dataclass(frozen=True, slots=True, kw_only=True)
class Consultation(Entry):
    """A request to a specialist (county or township hospital) for advice about a resident.

    ``attachments`` name local records as ``<kind>:<id>`` (``reading:<id>``, ``condition:<id>``,
    ``allergy:<id>``, ``follow_up:<id>`` ...); ``added`` is information added after the request,
    oldest first. What the specialist's side did comes down as ``ConsultationTask`` and
    ``ConsultationMessage`` entries of the same resident.
    """

    kind: ClassVar[EntryKind] = EntryKind.CONSULTATION
    question: str
    urgency: Urgency = Urgency.ROUTINE
    target: str  # the platform's Organization or HealthcareService asked, "Organization/<id>"
    target_name: str = ""
    attachments: tuple[str, ...] = ()
    added: tuple[str, ...] = ()
    requested_at: datetime
    author: str = ""
    withdrawn: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class ConsultationTask(Entry):
    """The platform's Task tracking a consultation, as last read from it (never edited here)."""

    kind: ClassVar[EntryKind] = EntryKind.CONSULTATION_TASK
    request: str  # the ServiceRequest it tracks, "ServiceRequest/<platform id>"
    status: str  # FHIR Task.status: requested, accepted, in-progress, completed, rejected, cancelled ...
    reason: str = ""  # Task.statusReason, as the specialist's side wrote it
    owner: str = ""
    outputs: tuple[str, ...] = ()  # the answer, when the specialist's side writes it into the Task


@dataclass(frozen=True, slots=True, kw_only=True)
class ConsultationMessage(Entry):
    """A message about a consultation: the specialist's reply, or the clinic's outcome (``outcome`` set)."""

    kind: ClassVar[EntryKind] = EntryKind.CONSULTATION_MESSAGE
    request: str  # the ServiceRequest it is about, "ServiceRequest/<platform id>"
    text: str
    sent_at: datetime
    sender: str = ""
    outcome: ConsultationOutcome | None = None


ENTRY_TYPES: dict[EntryKind, type[Entry]] = {
    cls.kind: cls
    for cls in (
        Allergy,
        Condition,
        Procedure,
        FamilyHistory,
        Note,
        FollowUp,
        Consultation,
        ConsultationTask,
        ConsultationMessage,
    )
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Quantity:
    """One measured value: LOINC code, the value as the device wrote it, and its UCUM unit.

    Any finite number can be held (a record read back is never refused); what a person, a device
    or the platform may bring in is bounded by ``validation.measured_value``.
    """

    code: str
    value: str
    unit: str
    display: str = ""
    system: str = LOINC

    def __post_init__(self) -> None:
        decimal_value(self.value)

    @property
    def decimal(self) -> Decimal:
        """The value as a Decimal, precision kept ("2.00" stays two places)."""
        return Decimal(self.value)


def decimal_value(text: str) -> Decimal:
    """Parse a measured value; reject anything that is not a finite decimal number."""
    try:
        value = Decimal(text.strip())
    except (InvalidOperation, AttributeError):
        raise InvalidInput(f"value {text!r} is not a number") from None
    if not value.is_finite():
        raise InvalidInput(f"value {text!r} is not a finite number")
    return value


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceInfo:
    """The device a reading came from."""

    id: str
    model: str = ""
    serial: str = ""
    protocol: str = ""


class ReadingStatus(StrEnum):
    """Readings are append-only: a wrong one is marked, and a corrected one added."""

    FINAL = "final"
    ENTERED_IN_ERROR = "entered-in-error"


@dataclass(frozen=True, slots=True, kw_only=True)
class Reading:
    """One measurement event (a BP reading holds systolic, diastolic, mean and pulse)."""

    id: str
    resident_id: str | None
    code: str
    components: tuple[Quantity, ...]
    taken_at: datetime
    received_at: datetime
    display: str = ""
    device_time: str | None = None
    device: DeviceInfo | None = None
    source: str = "manual"
    flags: tuple[str, ...] = ()
    dedupe_key: str | None = None
    frame_id: str | None = None
    subject_hint: str | None = None
    extreme_reason: str | None = None  # why a value outside the plausible range was kept, in the doctor's words
    status: ReadingStatus = ReadingStatus.FINAL
    version: int = 0
    updated_at: datetime | None = None
    deleted: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class QuarantinedFrame:
    """A frame or reading that was not stored as clinical data, with the reason."""

    id: str
    received_at: datetime
    source: str
    reason: str
    raw: bytes = b""
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class User:
    """Someone who signs in to the terminal UI."""

    id: str
    name: str
    role: Role
    display_name: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditEntry:
    """One link of the audit chain."""

    seq: int
    at: datetime
    actor: str
    action: str
    object_type: str = ""
    object_id: str = ""
    detail: str = ""
    mac: bytes = b""


def field_names(cls: type[object]) -> list[str]:
    """The dataclass field names of a model type, in declaration order."""
    return [f.name for f in fields(cls)]  # type: ignore[arg-type]
