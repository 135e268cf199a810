"""Sync operations of the local API: status, sync now, the conflicts inbox, parked records, record states.

A contract the TUI builds against: keep the names and the shapes.

    sync.status        {"state", "online", "platform", "last_sync", "last_error", "pending", "parked", "conflicts",
                        "records": {"local", "sent", "confirmed"}}
    sync.now           the run's report {"pushed", "pulled", "parked", "conflicts", "errors"} or {"started": true}
    conflict.list      {"conflicts": [{"id", "entity", "entity_id", "kind", "resident_id", "resident_name"
                        (when readable), "fields": [name], "created_at"}]}
    conflict.get       {"id", ..., "fields": [{"name", "base", "local", "remote"}], "created_at"}
    conflict.resolve   {"id", "choices": {field: "local" | "remote" | {"value": ...}}} -> the resolved record
    parked.list        {"parked": [{"seq", "entity", "entity_id", "kind", "reason", "since"}]}
    parked.retry       {"seq"} -> {"seq", "queued": true}
    record.sync_state  {"entity", "entity_id"} -> "local" | "sent" | "confirmed"
"""

from __future__ import annotations

import contextlib
from typing import Any

from clinic_agent.api.methods import DOCTOR, EVERYONE, TECHNICIAN, MethodTable
from clinic_agent.api.params import Params
from clinic_agent.core import serde
from clinic_agent.core.errors import ClinicAgentError, InvalidInput
from clinic_agent.core.sync_values import SYNCED_TABLES
from clinic_agent.runtime import sync_state
from clinic_agent.runtime.agent import Agent, Caller
from clinic_agent.store.sync_inbox import Conflict

METHODS = MethodTable()  # joined with the others in clinic_agent.api.registry
method = METHODS.method


@method("sync.status", roles=EVERYONE, needs_keys=False)
def _sync_status(agent: Agent, caller: Caller, params: Params) -> dict[str, Any]:
    return sync_state.status(agent)


@method("sync.now", roles=EVERYONE)
def _sync_now(agent: Agent, caller: Caller, params: Params) -> dict[str, Any]:
    from clinic_agent.runtime import syncing  # the HTTP client and the engine, only for a sync

    agent.store.audit.record(caller.actor, "sync.now", "platform")
    return syncing.sync_now(agent, wait=params.flag("wait", default=True))


def _summary(conflict: Conflict, names: dict[str, str]) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "id": conflict.id,
        "entity": conflict.entity,
        "entity_id": conflict.entity_id,
        "kind": conflict.kind,
        "resident_id": conflict.resident_id,
        "fields": [f["name"] for f in conflict.fields],
        "created_at": conflict.created_at,
    }
    if conflict.resident_id in names:
        summary["resident_name"] = names[conflict.resident_id]
    return summary


@method("conflict.list", roles=frozenset({DOCTOR}))
def _conflict_list(agent: Agent, caller: Caller, params: Params) -> dict[str, Any]:
    conflicts = agent.store.sync.conflicts()
    agent.store.audit.record(caller.actor, "conflict.list", "conflict", "", f"{len(conflicts)} shown")
    names = _resident_names(agent, {c.resident_id for c in conflicts if c.resident_id})
    return {"conflicts": [_summary(c, names) for c in conflicts]}


def _resident_names(agent: Agent, resident_ids: set[str]) -> dict[str, str]:
    """Whose file each conflict is in, for the list a doctor chooses from (a resident this PC cannot
    read, deleted or damaged, is left unnamed: the list still shows the kind of record)."""
    names: dict[str, str] = {}
    for resident_id in resident_ids:
        with contextlib.suppress(ClinicAgentError):
            names[resident_id] = agent.store.residents.get(resident_id).name
    return names


@method("conflict.get", roles=frozenset({DOCTOR}))
def _conflict_get(agent: Agent, caller: Caller, params: Params) -> dict[str, Any]:
    conflict = agent.store.sync.conflict(params.text("id", max_length=40))
    agent.store.audit.record(caller.actor, "conflict.view", conflict.entity, conflict.entity_id)
    fields = [{k: f.get(k) for k in ("name", "base", "local", "remote")} for f in conflict.fields]
    return {**_summary(conflict, {}), "fields": fields}


@method("conflict.resolve", roles=frozenset({DOCTOR}))
def _conflict_resolve(agent: Agent, caller: Caller, params: Params) -> dict[str, Any]:
    choices = params.object("choices")
    for name, choice in choices.items():
        if choice not in ("local", "remote") and not (isinstance(choice, dict) and set(choice) == {"value"}):
            raise InvalidInput(f'choices.{name} must be "local", "remote" or {{"value": ...}}')
    record = agent.store.sync.resolve(params.text("id", max_length=40), choices, actor=caller.actor)
    data: dict[str, Any] = serde.to_json(record)
    return data


@method("parked.list", roles=frozenset({DOCTOR, TECHNICIAN}))
def _parked_list(agent: Agent, caller: Caller, params: Params) -> dict[str, Any]:
    parked = agent.store.sync.parked()
    return {
        "parked": [
            {
                "seq": p.seq,
                "entity": p.entity,
                "entity_id": p.entity_id,
                "kind": p.kind,
                "reason": p.reason,
                "since": p.since,
            }
            for p in parked
        ]
    }


@method("parked.retry", roles=frozenset({DOCTOR, TECHNICIAN}))
def _parked_retry(agent: Agent, caller: Caller, params: Params) -> dict[str, Any]:
    seq = params.integer("seq", low=1, high=1 << 62)
    agent.store.sync.retry_parked(seq, actor=caller.actor)
    return {"seq": seq, "queued": True}


@method("record.sync_state", roles=EVERYONE, needs_keys=False)
def _record_sync_state(agent: Agent, caller: Caller, params: Params) -> str:
    entity = params.text("entity", max_length=20)
    if entity not in SYNCED_TABLES:
        raise InvalidInput(f"entity must be one of {', '.join(SYNCED_TABLES)}")
    return agent.store.sync.record_state(entity, params.text("entity_id", max_length=40))


@method("sync.enroll", roles=frozenset({TECHNICIAN}))
def _sync_enroll(agent: Agent, caller: Caller, params: Params) -> dict[str, Any]:
    import asyncio

    from clinic_agent.runtime import syncing  # the HTTP client and the engine, only for a sync

    smart = None
    if "smart" in params:
        found = Params(params.object("smart"))
        smart = syncing.Smart(
            client_id=found.text("client_id", max_length=200),
            token_url=syncing.check_url(found.text("token_url", max_length=500)),
            scope=found.optional_text("scope", max_length=500) or syncing.DEFAULT_SCOPE,
        )
    token = params.secret("token") if "token" in params else None
    url = params.text("platform", max_length=500)
    result = asyncio.run(syncing.enroll(agent, url, token=token, smart=smart, actor=caller.actor))
    syncing.wake(agent)
    return result
