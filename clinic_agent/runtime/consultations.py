"""Remote consultation: a village doctor asks a specialist about a resident, and the answer comes back.

A consultation is a file entry (``model.Consultation``) queued for the platform like any other,
urgent and emergency ones first. What the specialist's side does comes down with the pull as the
Task tracking it (``ConsultationTask``) and replies (``ConsultationMessage``); the doctor's outcome
goes up as a message of the clinic's own. This module puts them together: what to attach, the
state of each request, and the doctor's actions on one.

States, honest about what is only on this PC:

- ``waiting``: made here, not yet confirmed by the platform (offline, or not synced yet);
- ``sent``: the platform has it; no one has taken it up yet;
- ``accepted``: the specialist's side accepted it or is working on it;
- ``answered``: a reply came down (a message, or an output of the Task), or one that cannot be shown
  here (a PDF alone: set aside with the reason, listed in ``unreadable``, to be read on the platform);
- ``closed``: the doctor recorded the outcome, withdrew it, or the specialist's side rejected or
  cancelled it (``closed_because`` says which).

A request another PC of the clinic made comes down with the pull and is shown like this PC's own;
``made_here`` says which it is (False: the copy here came from the platform).
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from clinic_agent.core import serde
from clinic_agent.core.errors import InvalidInput, RecordNotFound
from clinic_agent.core.model import (
    Consultation,
    ConsultationMessage,
    ConsultationOutcome,
    ConsultationTask,
    EntryKind,
    FollowUp,
    ReadingStatus,
    Urgency,
    new_id,
    utcnow,
)

if TYPE_CHECKING:
    from clinic_agent.runtime.agent import Agent

ENTRIES = "entries"
RECENT_DAYS = 30
STATES = ("waiting", "sent", "accepted", "answered", "closed")
_CLOSED_TASK = frozenset({"rejected", "cancelled", "failed", "entered-in-error"})
_ACCEPTED_TASK = frozenset({"received", "accepted", "in-progress", "on-hold", "ready"})
# The FHIR types of a specialist's side's replies, as the pull sets an unreadable one aside: equal to
# sync.fhir.consultation.REPLY_TYPES (a test says so), not imported: the API's methods load no sync module.
REPLY_TYPES = ("Task", "Communication", "DiagnosticReport")


def suggested_attachments(agent: Agent, resident_id: str, *, now: datetime | None = None) -> list[dict[str, Any]]:
    """What a request about this resident attaches unless the doctor says otherwise: the readings of the
    last 30 days, active conditions and allergies, and the last follow-up visit (with its medications)."""
    agent.store.residents.get(resident_id)
    since = (now or utcnow()) - timedelta(days=RECENT_DAYS)
    found: list[dict[str, Any]] = []
    readings, _ = agent.store.readings.for_resident(resident_id)
    for reading in sorted(readings, key=lambda r: r.taken_at, reverse=True):
        if reading.taken_at >= since and reading.status is ReadingStatus.FINAL and not reading.deleted:
            values = ", ".join(f"{q.value} {q.unit}" for q in reading.components)
            found.append(_item("reading", reading.id, reading.display or reading.code, values, reading.taken_at))
    entries, _ = agent.store.entries.for_resident(resident_id)
    for entry in entries:
        data = serde.to_json(entry)
        if entry.kind in (EntryKind.CONDITION, EntryKind.ALLERGY) and data.get("status", "active") == "active":
            label = data.get("name") or data.get("substance") or ""
            found.append(_item(entry.kind.value, entry.id, label, data.get("reaction") or "", None))
    visits = [e for e in entries if isinstance(e, FollowUp)]
    if visits:
        last = max(visits, key=lambda v: v.visit_date)
        drugs = "; ".join(f"{m.name} {m.dose}".strip() for m in last.medications)
        found.append(_item("follow_up", last.id, last.programme.value, drugs, None, on=last.visit_date.isoformat()))
    return found


def _item(
    kind: str, record_id: str, label: str, detail: str, at: datetime | None, on: str | None = None
) -> dict[str, Any]:
    return {
        "ref": f"{kind}:{record_id}",
        "kind": kind,
        "label": label,
        "detail": detail,
        "at": at.isoformat() if at is not None else on,
    }


def request(
    agent: Agent,
    *,
    resident_id: str,
    question: str,
    target: str,
    target_name: str = "",
    urgency: Urgency = Urgency.ROUTINE,
    attachments: tuple[str, ...],
    author: str = "",
    actor: str,
) -> Consultation:
    """Store a new request (encrypted, queued for the platform); refused with the reason when incomplete."""
    record = Consultation(
        id=new_id(),
        resident_id=resident_id,
        question=question.strip(),
        urgency=urgency,
        target=target.strip(),
        target_name=target_name.strip(),
        attachments=attachments,
        requested_at=utcnow(),
        author=author,
    )
    stored = agent.store.entries.add(record, actor=actor)
    if not isinstance(stored, Consultation):
        raise AssertionError("the store gave back another kind of entry")
    return stored


def _get(agent: Agent, consultation_id: str) -> Consultation:
    entry = agent.store.entries.get(consultation_id)
    if not isinstance(entry, Consultation) or entry.deleted:
        raise RecordNotFound(f"no consultation {consultation_id}")
    return entry


def withdraw(agent: Agent, consultation_id: str, *, actor: str) -> Consultation:
    """Withdraw a request: revoked on the platform, its Task cancelled."""
    current = _get(agent, consultation_id)
    if current.withdrawn:
        raise InvalidInput("this consultation has already been withdrawn")
    if _outcome(agent, current) is not None:
        raise InvalidInput("this consultation is closed: its outcome has been recorded")
    stored = agent.store.entries.update(dataclasses.replace(current, withdrawn=True), actor=actor)
    return _as_consultation(stored)


def add_information(
    agent: Agent, consultation_id: str, *, text: str = "", attachments: tuple[str, ...] = (), actor: str
) -> Consultation:
    """Add information to a request: a note, more attached records, or both."""
    current = _get(agent, consultation_id)
    if current.withdrawn:
        raise InvalidInput("this consultation has been withdrawn")
    text = text.strip()
    new = tuple(a for a in attachments if a not in current.attachments)
    if not text and not new:
        raise InvalidInput("nothing to add: give a text or a record not attached yet")
    changed = dataclasses.replace(
        current,
        added=(*current.added, text) if text else current.added,
        attachments=(*current.attachments, *new),
    )
    return _as_consultation(agent.store.entries.update(changed, actor=actor))


def record_outcome(
    agent: Agent,
    consultation_id: str,
    *,
    outcome: ConsultationOutcome,
    text: str = "",
    sender: str = "",
    actor: str,
) -> ConsultationMessage:
    """What the doctor did with the answer (advice followed, referred, could not reach the resident)."""
    current = _get(agent, consultation_id)
    if _outcome(agent, current) is not None:
        raise InvalidInput("the outcome of this consultation has already been recorded")
    remote = _remote_request(agent, current)
    if remote is None:
        raise InvalidInput("this consultation has not reached the platform yet: record the outcome after it is sent")
    message = ConsultationMessage(
        id=new_id(),
        resident_id=current.resident_id,
        request=remote,
        text=text.strip(),
        sent_at=utcnow(),
        sender=sender,
        outcome=outcome,
    )
    stored = agent.store.entries.add(message, actor=actor)
    if not isinstance(stored, ConsultationMessage):
        raise AssertionError("the store gave back another kind of entry")
    return stored


def _as_consultation(entry: Any) -> Consultation:
    if not isinstance(entry, Consultation):
        raise AssertionError("the store gave back another kind of entry")
    return entry


def _remote_request(agent: Agent, record: Consultation) -> str | None:
    state = agent.store.sync.load(ENTRIES, record.id)
    return f"ServiceRequest/{state.remote_id}" if state is not None and state.remote_id else None


def _outcome(agent: Agent, record: Consultation) -> ConsultationMessage | None:
    remote = _remote_request(agent, record)
    if remote is None:
        return None
    messages, _ = agent.store.entries.for_resident(record.resident_id, EntryKind.CONSULTATION_MESSAGE)
    return next((m for m in messages if isinstance(m, ConsultationMessage) and m.request == remote and m.outcome), None)


def overview(agent: Agent, *, resident_id: str | None = None) -> list[dict[str, Any]]:
    """Every consultation (of one resident, or of all), newest first, with its state, Task and messages."""
    if resident_id is not None:
        agent.store.residents.get(resident_id)
        entries, _ = agent.store.entries.for_resident(resident_id)
        requests = [e for e in entries if isinstance(e, Consultation)]
        tasks = [e for e in entries if isinstance(e, ConsultationTask)]
        messages = [e for e in entries if isinstance(e, ConsultationMessage)]
    else:
        found, _ = agent.store.entries.of_kind(EntryKind.CONSULTATION)
        requests = [e for e in found if isinstance(e, Consultation)]
        found, _ = agent.store.entries.of_kind(EntryKind.CONSULTATION_TASK)
        tasks = [e for e in found if isinstance(e, ConsultationTask)]
        found, _ = agent.store.entries.of_kind(EntryKind.CONSULTATION_MESSAGE)
        messages = [e for e in found if isinstance(e, ConsultationMessage)]
    here = _made_here(agent, [r.id for r in requests])
    unread = _unreadable(agent)
    shown = [_one(agent, r, tasks, messages, made_here=r.id in here, unreadable=unread) for r in requests]
    return sorted(shown, key=lambda c: c["requested_at"], reverse=True)


def open_first(shown: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The consultations not closed, as ``overview`` gives them: the answered ones (the doctor has an outcome to
    record) first, then those still waiting for the specialist's side; each part keeps its order (newest first)."""
    return sorted((c for c in shown if c["state"] != "closed"), key=lambda c: c["state"] != "answered")


def show(agent: Agent, consultation_id: str) -> dict[str, Any]:
    """One consultation, as ``overview`` shows it."""
    record = _get(agent, consultation_id)
    entries, _ = agent.store.entries.for_resident(record.resident_id)
    tasks = [e for e in entries if isinstance(e, ConsultationTask)]
    messages = [e for e in entries if isinstance(e, ConsultationMessage)]
    here = bool(_made_here(agent, [record.id]))
    return _one(agent, record, tasks, messages, made_here=here, unreadable=_unreadable(agent))


def _unreadable(agent: Agent) -> dict[str, list[str]]:
    """Replies set aside because they cannot be read here, by the request they answer: reasons, oldest first."""
    found: dict[str, list[str]] = {}
    for parked in agent.store.sync.parked(pulled=REPLY_TYPES):
        if parked.about:
            found.setdefault(parked.about, []).append(f"{parked.entity}/{parked.entity_id} {parked.reason}")
    return found


def _made_here(agent: Agent, consultation_ids: list[str]) -> set[str]:
    """Which of these requests were made on this PC: those whose creation is in this store's audit log.

    A request pulled from the platform (another PC of the clinic made it, or this PC before it was
    set up again) was written here by the sync, never created.
    """
    return agent.store.audit.with_action(consultation_ids, f"{EntryKind.CONSULTATION.value}.create")


def _one(
    agent: Agent,
    record: Consultation,
    tasks: list[ConsultationTask],
    messages: list[ConsultationMessage],
    *,
    made_here: bool,
    unreadable: dict[str, list[str]],
) -> dict[str, Any]:
    sync_state = agent.store.sync.record_state(ENTRIES, record.id)
    remote = _remote_request(agent, record)
    task = next((t for t in tasks if remote is not None and t.request == remote), None)
    mine = sorted((m for m in messages if remote is not None and m.request == remote), key=lambda m: m.sent_at)
    replies = [m for m in mine if m.outcome is None]
    outcome = next((m for m in mine if m.outcome is not None), None)
    answers = [*(task.outputs if task is not None else ()), *(m.text for m in replies)]
    unread = unreadable.get(remote, []) if remote is not None else []
    state, because = _state(record, remote, task, [*answers, *unread], outcome)
    data: dict[str, Any] = serde.to_json(record)
    data.update(
        state=state,
        closed_because=because,
        sync=sync_state,
        platform_id=remote,
        made_here=made_here,
        task=serde.to_json(task) if task is not None else None,
        replies=[serde.to_json(m) for m in replies],
        answers=answers,
        unreadable=unread,
        outcome=serde.to_json(outcome) if outcome is not None else None,
    )
    return data


def _state(
    record: Consultation,
    remote: str | None,
    task: ConsultationTask | None,
    answers: list[str],
    outcome: ConsultationMessage | None,
) -> tuple[str, str | None]:
    if outcome is not None:
        return "closed", "outcome"
    if record.withdrawn:
        return "closed", "withdrawn"
    if remote is None:
        return "waiting", None
    if answers or (task is not None and task.status == "completed"):
        return "answered", None
    if task is not None and task.status in _CLOSED_TASK:
        return "closed", task.status
    if task is not None and task.status in _ACCEPTED_TASK:
        return "accepted", None
    return "sent", None  # the platform has it: the specialist's side has not moved it on yet
