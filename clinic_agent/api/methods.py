"""The operations of the local API, by name: JSON params in, JSON results out.

The daemon's socket server and the CLI (when no daemon runs) both dispatch through
``clinic_agent.api.registry``, so every command does the same thing either way. This module holds
the basic operations and the table type the other method modules use. Each method says which roles
may call it; whoever holds a passphrase (the owner) may call every method.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from clinic_agent.api.params import Params
from clinic_agent.core import serde
from clinic_agent.core.errors import InvalidInput, RecordNotFound, StoreCorrupted
from clinic_agent.core.idnumber import normalise_id_number, parse_id_number
from clinic_agent.core.model import (
    ENTRY_TYPES,
    DeviceInfo,
    EntryKind,
    KeyPopulation,
    Quantity,
    Reading,
    Resident,
    Role,
    Sex,
    new_id,
)
from clinic_agent.core.rules import critical_reasons
from clinic_agent.core.validation import checked_id_number, measured_value
from clinic_agent.runtime import rotation
from clinic_agent.runtime.agent import Agent, Caller
from clinic_agent.store.integrity import shown
from clinic_agent.store.users import check_user_name

_LOGGER = logging.getLogger(__name__)

DOCTOR = Role.DOCTOR.value
NURSE = Role.NURSE.value
TECHNICIAN = Role.TECHNICIAN.value
CLINICAL = frozenset({DOCTOR, NURSE})
EVERYONE = frozenset({DOCTOR, NURSE, TECHNICIAN})

Handler = Callable[[Agent, Caller, Params], Any]


@dataclass(frozen=True, slots=True)
class Method:
    """One operation and who may call it."""

    handler: Handler
    roles: frozenset[str]
    needs_keys: bool = True
    public: bool = False
    kdf: bool = False  # runs Argon2id: the daemon queues it on its KDF worker


class MethodTable(dict[str, Method]):
    """The operations one module defines, by name; ``clinic_agent.api.registry`` joins the tables."""

    def method(
        self,
        name: str,
        *,
        roles: frozenset[str] = CLINICAL,
        needs_keys: bool = True,
        public: bool = False,
        kdf: bool = False,
    ) -> Callable[[Handler], Handler]:
        """Add an operation to this table under a name."""

        def add(handler: Handler) -> Handler:
            if name in self:
                raise ValueError(f"the method {name} is defined twice")
            self[name] = Method(handler, roles, needs_keys, public, kdf)
            return handler

        return add


METHODS = MethodTable()
method = METHODS.method


# -- the store as a whole -------------------------------------------------------------------------------


@method("status", needs_keys=False, public=True)
def _status(agent: Agent, caller: Caller, params: Params) -> dict[str, Any]:
    return agent.status()


@method("audit.verify", roles=frozenset({DOCTOR, TECHNICIAN}))
def _audit_verify(agent: Agent, caller: Caller, params: Params) -> dict[str, Any]:
    chain, rows = agent.store.verify()
    ok = chain.ok and rows.ok
    summary = "ok" if ok else (f"first bad entry {chain.first_bad_seq}" if not chain.ok else "changes found")
    agent.store.audit.record(caller.actor, "audit.verify", "store", agent.store.store_id, summary)
    return {
        "ok": ok,
        "entries": chain.entries,
        "first_bad_seq": chain.first_bad_seq,
        "problem": chain.problem,
        "anchor": rows.anchor,
        "findings": rows.findings,
        "restores": rows.restores,
        "rows_checked": rows.rows_checked,
        "bad_rows": shown([f"{p.table} {p.row_id}: {p.message}" for p in rows.bad_rows]),
        "missing_rows": shown(rows.missing),
        "unaccounted_rows": shown(rows.unaccounted),
    }


# -- residents -------------------------------------------------------------------------------------------


def resident_json(resident: Resident) -> dict[str, Any]:
    """A resident as the API shows it: its id and every field."""
    data: dict[str, Any] = serde.to_json(resident)
    return data


def resident_from(params: Params, *, resident_id: str | None = None, version: int = 0) -> Resident:
    """Build a resident from request fields; the birth date and sex default to what the ID number holds."""
    override = params.optional_text("id_number_override", max_length=200)
    id_number = checked_id_number(params.text("id_number", max_length=40), override)
    sex = Sex.parse(params.text("sex", max_length=20)) if "sex" in params else None
    if sex is None:
        sex = Sex.MALE if id_number.is_male else Sex.FEMALE
    try:
        flags = tuple(KeyPopulation(str(f)) for f in params.items("key_populations"))
    except ValueError:
        raise InvalidInput(f"key_populations must be among {', '.join(k.value for k in KeyPopulation)}") from None
    return Resident(
        id=resident_id or new_id(),
        id_number=id_number.number,
        name=params.text("name", max_length=50),
        sex=sex,
        birth_date=params.day("birth_date") or id_number.birth_date,
        health_record_number=params.optional_text("health_record_number", max_length=30),
        phone=params.optional_text("phone", max_length=30),
        village=params.optional_text("village", max_length=100),
        address=params.optional_text("address"),
        ethnicity=params.optional_text("ethnicity", max_length=20),
        key_populations=flags,
        id_number_override=override,
        version=version,
    )


_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def find_resident(agent: Agent, reference: str) -> Resident:
    """A resident by its id, ID card number or health-record number."""
    text = reference.strip()
    if _UUID.fullmatch(text.lower()):
        return agent.store.residents.get(text.lower())
    compact = text.replace(" ", "").replace("-", "")
    if len(compact) == 17 and compact.isdigit():
        found = agent.store.residents.by_health_record_number(compact)
    else:
        number = normalise_id_number(compact)
        # a number kept despite its check digit is found as written; any other is checked first
        found = agent.store.residents.by_id_number(number) if len(number) == 18 else None
        if found is None:
            parse_id_number(number)  # a mistyped number: say which check it fails
    if found is None:
        raise RecordNotFound(f"no resident with {'health-record' if len(compact) == 17 else 'ID'} number {compact}")
    return found


@method("resident.add", roles=frozenset({DOCTOR}))
def _resident_add(agent: Agent, caller: Caller, params: Params) -> dict[str, Any]:
    resident = agent.store.residents.add(resident_from(params), actor=caller.actor)
    return resident_json(agent.indexed(resident))


@method("resident.update", roles=frozenset({DOCTOR}))
def _resident_update(agent: Agent, caller: Caller, params: Params) -> dict[str, Any]:
    current = agent.store.residents.get(params.text("id", max_length=40))
    edited = resident_from(params, resident_id=current.id, version=params.integer("version", high=1 << 40))
    return resident_json(agent.indexed(agent.store.residents.update(edited, actor=caller.actor)))


@method("resident.get")
def _resident_get(agent: Agent, caller: Caller, params: Params) -> dict[str, Any]:
    resident = find_resident(agent, params.text("resident", max_length=40))
    agent.store.audit.record(caller.actor, "resident.view", "resident", resident.id)
    return resident_json(resident)


@method("resident.list")
def _resident_list(agent: Agent, caller: Caller, params: Params) -> dict[str, Any]:
    page = agent.store.residents.changed_since(0)
    live = sorted((r for r in page.residents if not r.deleted), key=lambda r: (r.name, r.id))
    agent.store.audit.record(caller.actor, "resident.list", "resident", "", f"{len(live)} shown")
    return {"residents": [resident_json(r) for r in live], "problems": problems_json(page.problems)}


@method("resident.search")
def _resident_search(agent: Agent, caller: Caller, params: Params) -> dict[str, Any]:
    agent.refresh_index()
    matches = agent.index.search(
        params.text("text", max_length=60), limit=params.integer("limit", default=20, low=1, high=200)
    )
    rows, problems = listed_residents(agent, [m.resident_id for m in matches], ("name",))
    found = [
        {"id": m.resident_id, "name": rows[m.resident_id]["name"], "matched_by": m.matched_by}
        for m in matches
        if m.resident_id in rows
    ]
    agent.store.audit.record(caller.actor, "resident.search", "resident", "", found_detail(found, problems))
    return {"matches": found, "problems": problems_json(problems)}


def listed_residents(
    agent: Agent, resident_ids: list[str], fields: tuple[str, ...]
) -> tuple[dict[str, dict[str, Any]], list[StoreCorrupted]]:
    """The fields of the residents a search found, read from their rows; a row that fails its check is
    logged and named apart, so the search still answers (the index may hold a row changed after its
    saved copy was made, store/search_index.py)."""
    rows, problems = agent.store.residents.shown(resident_ids, fields)
    for problem in problems:
        _LOGGER.warning("resident row left out of a search result: %s", problem)
    return rows, problems


def found_detail(found: list[Any], problems: list[StoreCorrupted]) -> str:
    """A search's audit detail: how many were shown and how many rows failed their check (never who)."""
    return f"{len(found)} found" + (f", {len(problems)} failed their integrity check" if problems else "")


@method("resident.file")
def _resident_file(agent: Agent, caller: Caller, params: Params) -> dict[str, Any]:
    resident = find_resident(agent, params.text("resident", max_length=40))
    entries, entry_problems = agent.store.entries.for_resident(resident.id)
    readings, reading_problems = agent.store.readings.for_resident(
        resident.id, limit=params.integer("readings", default=10_000, low=0, high=100_000)
    )
    agent.store.audit.record(caller.actor, "resident.view", "resident", resident.id, "file")
    grouped: dict[str, list[Any]] = {kind.value: [] for kind in EntryKind}
    for entry in entries:
        grouped[entry.kind.value].append(serde.to_json(entry))
    return {
        "resident": resident_json(resident),
        "entries": grouped,
        "readings": [reading_json(r) for r in readings],
        "problems": problems_json(entry_problems + reading_problems),
    }


# -- file entries ----------------------------------------------------------------------------------------


# Consultations have methods of their own (consult.*): their Task and messages come from the platform.
_OWN_METHODS = frozenset({EntryKind.CONSULTATION, EntryKind.CONSULTATION_TASK, EntryKind.CONSULTATION_MESSAGE})


def _entry_kind(params: Params) -> EntryKind:
    try:
        kind = EntryKind(params.text("kind", max_length=30))
    except ValueError:
        kind = None
    if kind is None or kind in _OWN_METHODS:
        kinds = ", ".join(k.value for k in EntryKind if k not in _OWN_METHODS)
        raise InvalidInput(f"kind must be one of {kinds} (consultations: the consult.* methods)")
    return kind


@method("entry.add", roles=frozenset({DOCTOR}))
def _entry_add(agent: Agent, caller: Caller, params: Params) -> dict[str, Any]:
    kind = _entry_kind(params)
    fields = {**params.object("fields"), "id": new_id(), "resident_id": params.text("resident_id", max_length=40)}
    entry = serde.from_json(ENTRY_TYPES[kind], fields)
    return dict(serde.to_json(agent.store.entries.add(entry, actor=caller.actor)))


@method("entry.update", roles=frozenset({DOCTOR}))
def _entry_update(agent: Agent, caller: Caller, params: Params) -> dict[str, Any]:
    kind = _entry_kind(params)
    current = agent.store.entries.get(params.text("id", max_length=40))
    fields = {
        **params.object("fields"),
        "id": current.id,
        "resident_id": current.resident_id,
        "version": params.integer("version", high=1 << 40),
    }
    entry = serde.from_json(ENTRY_TYPES[kind], fields)
    return dict(serde.to_json(agent.store.entries.update(entry, actor=caller.actor)))


@method("entry.delete", roles=frozenset({DOCTOR}))
def _entry_delete(agent: Agent, caller: Caller, params: Params) -> dict[str, Any]:
    entry = agent.store.entries.delete(_entry_kind(params), params.text("id", max_length=40), actor=caller.actor)
    return dict(serde.to_json(entry))


# -- readings ----------------------------------------------------------------------------------------------


def reading_json(reading: Reading) -> dict[str, Any]:
    """A reading as the API shows it, with its alerts."""
    data: dict[str, Any] = serde.to_json(reading)
    data["alerts"] = critical_reasons(reading)
    return data


def _quantity(item: Any) -> Quantity:
    if not isinstance(item, dict):
        raise InvalidInput("each component must be an object with code, value and unit")
    p = Params(item)
    value = p.text("value", max_length=40)
    measured_value(value)
    return Quantity(
        code=p.text("code", max_length=20),
        value=value,
        unit=p.text("unit", max_length=20),
        display=p.optional_text("display") or "",
    )


@method("reading.add", roles=CLINICAL)
def _reading_add(agent: Agent, caller: Caller, params: Params) -> dict[str, Any]:
    from clinic_agent.core import plausibility  # the device profiles, only for a typed reading (start-up)

    now = agent.clock()
    resident = find_resident(agent, params.text("resident", max_length=40)) if "resident" in params else None
    components = [_quantity(c) for c in params.items("components")] or [_quantity(params.data)]
    reason = plausibility.hand_entry(components, params.optional_text("confirm_extreme", max_length=200))
    reading = Reading(
        id=new_id(),
        resident_id=resident.id if resident else None,
        code=params.text("code", max_length=20),
        display=params.optional_text("display") or "",
        components=tuple(components),
        taken_at=params.moment("taken_at") or now,
        received_at=now,
        source=params.optional_text("source", max_length=40) or "manual",
        device=DeviceInfo(id=params.text("device", max_length=100)) if "device" in params else None,
        extreme_reason=reason,
    )
    if reading.taken_at > now:
        raise InvalidInput(f"taken_at {reading.taken_at.isoformat()} is in the future")
    added = agent.store.readings.add(reading, actor=caller.actor)
    result = {
        "id": added.id,
        "duplicate": added.duplicate,
        "sealed": added.sealed,
        "alerts": critical_reasons(reading),
        "resident_id": reading.resident_id,
        "extreme_reason": reading.extreme_reason,
    }
    if not added.duplicate:
        agent.publish("reading.received", {"id": added.id, "resident_id": reading.resident_id})
    return result


@method("reading.get", roles=CLINICAL)
def _reading_get(agent: Agent, caller: Caller, params: Params) -> dict[str, Any]:
    reading = agent.store.readings.get(params.text("id", max_length=40))
    data = reading_json(reading)
    if reading.resident_id is not None:
        data["resident_name"] = agent.store.residents.get(reading.resident_id, actor=caller.actor).name
    return data


@method("reading.unassigned", roles=CLINICAL)
def _reading_unassigned(agent: Agent, caller: Caller, params: Params) -> dict[str, Any]:
    readings, problems = agent.store.readings.unassigned(limit=params.integer("limit", default=200, low=1, high=5000))
    return {"readings": [reading_json(r) for r in readings], "problems": problems_json(problems)}


@method("reading.assign", roles=CLINICAL)
def _reading_assign(agent: Agent, caller: Caller, params: Params) -> dict[str, Any]:
    resident = find_resident(agent, params.text("resident", max_length=40))
    reading = agent.store.readings.assign(params.text("id", max_length=40), resident.id, actor=caller.actor)
    agent.publish("reading.assigned", {"id": reading.id, "resident_id": resident.id})
    return reading_json(reading)


# -- users -------------------------------------------------------------------------------------------------


@method("user.add", roles=frozenset(), kdf=True)
def _user_add(agent: Agent, caller: Caller, params: Params) -> dict[str, Any]:
    try:
        role = Role(params.text("role", max_length=20))
    except ValueError:
        raise InvalidInput(f"role must be one of {', '.join(r.value for r in Role)}") from None
    display_name = params.optional_text("display_name") or ""
    user = agent.store.users.add(
        params.text("name", max_length=40), role, params.secret("pin"), actor=caller.actor, display_name=display_name
    )
    return dict(serde.to_json(user))


@method("user.unblock", roles=frozenset({TECHNICIAN}))
def _user_unblock(agent: Agent, caller: Caller, params: Params) -> dict[str, Any]:
    user = agent.store.users.get(params.text("name", max_length=40))
    return {"name": user.name, "forgotten": agent.store.guard.clear_pin(user.name, user.id, actor=caller.actor)}


@method("user.list", roles=frozenset({DOCTOR, TECHNICIAN}))
def _user_list(agent: Agent, caller: Caller, params: Params) -> dict[str, Any]:
    return {"users": [serde.to_json(u) for u in agent.store.users.all()]}


def problems_json(problems: list[StoreCorrupted]) -> list[dict[str, Any]]:
    """Rows a list left out because they failed their check, named by table and row for the reply."""
    return [{"table": p.table, "row_id": p.row_id, "message": p.message} for p in problems]


# -- keys ----------------------------------------------------------------------------------------------------


@method("key.rotate", roles=frozenset())
def _key_rotate(agent: Agent, caller: Caller, params: Params) -> dict[str, Any]:
    report = rotation.rotate(agent, actor=caller.actor, new_key=not params.flag("resume"))
    return {
        "current": report.current,
        "reencrypted": report.reencrypted,
        "retired": report.retired,
        "kept": report.kept,
        "unreadable_rows": report.unreadable_rows,
    }


@method("passphrase.change", roles=frozenset(), needs_keys=False, kdf=True)
def _passphrase_change(agent: Agent, caller: Caller, params: Params) -> dict[str, Any]:
    user = rotation.change_passphrase(
        agent,
        current=params.secret("passphrase"),
        new=params.secret("new_passphrase"),
        user=params.optional_text("user", max_length=40),
        actor=caller.actor,
    )
    return {"user": user}


@method("passphrase.add", roles=frozenset(), kdf=True)
def _passphrase_add(agent: Agent, caller: Caller, params: Params) -> dict[str, Any]:
    user = check_user_name(params.text("user", max_length=40))
    rotation.add_passphrase_slot(agent, user=user, new=params.secret("new_passphrase"), actor=caller.actor)
    return {"user": user}
