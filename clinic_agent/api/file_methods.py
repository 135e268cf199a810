"""API methods the terminal UI needs beyond the basic operations: home summary, history, prefill, suggestions.

They only read. Follow-up scheduling and classification come from ``clinic_agent.core.rules``, with the
thresholds of the ``[alerts]`` configuration.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any

from clinic_agent.api.methods import (
    CLINICAL,
    MethodTable,
    find_resident,
    found_detail,
    listed_residents,
    problems_json,
    reading_json,
    resident_json,
)
from clinic_agent.api.params import Params
from clinic_agent.core import clinic_day, rules, serde
from clinic_agent.core.errors import ClinicAgentError, InvalidInput, RecordNotFound
from clinic_agent.core.idnumber import normalise_id_number, parse_id_number
from clinic_agent.core.model import (
    Condition,
    EntryKind,
    FollowUp,
    KeyPopulation,
    Programme,
    Resident,
)
from clinic_agent.runtime.agent import Agent, Caller

METHODS = MethodTable()  # joined with the others in clinic_agent.api.registry
method = METHODS.method

# Audit actions that change a file (views and searches are audited too, but they are not changes).
_CHANGES = ("create", "update", "delete", "assign", "entered_in_error")


def local_today(agent: Agent) -> date:
    """The clinic's calendar day (the PC's time zone)."""
    return agent.clock().astimezone().date()


# -- the programme roster: which residents are in which follow-up programme ----------------------------------------


def _roster(agent: Agent) -> dict[str, frozenset[KeyPopulation]]:
    """Key-population flags per live resident id (no names), from the name index, brought up to date.

    The index carries each resident's flags (core/search.py) and is restored at unlock from its
    saved copy, so the first ``home.summary`` after an unlock decrypts no resident for them."""
    agent.refresh_index()
    return {resident_id: _known_flags(flags) for resident_id, flags in agent.index.key_populations().items()}


@lru_cache(maxsize=1024)  # residents share a few combinations of flags
def _known_flags(flags: tuple[str, ...]) -> frozenset[KeyPopulation]:
    known = {flag.value for flag in KeyPopulation}
    return frozenset(KeyPopulation(flag) for flag in flags if flag in known)


def programme_members(agent: Agent) -> dict[Programme, set[str]]:
    """Residents in each programme: by key-population flag or by a recorded active diagnosis."""
    conditions, _ = agent.store.entries.of_kind(EntryKind.CONDITION)
    return clinic_day.programme_members(_roster(agent), (c for c in conditions if isinstance(c, Condition)))


# -- home.summary -------------------------------------------------------------------------------------------------


def _name(agent: Agent, resident_id: str, cache: dict[str, str]) -> str:
    if resident_id not in cache:
        try:
            cache[resident_id] = agent.store.residents.get(resident_id).name
        except ClinicAgentError:
            cache[resident_id] = ""
    return cache[resident_id]


def due_follow_ups(agent: Agent, today: date, *, days_ahead: int, limit: int) -> list[dict[str, Any]]:
    """Follow-ups due within ``days_ahead`` days or overdue, soonest first."""
    visits: dict[str, list[FollowUp]] = {}
    entries, _ = agent.store.entries.of_kind(EntryKind.FOLLOW_UP)
    for entry in entries:
        if isinstance(entry, FollowUp):
            visits.setdefault(entry.resident_id, []).append(entry)
    found = clinic_day.due_follow_ups(
        programme_members(agent), visits, today, agent.config.thresholds, days_ahead=days_ahead
    )
    names: dict[str, str] = {}
    return [
        {
            "resident_id": resident_id,
            "name": _name(agent, resident_id, names),
            "programme": due.programme.value,
            "due": due.due.isoformat(),
            "overdue": due.overdue(today),
            "last_visit": due.last_visit.isoformat() if due.last_visit else None,
            "visits_last_year": due.visits_last_year,
            "rule": due.rule,
        }
        for resident_id, due in found[:limit]
    ]


def _alerts(agent: Agent, today: date, limit: int) -> list[dict[str, Any]]:
    since = datetime.combine(today - timedelta(days=7), datetime.min.time()).astimezone()
    readings, _ = agent.store.readings.critical_since(since, limit=limit)
    names: dict[str, str] = {}
    return [
        {
            "reading_id": r.id,
            "resident_id": r.resident_id,
            "name": _name(agent, r.resident_id, names) if r.resident_id else "",
            "taken_at": r.taken_at.isoformat(),
            "reasons": rules.critical_reasons(r, agent.config.thresholds),
            "codes": clinic_day.alert_codes(r, agent.config.thresholds),
        }
        for r in readings
    ]


def _todays(agent: Agent, today: date, limit: int) -> list[dict[str, Any]]:
    """Readings taken today, critical first, each with its resident's name and whether a doctor acknowledged it."""
    since = datetime.combine(today, datetime.min.time()).astimezone()
    readings, _ = agent.store.readings.taken_since(since, limit=limit)
    seen = {e.object_id for e in agent.store.audit.for_objects([r.id for r in readings], verbs=(ACKNOWLEDGE,))}
    names: dict[str, str] = {}
    found = [
        {
            **reading_json(r),
            "name": _name(agent, r.resident_id, names) if r.resident_id else "",
            "acknowledged": r.id in seen,
        }
        for r in readings
    ]
    return sorted(found, key=lambda r: not r["alerts"])  # stable: newest first within each group


ACKNOWLEDGE = "acknowledge"


@method("reading.acknowledge", roles=CLINICAL)
def _reading_acknowledge(agent: Agent, caller: Caller, params: Params) -> dict[str, Any]:
    """The doctor saw a reading (its entry in the audit log is the acknowledgement)."""
    reading = agent.store.readings.get(params.text("id", max_length=40))
    agent.store.audit.record(caller.actor, f"reading.{ACKNOWLEDGE}", "reading", reading.id)
    agent.publish("reading.acknowledged", {"id": reading.id, "resident_id": reading.resident_id})
    return {"id": reading.id, "acknowledged": True}


@method("home.summary", roles=CLINICAL)
def _home_summary(agent: Agent, caller: Caller, params: Params) -> dict[str, Any]:
    today = local_today(agent)
    limit = params.integer("limit", default=50, low=1, high=500)
    readings, problems = agent.store.readings.unassigned(limit=limit)
    due = due_follow_ups(agent, today, days_ahead=params.integer("days_ahead", default=7, high=60), limit=limit)
    agent.store.audit.record(caller.actor, "home.summary", "resident", "", f"{len(due)} due")
    return {
        "today": today.isoformat(),
        "unassigned": [reading_json(r) for r in readings],
        "unassigned_total": agent.store.readings.count_unassigned(),
        "due": due,
        "alerts": _alerts(agent, today, limit),
        "today_readings": _todays(agent, today, limit),
        "problems": len(problems),
    }


# -- resident.history ---------------------------------------------------------------------------------------------


@method("resident.history")
def _resident_history(agent: Agent, caller: Caller, params: Params) -> dict[str, Any]:
    resident = find_resident(agent, params.text("resident", max_length=40))
    ids = [resident.id, *agent.store.entries.ids_for_resident(resident.id)]
    limit = params.integer("limit", default=200, low=1, high=2000)
    entries = agent.store.audit.for_objects(ids, verbs=_CHANGES, limit=limit)
    agent.store.audit.record(caller.actor, "resident.view", "resident", resident.id, "history")
    return {
        "history": [
            {
                "at": e.at.isoformat(),
                "actor": e.actor,
                "action": e.action,
                "object_type": e.object_type,
                "object_id": e.object_id,
                "fields": _field_names(e.detail),
            }
            for e in entries
        ]
    }


def _field_names(detail: str) -> list[str]:
    """The audit detail of an update names fields only ("fields: a,b"); nothing else is passed on."""
    if not detail.startswith("fields: "):
        return []
    return [name for name in detail.removeprefix("fields: ").split(",") if name.isidentifier()]


# -- followup.prefill ---------------------------------------------------------------------------------------------


_CARRIED = (
    "target_weight_kg",
    "target_bmi",
    "target_smoking_per_day",
    "target_alcohol_liang_per_day",
    "target_exercise_times_per_week",
    "target_exercise_minutes",
    "target_salt_intake",
    "target_staple_food_g",
    "smoking_per_day",
    "alcohol_liang_per_day",
    "exercise_times_per_week",
    "exercise_minutes",
    "salt_intake",
    "staple_food_g",
    "medications",
    "insulin",
    "adherence",
)


@method("followup.prefill", roles=CLINICAL)
def _followup_prefill(agent: Agent, caller: Caller, params: Params) -> dict[str, Any]:
    resident = find_resident(agent, params.text("resident", max_length=40))
    try:
        programme = Programme(params.text("programme", max_length=20))
    except ValueError:
        raise InvalidInput("programme must be hypertension or diabetes") from None
    today = local_today(agent)
    readings, _ = agent.store.readings.for_resident(resident.id, limit=500)
    height = clinic_day.latest(readings, (clinic_day.HEIGHT,))
    fields, sources = clinic_day.prefill_fields(readings, today, Decimal(height[0]) if height else None)
    entries, _ = agent.store.entries.for_resident(resident.id, EntryKind.FOLLOW_UP)
    previous = sorted(
        (e for e in entries if isinstance(e, FollowUp) and e.programme is programme),
        key=lambda e: e.visit_date,
        reverse=True,
    )
    carried = {}
    if previous:
        last = serde.to_json(previous[0])
        carried = {k: last[k] for k in _CARRIED if last.get(k) not in (None, "", [])}
    limits = agent.config.thresholds
    agent.store.audit.record(caller.actor, "resident.view", "resident", resident.id, "follow-up prefill")
    return {
        "resident": resident_json(resident),
        "today": today.isoformat(),
        "fields": {**carried, **fields, "programme": programme.value, "visit_date": today.isoformat()},
        "sources": sources,
        "previous": [serde.to_json(p) for p in previous[:4]],
        "height_cm": height[0] if height else None,
        "limits": {k: str(v) for k, v in serde.to_json(limits).items()},
    }


# -- reading.suggest ----------------------------------------------------------------------------------------------


def _candidates(agent: Agent, hint: str) -> list[tuple[Resident, str]]:
    compact = normalise_id_number(hint)
    if len(compact) == 18:
        try:
            found = agent.store.residents.by_id_number(parse_id_number(compact).number)
        except InvalidInput:
            found = None
        return [(found, "id_number")] if found else []
    if len(compact) == 17 and compact.isdigit():
        found = agent.store.residents.by_health_record_number(compact)
        return [(found, "health_record_number")] if found else []
    agent.refresh_index()
    matches = agent.index.search(hint, limit=5)
    out = []
    for match in matches:
        try:
            out.append((agent.store.residents.get(match.resident_id), match.matched_by))
        except RecordNotFound:
            continue
    return out


@method("reading.suggest", roles=CLINICAL)
def _reading_suggest(agent: Agent, caller: Caller, params: Params) -> dict[str, Any]:
    reading = agent.store.readings.get(params.text("id", max_length=40))
    hint = (reading.subject_hint or "").strip()
    candidates = _candidates(agent, hint) if hint else []
    agent.store.audit.record(caller.actor, "reading.suggest", "reading", reading.id, f"{len(candidates)} found")
    return {
        "reading": reading_json(reading),
        "hint": hint,
        "candidates": [
            {
                "id": r.id,
                "name": r.name,
                "id_number": r.id_number,
                "birth_date": r.birth_date.isoformat(),
                "sex": r.sex.value,
                "village": r.village or "",
                "matched_by": matched_by,
            }
            for r, matched_by in candidates
        ],
    }


# -- resident.lookup ----------------------------------------------------------------------------------------------


@method("resident.lookup")
def _resident_lookup(agent: Agent, caller: Caller, params: Params) -> dict[str, Any]:
    """Search as you type, with what tells two people of the same name apart (born, sex, village, ID tail).

    A keypress costs no commit: its audit entry joins the chain with the next write (opening a file
    commits its own before the file is shown). Only the residents listed are decrypted, in one read,
    and only the fields listed are taken from them; a row that fails its check is left out and named
    in ``problems``."""
    agent.refresh_index()
    matches = agent.index.search(
        params.text("text", max_length=60), limit=params.integer("limit", default=20, low=1, high=200)
    )
    shown, problems = listed_residents(agent, [m.resident_id for m in matches], _LISTED)
    found = []
    for match in matches:
        r = shown.get(match.resident_id)
        if r is None:
            continue
        found.append(
            {
                "id": match.resident_id,
                "name": r["name"],
                "matched_by": match.matched_by,
                "sex": r["sex"],
                "birth_date": r["birth_date"],
                "village": r["village"] or "",
                "id_number": r["id_number"],
                "health_record_number": r["health_record_number"] or "",
                "key_populations": list(r["key_populations"] or []),
            }
        )
    agent.store.audit.defer(caller.actor, "resident.search", "resident", "", found_detail(found, problems))
    return {"matches": found, "problems": problems_json(problems)}


_LISTED = ("name", "sex", "birth_date", "village", "id_number", "health_record_number", "key_populations")


# -- drafts: forms left unfinished at the lock ----------------------------------------------------------------------

_DRAFT_LIMIT = 64 * 1024  # characters of JSON: a follow-up form with every field full is about 10 KiB


@method("draft.save", roles=CLINICAL)
def _draft_save(agent: Agent, caller: Caller, params: Params) -> dict[str, Any]:
    """Keep an unfinished form (encrypted) for the user signing in again."""
    draft = params.object("draft")
    if len(json.dumps(draft)) > _DRAFT_LIMIT:
        raise InvalidInput(f"a draft is at most {_DRAFT_LIMIT} characters")
    return {"id": agent.store.drafts.save(caller.actor, draft, actor=caller.actor)}


@method("draft.list", roles=CLINICAL)
def _draft_list(agent: Agent, caller: Caller, params: Params) -> dict[str, Any]:
    drafts, problems = agent.store.drafts.of_user(caller.actor)
    return {
        "drafts": [{"id": d.id, "saved_at": d.saved_at, "draft": d.data} for d in drafts],
        "problems": len(problems),
    }


@method("draft.delete", roles=CLINICAL)
def _draft_delete(agent: Agent, caller: Caller, params: Params) -> dict[str, Any]:
    agent.store.drafts.delete(caller.actor, params.text("id", max_length=40), actor=caller.actor)
    return {"deleted": True}
