"""The shape of every method's parameters and reply: the typed half of the contract (``clinic_agent.api.contract``).

Each method of ``contract.METHODS`` has a ``Shape`` here: a TypedDict of the parameters a client may
send and the type of the reply the daemon sends back. The TUI and the CLI annotate what they read
with these types, so mypy rejects a read of a field the contract does not declare; at run time
``contract.check_params`` and ``contract.check_reply`` compare a real dict with its shape (the daemon
does so under ``CLINIC_AGENT_CONTRACT=strict``, as every test run does, and so does the TUI tests'
fake daemon). A field a reply may lack is ``NotRequired``; ``dict[str, Any]`` marks a part whose keys
are not declared here (a form's draft, a record of any table, the platform's enrolment details).

The records (``ResidentJson``, ``ReadingJson``, the entries) are the model's dataclasses as
``core.serde.to_json`` writes them; a test keeps their fields equal to the dataclasses' fields.
This module imports nothing of ours and no annotations are postponed: ``NotRequired`` is read at
run time.
"""

from dataclasses import dataclass
from typing import Any, NotRequired, TypedDict

# -- records, as core.serde writes the model's dataclasses ------------------------------------------------------


class QuantityJson(TypedDict):
    """One measured value: LOINC code, the value as the device wrote it, and its UCUM unit."""

    code: str
    value: str
    unit: str
    display: str
    system: str


class DeviceInfoJson(TypedDict):
    """The device a reading came from."""

    id: str
    model: str
    serial: str
    protocol: str


class ResidentJson(TypedDict):
    """A resident with a health file."""

    id: str
    id_number: str
    name: str
    sex: str
    birth_date: str
    health_record_number: str | None
    phone: str | None
    village: str | None
    address: str | None
    ethnicity: str | None
    key_populations: list[str]
    id_number_override: str | None
    version: int
    updated_at: str | None
    deleted: bool


class UserJson(TypedDict):
    """Someone who signs in to the terminal UI."""

    id: str
    name: str
    role: str
    display_name: str


class MedicationJson(TypedDict):
    """One drug on a follow-up form: name, times a day, dose each time."""

    name: str
    times_per_day: int | None
    dose: str


class AllergyJson(TypedDict):
    """An allergy or intolerance (药物过敏史 and others)."""

    id: str
    resident_id: str
    version: int
    updated_at: str | None
    deleted: bool
    substance: str
    category: str
    code: str | None
    reaction: str
    criticality: str | None
    status: str
    recorded_on: str | None
    note: str


class ConditionJson(TypedDict):
    """A diagnosed disease (既往史-疾病), with the date it was confirmed."""

    id: str
    resident_id: str
    version: int
    updated_at: str | None
    deleted: bool
    name: str
    code: str | None
    icd10: str | None
    diagnosed_on: str | None
    status: str
    note: str


class ProcedureJson(TypedDict):
    """A past surgery, trauma or transfusion, with its name or reason and date."""

    id: str
    resident_id: str
    version: int
    updated_at: str | None
    deleted: bool
    category: str
    name: str
    performed_on: str | None
    note: str


class FamilyHistoryJson(TypedDict):
    """A disease in a close relative (家族史)."""

    id: str
    resident_id: str
    version: int
    updated_at: str | None
    deleted: bool
    relation: str
    condition: str
    code: str | None
    note: str


class NoteJson(TypedDict):
    """A free-text note in the file."""

    id: str
    resident_id: str
    version: int
    updated_at: str | None
    deleted: bool
    text: str
    written_at: str
    author: str


class FollowUpJson(TypedDict):
    """A national hypertension or type 2 diabetes follow-up record (国家基本公共卫生服务规范, 3rd edition, 2017)."""

    id: str
    resident_id: str
    version: int
    updated_at: str | None
    deleted: bool
    programme: str
    visit_date: str
    method: str
    symptoms: list[str]
    other_symptoms: str
    sbp: int | None
    dbp: int | None
    weight_kg: str | None
    target_weight_kg: str | None
    bmi: str | None
    target_bmi: str | None
    heart_rate: int | None
    foot_pulse: str | None
    smoking_per_day: int | None
    target_smoking_per_day: int | None
    alcohol_liang_per_day: str | None
    target_alcohol_liang_per_day: str | None
    exercise_times_per_week: int | None
    exercise_minutes: int | None
    target_exercise_times_per_week: int | None
    target_exercise_minutes: int | None
    salt_intake: str | None
    target_salt_intake: str | None
    staple_food_g: int | None
    target_staple_food_g: int | None
    psychological: str | None
    compliance: str | None
    fasting_glucose: str | None
    hba1c: str | None
    hba1c_date: str | None
    tests: str
    adherence: str | None
    adverse_reaction: str
    hypoglycaemia: str | None
    classification: str | None
    medications: list[MedicationJson]
    insulin: str
    referral_reason: str
    referral_to: str
    next_visit: str | None
    doctor: str


class ConsultationJson(TypedDict):
    """A request to a specialist (county or township hospital) for advice about a resident."""

    id: str
    resident_id: str
    version: int
    updated_at: str | None
    deleted: bool
    question: str
    urgency: str
    target: str
    target_name: str
    attachments: list[str]
    added: list[str]
    requested_at: str
    author: str
    withdrawn: bool


class ConsultationTaskJson(TypedDict):
    """The platform's Task tracking a consultation, as last read from it (never edited here)."""

    id: str
    resident_id: str
    version: int
    updated_at: str | None
    deleted: bool
    request: str
    status: str
    reason: str
    owner: str
    outputs: list[str]


class ConsultationMessageJson(TypedDict):
    """A message about a consultation: the specialist's reply, or the clinic's outcome (``outcome`` set)."""

    id: str
    resident_id: str
    version: int
    updated_at: str | None
    deleted: bool
    request: str
    text: str
    sent_at: str
    sender: str
    outcome: str | None


class ReadingJson(TypedDict):
    """One measurement event (a BP reading holds systolic, diastolic, mean and pulse)."""

    id: str
    resident_id: str | None
    code: str
    components: list[QuantityJson]
    taken_at: str
    received_at: str
    display: str
    device_time: str | None
    device: DeviceInfoJson | None
    source: str
    flags: list[str]
    dedupe_key: str | None
    frame_id: str | None
    subject_hint: str | None
    extreme_reason: str | None
    status: str
    version: int
    updated_at: str | None
    deleted: bool
    alerts: list[str]  # the critical reasons (core.rules), added by the API


EntryJson = (
    AllergyJson
    | ConditionJson
    | ProcedureJson
    | FamilyHistoryJson
    | NoteJson
    | FollowUpJson
    | ConsultationJson
    | ConsultationTaskJson
    | ConsultationMessageJson
)


class ProblemJson(TypedDict):
    """A row that could not be read (damaged or tampered with): shown to the doctor, never dropped silently."""

    table: str
    row_id: str
    message: str


# -- parameters and replies, method by method ---------------------------------------------------------------


class NoParams(TypedDict):
    """A method that takes no parameters."""


class Empty(TypedDict):
    """A reply without fields."""


# the daemon's own methods


class DaemonJson(TypedDict):
    running: bool
    pid: int
    uptime_s: float
    sessions: int


class SlotJson(TypedDict):
    type: str
    name: str


class StatusReply(TypedDict):
    """No personal data: counts, key slots, the disk; the daemon, sync and devices add their parts."""

    home: str
    store_id: str
    locked: bool
    residents: int
    entries: int
    readings: int
    unassigned_readings: int
    critical_readings: int
    sealed_waiting: int
    quarantined: int
    frames: int
    users: int
    audit_entries: int
    outbox: dict[str, int]
    slots: list[SlotJson]
    data_keys: list[str] | None
    disk_free_mib: int
    disk_low: bool
    daemon: NotRequired[DaemonJson]  # through the daemon only
    sync: NotRequired["SyncStatusReply"]  # while the sync service runs
    devices: NotRequired[list["DeviceJson"]]  # while the device service runs


class UnlockParams(TypedDict, total=False):
    passphrase: str
    recovery_code: str  # instead of the passphrase
    user: str
    os_user: str


class UnlockReply(TypedDict):
    unlocked: bool
    slot: str
    sealed_opened: int
    sealed_failed: list[str]


class LockReply(TypedDict):
    locked: bool


class AuthPassphraseParams(TypedDict):
    passphrase: str
    user: NotRequired[str]
    os_user: NotRequired[str]


class AuthPassphraseReply(TypedDict):
    session: str
    actor: str


class LoginParams(TypedDict):
    user: str
    pin: str


class LoginReply(TypedDict):
    session: str
    user: str
    role: str
    display_name: str
    idle_seconds: float


class LogoutReply(TypedDict):
    signed_out: bool


class WhoamiReply(TypedDict):
    actor: str
    role: str | None
    owner: bool


class SubscribeReply(TypedDict):
    subscribed: bool


# the store as a whole, keys, users


class AuditVerifyReply(TypedDict):
    ok: bool
    entries: int
    first_bad_seq: int | None
    problem: str | None
    anchor: Any
    findings: list[Any]
    restores: list[Any]
    rows_checked: int
    bad_rows: list[str]
    missing_rows: list[str]
    unaccounted_rows: list[str]


class KeyRotateParams(TypedDict, total=False):
    resume: bool


class KeyRotateReply(TypedDict):
    current: str
    reencrypted: int
    retired: list[str]
    kept: list[str]
    unreadable_rows: int


class PassphraseChangeParams(TypedDict):
    passphrase: str
    new_passphrase: str
    user: NotRequired[str]


class PassphraseAddParams(TypedDict):
    user: str
    new_passphrase: str


class PassphraseReply(TypedDict):
    user: str


class UserAddParams(TypedDict):
    name: str
    role: str
    pin: str
    display_name: NotRequired[str]


class UserListReply(TypedDict):
    users: list[UserJson]


class UserNameParams(TypedDict):
    name: str


class UserUnblockReply(TypedDict):
    name: str
    forgotten: Any


# residents and their files


class ResidentFields(TypedDict):
    """What a doctor types for a resident; sex and birth date default to what the ID number holds."""

    id_number: str
    name: str
    sex: NotRequired[str]
    birth_date: NotRequired[str]
    health_record_number: NotRequired[str | None]
    phone: NotRequired[str | None]
    village: NotRequired[str | None]
    address: NotRequired[str | None]
    ethnicity: NotRequired[str | None]
    key_populations: NotRequired[list[str]]
    id_number_override: NotRequired[str | None]


class ResidentUpdateParams(ResidentFields):
    id: str
    version: int


class ResidentParams(TypedDict):
    """A resident by id, ID card number or health-record number."""

    resident: str


class ResidentListReply(TypedDict):
    residents: list[ResidentJson]
    problems: list[ProblemJson]


class SearchParams(TypedDict):
    text: str
    limit: NotRequired[int]


class SearchMatchJson(TypedDict):
    id: str
    name: str
    matched_by: str


class ResidentSearchReply(TypedDict):
    matches: list[SearchMatchJson]
    problems: list[ProblemJson]  # matches left out: their rows failed the integrity check


class LookupMatchJson(TypedDict):
    """One resident found as the doctor types, with what tells two of the same name apart."""

    id: str
    name: str
    matched_by: str
    sex: str
    birth_date: str
    village: str
    id_number: str
    health_record_number: str
    key_populations: list[str]


class ResidentLookupReply(TypedDict):
    matches: list[LookupMatchJson]
    problems: list[ProblemJson]  # matches left out: their rows failed the integrity check


class ResidentFileParams(TypedDict):
    resident: str
    readings: NotRequired[int]  # at most this many readings, newest first


class FileEntriesJson(TypedDict):
    """A file's entries by kind (``core.model.EntryKind``)."""

    allergy: list[AllergyJson]
    condition: list[ConditionJson]
    procedure: list[ProcedureJson]
    family_history: list[FamilyHistoryJson]
    note: list[NoteJson]
    follow_up: list[FollowUpJson]
    consultation: list[ConsultationJson]
    consultation_task: list[ConsultationTaskJson]
    consultation_message: list[ConsultationMessageJson]


class ResidentFileReply(TypedDict):
    resident: ResidentJson
    entries: FileEntriesJson
    readings: list[ReadingJson]
    problems: list[ProblemJson]


class HistoryParams(TypedDict):
    resident: str
    limit: NotRequired[int]


class HistoryItemJson(TypedDict):
    at: str
    actor: str
    action: str
    object_type: str
    object_id: str
    fields: list[str]  # the fields an update changed (names only)


class ResidentHistoryReply(TypedDict):
    history: list[HistoryItemJson]


class EntryAddParams(TypedDict):
    kind: str
    resident_id: str
    fields: dict[str, Any]  # the entry kind's fields (core.model)


class EntryUpdateParams(TypedDict):
    kind: str
    id: str
    version: int
    fields: dict[str, Any]


class EntryDeleteParams(TypedDict):
    kind: str
    id: str


class DraftSaveParams(TypedDict):
    draft: dict[str, Any]  # an unfinished form, as the TUI keeps it


class IdReply(TypedDict):
    id: str


class DraftJson(TypedDict):
    id: str
    saved_at: str
    draft: dict[str, Any]


class DraftListReply(TypedDict):
    drafts: list[DraftJson]
    problems: int


class IdParams(TypedDict):
    id: str


class DeletedReply(TypedDict):
    deleted: bool


class PrefillParams(TypedDict):
    resident: str
    programme: str


class PrefillReply(TypedDict):
    """What a new follow-up form starts with (core.clinic_day), and the last visits to compare."""

    resident: ResidentJson
    today: str
    fields: dict[str, Any]  # follow-up fields (FollowUpJson's names) worked out from readings and the last visit
    sources: dict[str, str]  # field -> the reading it came from
    previous: list[FollowUpJson]
    height_cm: str | None
    limits: dict[str, str]  # the clinic's thresholds (runtime.config.Thresholds)


class HomeParams(TypedDict, total=False):
    limit: int
    days_ahead: int


class DueJson(TypedDict):
    resident_id: str
    name: str
    programme: str
    due: str
    overdue: bool
    last_visit: str | None
    visits_last_year: int
    rule: str


class AlertJson(TypedDict):
    reading_id: str
    resident_id: str | None
    name: str
    taken_at: str
    reasons: list[str]
    codes: list[str]


class TodaysReadingJson(ReadingJson):
    name: str  # the resident's, empty for an unassigned reading
    acknowledged: bool


class HomeSummaryReply(TypedDict):
    today: str
    unassigned: list[ReadingJson]
    unassigned_total: int
    due: list[DueJson]
    alerts: list[AlertJson]
    today_readings: list[TodaysReadingJson]
    problems: int


# remote consultation


class TargetJson(TypedDict):
    target: str
    name: str
    source: str  # config | platform


class ConsultTargetsReply(TypedDict):
    targets: list[TargetJson]
    fetched_at: str | None


class ResidentIdParams(TypedDict):
    resident_id: str


class AttachmentJson(TypedDict):
    ref: str  # kind:record-id
    kind: str
    label: str
    detail: str
    at: str | None


class ConsultAttachmentsReply(TypedDict):
    attachments: list[AttachmentJson]


class ConsultRequestParams(TypedDict):
    resident_id: str
    question: NotRequired[str]
    target: NotRequired[str]
    target_name: NotRequired[str]
    urgency: NotRequired[str]
    attachments: NotRequired[list[str]]


class ConsultListParams(TypedDict, total=False):
    resident_id: str


class ConsultShowReply(ConsultationJson):
    """A consultation with where it stands: its Task, the replies, and the outcome recorded."""

    state: str  # waiting | sent | accepted | answered | closed
    closed_because: str | None
    sync: str
    platform_id: str | None
    made_here: bool  # False: it came down from the platform (another PC of the clinic made it)
    task: ConsultationTaskJson | None
    replies: list[ConsultationMessageJson]
    answers: list[str]
    unreadable: list[str]  # replies set aside, not shown here (a PDF alone): "<Type>/<id> <reason>"
    outcome: ConsultationMessageJson | None


class ConsultListItemJson(ConsultShowReply):
    resident_name: str


class ConsultListReply(TypedDict):
    consultations: list[ConsultListItemJson]


class ConsultAddParams(TypedDict):
    id: str
    text: NotRequired[str]
    attachments: NotRequired[list[str]]


class ConsultOutcomeParams(TypedDict):
    id: str
    outcome: str
    text: NotRequired[str]


class ConsultOutcomeReply(ConsultShowReply):
    message: ConsultationMessageJson


class LimitParams(TypedDict, total=False):
    limit: int


class AwaitingJson(TypedDict):
    """A consultation not closed yet, as home's panel shows it (``consult.awaiting``)."""

    id: str
    resident_id: str
    resident_name: str
    target: str
    target_name: str
    urgency: str
    requested_at: str
    state: str  # waiting | sent | accepted | answered
    question: str
    answer: str  # the latest answer, when there is one


class ConsultAwaitingReply(TypedDict):
    consultations: list[AwaitingJson]


# readings


class QuantityParams(TypedDict):
    code: str
    value: str
    unit: str
    display: NotRequired[str]


class ReadingAddParams(TypedDict):
    """A typed reading: one value (code, value, unit) or ``components``."""

    code: str
    value: NotRequired[str]
    unit: NotRequired[str]
    display: NotRequired[str]
    components: NotRequired[list[QuantityParams]]
    resident: NotRequired[str]
    taken_at: NotRequired[str]
    source: NotRequired[str]
    device: NotRequired[str]
    confirm_extreme: NotRequired[str]


class ReadingAddReply(TypedDict):
    id: str
    duplicate: bool
    sealed: bool
    alerts: list[str]
    resident_id: str | None
    extreme_reason: str | None


class ReadingGetReply(ReadingJson):
    resident_name: NotRequired[str]  # when the reading has its resident


class ReadingsReply(TypedDict):
    readings: list[ReadingJson]
    problems: list[ProblemJson]


class ReadingAssignParams(TypedDict):
    id: str
    resident: str


class AcknowledgeReply(TypedDict):
    id: str
    acknowledged: bool


class CandidateJson(TypedDict):
    id: str
    name: str
    id_number: str
    birth_date: str
    sex: str
    village: str
    matched_by: str


class ReadingSuggestReply(TypedDict):
    reading: ReadingJson
    hint: str
    candidates: list[CandidateJson]


# devices


class DeviceJson(TypedDict):
    name: str
    kind: str
    protocol: str
    where: str
    state: str
    detail: str


class DeviceListReply(TypedDict):
    devices: list[DeviceJson]
    daemon: bool


class DeviceIngestParams(TypedDict):
    protocol: str
    hex: str
    resident: NotRequired[str]
    device: NotRequired[str]


class ReceiptJson(TypedDict):
    stored: list[str]
    duplicates: list[str]
    quarantined: int
    failed: int


class DeviceReloadReply(TypedDict):
    reloaded: bool
    stopped: NotRequired[list[str]]
    started: NotRequired[list[str]]


# the regional platform


class SyncStatusReply(TypedDict):
    state: str
    online: bool
    platform: str | None
    last_sync: str | None
    last_error: str | None
    pending: int
    parked: int
    conflicts: int
    progress: NotRequired[dict[str, Any]]  # while a pull runs: type, records, total, seconds left
    records: NotRequired[dict[str, int]]  # local, sent, confirmed


class SyncNowParams(TypedDict, total=False):
    wait: bool


class SyncNowReply(TypedDict, total=False):
    """The run's report, or only ``started`` when not waiting for it."""

    started: bool
    pushed: int
    pulled: int
    adopted: int
    parked: int
    conflicts: int
    errors: list[str]
    audit: Any


class SmartParams(TypedDict):
    client_id: str
    token_url: str
    scope: NotRequired[str]


class SyncEnrollParams(TypedDict):
    platform: str
    token: NotRequired[str]
    smart: NotRequired[SmartParams]


class SyncEnrollReply(TypedDict):
    platform: str
    auth: str
    public_jwk: Any
    warning: str | None
    organization_id: NotRequired[str | None]
    registration_needed: NotRequired[bool]
    consultation_targets: NotRequired[Any]


class ConflictJson(TypedDict):
    id: str
    entity: str
    entity_id: str
    kind: str
    resident_id: str | None
    resident_name: NotRequired[str]  # whose file, when this PC can read the resident
    fields: list[str]
    created_at: str


class ConflictListReply(TypedDict):
    conflicts: list[ConflictJson]


class ConflictFieldJson(TypedDict):
    name: str
    base: Any
    local: Any
    remote: Any


class ConflictGetReply(TypedDict):
    id: str
    entity: str
    entity_id: str
    kind: str
    resident_id: str | None
    fields: list[ConflictFieldJson]
    created_at: str


class ConflictResolveParams(TypedDict):
    id: str
    choices: dict[str, Any]  # field -> "local" | "remote" | {"value": ...}


class ParkedJson(TypedDict):
    seq: int
    entity: str
    entity_id: str
    kind: str
    reason: str
    since: str


class ParkedListReply(TypedDict):
    parked: list[ParkedJson]


class SeqParams(TypedDict):
    seq: int


class ParkedRetryReply(TypedDict):
    seq: int
    queued: bool


class SyncStateParams(TypedDict):
    entity: str
    entity_id: str


# backups and the technician's checks


class BackupJson(TypedDict):
    path: str
    name: str
    store_id: str
    created_at: str
    agent_version: str
    schema: str
    audit_entries: int
    readings: int
    residents: int
    bytes: int
    audit_verified: bool


class BackupListReply(TypedDict):
    backups: list[BackupJson]


class BackupReadParams(TypedDict):
    name: str
    file: str
    offset: int


class BackupReadReply(TypedDict):
    data: str  # base64
    eof: bool


class CheckJson(TypedDict):
    check: str
    outcome: str
    detail: str


class DoctorSyncReply(TypedDict):
    locked: bool
    platform: str | None
    oldest_unsent: str | None
    pending: int
    parked: int
    sealed: int


# -- the table ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Shape:
    """What a method takes and what it answers."""

    params: type  # a TypedDict
    reply: Any  # a TypedDict, list[...] of one, or a plain type


SHAPES: dict[str, Shape] = {
    # answered by the daemon's socket server itself
    "status": Shape(NoParams, StatusReply),
    "unlock": Shape(UnlockParams, UnlockReply),
    "lock": Shape(NoParams, LockReply),
    "auth.passphrase": Shape(AuthPassphraseParams, AuthPassphraseReply),
    "login": Shape(LoginParams, LoginReply),
    "logout": Shape(NoParams, LogoutReply),
    "whoami": Shape(NoParams, WhoamiReply),
    "events.subscribe": Shape(NoParams, SubscribeReply),
    "ping": Shape(NoParams, str),
    # the store as a whole, keys, users
    "audit.verify": Shape(NoParams, AuditVerifyReply),
    "key.rotate": Shape(KeyRotateParams, KeyRotateReply),
    "passphrase.change": Shape(PassphraseChangeParams, PassphraseReply),
    "passphrase.add": Shape(PassphraseAddParams, PassphraseReply),
    "user.add": Shape(UserAddParams, UserJson),
    "user.list": Shape(NoParams, UserListReply),
    "user.unblock": Shape(UserNameParams, UserUnblockReply),
    # residents and their files
    "resident.add": Shape(ResidentFields, ResidentJson),
    "resident.update": Shape(ResidentUpdateParams, ResidentJson),
    "resident.get": Shape(ResidentParams, ResidentJson),
    "resident.list": Shape(NoParams, ResidentListReply),
    "resident.search": Shape(SearchParams, ResidentSearchReply),
    "resident.lookup": Shape(SearchParams, ResidentLookupReply),
    "resident.file": Shape(ResidentFileParams, ResidentFileReply),
    "resident.history": Shape(HistoryParams, ResidentHistoryReply),
    "entry.add": Shape(EntryAddParams, EntryJson),
    "entry.update": Shape(EntryUpdateParams, EntryJson),
    "entry.delete": Shape(EntryDeleteParams, EntryJson),
    "draft.save": Shape(DraftSaveParams, IdReply),
    "draft.list": Shape(NoParams, DraftListReply),
    "draft.delete": Shape(IdParams, DeletedReply),
    "followup.prefill": Shape(PrefillParams, PrefillReply),
    "home.summary": Shape(HomeParams, HomeSummaryReply),
    # remote consultation
    "consult.targets": Shape(NoParams, ConsultTargetsReply),
    "consult.attachments": Shape(ResidentIdParams, ConsultAttachmentsReply),
    "consult.request": Shape(ConsultRequestParams, ConsultShowReply),
    "consult.list": Shape(ConsultListParams, ConsultListReply),
    "consult.show": Shape(IdParams, ConsultShowReply),
    "consult.withdraw": Shape(IdParams, ConsultShowReply),
    "consult.add": Shape(ConsultAddParams, ConsultShowReply),
    "consult.outcome": Shape(ConsultOutcomeParams, ConsultOutcomeReply),
    "consult.awaiting": Shape(LimitParams, ConsultAwaitingReply),
    # readings
    "reading.add": Shape(ReadingAddParams, ReadingAddReply),
    "reading.get": Shape(IdParams, ReadingGetReply),
    "reading.unassigned": Shape(LimitParams, ReadingsReply),
    "reading.assign": Shape(ReadingAssignParams, ReadingJson),
    "reading.acknowledge": Shape(IdParams, AcknowledgeReply),
    "reading.suggest": Shape(IdParams, ReadingSuggestReply),
    # devices
    "device.list": Shape(NoParams, DeviceListReply),
    "device.ingest": Shape(DeviceIngestParams, ReceiptJson),
    "device.reload": Shape(NoParams, DeviceReloadReply),
    # the regional platform
    "sync.status": Shape(NoParams, SyncStatusReply),
    "sync.now": Shape(SyncNowParams, SyncNowReply),
    "sync.enroll": Shape(SyncEnrollParams, SyncEnrollReply),
    "conflict.list": Shape(NoParams, ConflictListReply),
    "conflict.get": Shape(IdParams, ConflictGetReply),
    "conflict.resolve": Shape(ConflictResolveParams, dict[str, Any]),  # the resolved record, of any synced table
    "parked.list": Shape(NoParams, ParkedListReply),
    "parked.retry": Shape(SeqParams, ParkedRetryReply),
    "record.sync_state": Shape(SyncStateParams, str),  # local | sent | confirmed
    # backups and the technician's checks
    "backup.create": Shape(NoParams, BackupJson),
    "backup.list": Shape(NoParams, BackupListReply),
    "backup.read": Shape(BackupReadParams, BackupReadReply),
    "doctor.files": Shape(NoParams, list[CheckJson]),
    "doctor.sync": Shape(NoParams, DoctorSyncReply),
}
