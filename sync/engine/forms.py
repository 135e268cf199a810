"""Records that go up as more than one resource, and the Questionnaires their forms answer.

A follow-up is one record (its QuestionnaireResponse, which push sends like any record) with
*parts*: the visit's Encounter and an Observation per measured value (``sync.fhir.followup``).
``part_requests`` adds them to the same transaction as the form, each effectively once like any
create: a conditional create on its own urn:uuid identifier the first time (a PUT to its client id
where the platform cannot search by identifier), and once the form has been confirmed a PUT to the
part's id with If-Match on the part's own version (``sync.engine.parts``: a part edited on the
platform is merged or goes to the doctor, never replaced unseen), or where no version is kept (a
part added since, such as a weight typed in later) a conditional update by that identifier. A part
the form no longer has (a value cleared) and every part of a deleted form go up as
``entered-in-error``. The form itself carries If-Match on update: a
platform copy changed since we last saw it refuses the whole transaction, parts included.

A consultation is one record (its ServiceRequest) with one part, the Task tracking it
(``sync.fhir.consultation``): created with the request (a conditional create on the Task's own
identifier, ``focus`` the request's entry in the same transaction), and sent again only when the
request is withdrawn, as ``cancelled``: the Task is read from the platform first (``read_task``, at
every attempt, whether or not this PC ever pulled it) and the cancellation laid over that copy, the
specialist's side's owner, notes and outputs kept, with ``If-Match`` on its version; a Task they
ended already (completed, rejected ...) is left as it is.

A form names its Questionnaire by canonical URL and version; ``questionnaire_requests`` publishes
it once per platform: a conditional create on ``url`` and ``version`` where the platform searches
Questionnaires by url, otherwise a read of the id derived from the canonical and, only when the
platform does not have it, a PUT to that id in the same transaction as the first form.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote
from weakref import WeakKeyDictionary

from clinic_agent.core import serde
from clinic_agent.core.model import Consultation, ConsultationTask, FollowUp, Programme
from clinic_agent.core.sync_values import ENTRIES, READINGS, LocalState, Record
from sync.engine import parts
from sync.engine.engine import SyncEngine
from sync.engine.mapping import resource_type
from sync.errors import PlatformRejected
from sync.fhir import bundle, codes, consultation, followup, questionnaire
from sync.fhir.bundle import RequestEntry, SearchPage
from sync.fhir.codes import Namespace
from sync.fhir.common import (
    Reference,
    bundle_reference,
    entry_url,
    fhir_id,
    find_identifier,
    identifier_query,
    identifier_value,
    reference,
    token,
)

# Types whose local deletion goes up as status entered-in-error: clinical documents are never hard-deleted.
RETRACTED = frozenset({"DocumentReference", "QuestionnaireResponse", "ServiceRequest", "Communication"})
_PUBLISHED: WeakKeyDictionary[SyncEngine, set[str]] = WeakKeyDictionary()


def retracts(record: Record) -> bool:
    """True when deleting the record here marks it entered-in-error upstream instead of a DELETE."""
    return resource_type(record) in RETRACTED


def part_requests(
    engine: SyncEngine, state: LocalState, subject: Reference | None, *, task: TaskCopy | None = None
) -> list[RequestEntry]:
    """The requests for a record's parts, to go in the same transaction as the record (none for most).

    ``task``: a withdrawn consultation's Task as just read from the platform (``read_task``).
    """
    record = state.record
    organization = reference("Organization", engine.options.organization_id) if engine.options.organization_id else None
    if isinstance(record, Consultation) and subject is not None:
        return _task_requests(engine, state, record, subject, organization, task)
    if not isinstance(record, FollowUp) or subject is None:
        return []
    update = state.remote_version is not None
    ns = engine.options.namespace
    current = followup.parts(record, subject=subject, organization=organization, ns=ns)
    known = engine.store.part_versions(record.id) if state.remote_id is not None else {}  # If-Match on each part
    entries = [parts.update(part, known) or _part_request(engine, part, update=update) for part in current]
    previous = _previous(record, state.base)
    if previous is not None and not record.deleted:
        gone = followup.part_names(previous) - followup.part_names(record)
        retracted = dataclasses.replace(previous, deleted=True)
        for part in followup.parts(retracted, subject=subject, organization=organization, ns=ns):
            if part.name in gone:
                entries.append(parts.update(part, known) or _part_request(engine, part, update=True))
    return entries


@dataclass(frozen=True, slots=True)
class TaskCopy:
    """A consultation's Task as the platform holds it (None: it has none), read just before a withdrawal."""

    resource: dict[str, Any] | None


def cancels_task(state: LocalState) -> bool:
    """True when sending this record withdraws a consultation: its Task is to be cancelled."""
    record = state.record
    if not isinstance(record, Consultation) or (state.remote_version is None and state.base is None):
        return False
    was_withdrawn = bool(state.base and (state.base.get("withdrawn") or state.base.get("deleted")))
    return (record.withdrawn or record.deleted) and not was_withdrawn


async def read_task(engine: SyncEngine, record_id: str) -> TaskCopy:
    """The consultation's Task as the platform holds it now, found by its identifier.

    Read at every attempt, whether or not this PC ever pulled it: the cancellation is laid over it
    (the specialist's owner, notes and outputs kept) and sent with If-Match on this version.
    """
    value = identifier_value(consultation.task_id(record_id))
    found: list[dict[str, Any]] = []
    page: SearchPage | None = await engine.call(
        engine.platform.search, "Task", [("identifier", token(codes.UUID_SYSTEM, value))]
    )
    while page is not None:
        found += [
            r
            for r in page.resources
            if r.get("resourceType") == "Task" and find_identifier(r, codes.UUID_SYSTEM) == value
        ]
        page = await engine.call(engine.platform.next_page, page)
    return TaskCopy(found[0] if len(found) == 1 else None)


def _task_requests(
    engine: SyncEngine,
    state: LocalState,
    record: Consultation,
    subject: Reference,
    organization: Reference | None,
    copy: TaskCopy | None,
) -> list[RequestEntry]:
    """A consultation's Task: created with the request, cancelled with its withdrawal, else left to the platform."""
    request = bundle_reference(record.id)
    task_id = consultation.task_id(record.id)
    if state.remote_version is None and state.base is None:
        resource = consultation.task(record, subject=subject, request=request, organization=organization)
        return [_part_request(engine, consultation.TaskPart(task_id, resource), update=False)]
    if not cancels_task(state):
        return []
    current = copy.resource if copy is not None else None
    version = (current.get("meta") or {}).get("versionId") if current is not None else None
    if current is not None and isinstance(version, str):
        if current.get("status") in consultation.ENDED_TASK:
            return []  # the specialist's side ended it already (completed, rejected ...): that stands
        cancelled = {**current, "status": "cancelled"}  # theirs, with only the status ours
        return [bundle.put(cancelled, str(current["id"]), version_id=version, record_id=task_id)]
    # Not read (a caller without ``read_task``), or not found by its identifier: as before, a conditional
    # update by the identifier, which versions.transaction reads again and sends with If-Match.
    mirror = engine.store.load(ENTRIES, task_id)
    outputs = mirror.record.outputs if mirror is not None and isinstance(mirror.record, ConsultationTask) else ()
    resource = consultation.task(record, subject=subject, request=request, organization=organization, outputs=outputs)
    return [_part_request(engine, consultation.TaskPart(task_id, resource), update=True)]


def attach_references(engine: SyncEngine, record: Record, resource: dict[str, Any] | None) -> None:
    """Give each attachment of a consultation the literal reference of its resource, where the platform has it."""
    if not isinstance(record, Consultation) or resource is None:
        return
    for info, attachment in zip(resource.get("supportingInfo") or [], record.attachments, strict=False):
        kind, _, record_id = attachment.partition(":")
        state = engine.store.load(READINGS if kind == "reading" else ENTRIES, record_id)
        if state is not None and state.remote_id is not None:
            info["reference"] = f"{info['type']}/{state.remote_id}"


def _previous(record: FollowUp, base: dict[str, Any] | None) -> FollowUp | None:
    """The follow-up as last synced (its base copy), to see which parts it had."""
    if base is None:
        return None
    try:
        return serde.from_json(FollowUp, {**base, "id": record.id, "resident_id": record.resident_id})
    except Exception:  # noqa: BLE001 - a base copy from an older mapping: no parts to retract
        return None


def _part_request(engine: SyncEngine, part: followup.Part | consultation.TaskPart, *, update: bool) -> RequestEntry:
    kind = str(part.resource["resourceType"])
    if engine.capabilities.create_by(kind) != "conditional-create":
        return bundle.put(part.resource, fhir_id(part.record_id), record_id=part.record_id, create_only=not update)
    if not update:
        return bundle.create(part.resource, part.record_id)
    return RequestEntry(
        method="PUT",
        url=f"{kind}?{identifier_query(codes.UUID_SYSTEM, identifier_value(part.record_id))}",
        resource=part.resource,
        full_url=entry_url(part.record_id),
    )


def published(engine: SyncEngine) -> set[str]:
    """The Questionnaires (``canonical|version``) this engine knows the platform holds."""
    return _PUBLISHED.setdefault(engine, set())


async def questionnaire_requests(engine: SyncEngine, records: Sequence[Record]) -> tuple[list[RequestEntry], set[str]]:
    """Requests publishing the Questionnaires these records' forms answer, where the platform lacks them.

    Returns the requests and the ``canonical|version`` they publish (mark them ``published`` once
    the transaction carrying them is confirmed).
    """
    needed = {r.programme for r in records if isinstance(r, FollowUp) and not r.deleted}
    known = published(engine)
    ns = engine.options.namespace
    entries: list[RequestEntry] = []
    names: set[str] = set()
    for programme in sorted(needed):
        name = questionnaire.versioned(programme, ns)
        if name in known:
            continue
        if _by_url(engine):
            entries.append(_conditional_publish(programme, ns))
            names.add(name)
            continue
        try:
            await engine.call(engine.platform.read, "Questionnaire", questionnaire.resource_id(programme, ns))
        except PlatformRejected as exc:
            if exc.status not in (404, 410):
                raise
            published_id = questionnaire.resource_id(programme, ns)
            entries.append(bundle.put(questionnaire.to_fhir(programme, ns), published_id, create_only=True))
            names.add(name)
            continue
        known.add(name)
    return entries, names


def _by_url(engine: SyncEngine) -> bool:
    return (
        engine.capabilities.searchable("Questionnaire", "url")
        and engine.capabilities.searchable("Questionnaire", "version")
        and engine.capabilities.create_by("Questionnaire") is not None
        and engine.capabilities.resources["Questionnaire"].conditional_create
    )


def _conditional_publish(programme: Programme, ns: Namespace) -> RequestEntry:
    query = f"url={quote(questionnaire.canonical(programme, ns), safe=':/')}&version={quote(questionnaire.VERSION)}"
    return RequestEntry(
        method="POST", url="Questionnaire", resource=questionnaire.to_fhir(programme, ns), if_none_exist=query
    )
