"""API methods of remote consultation: whom to ask, what to attach, the request, its state, the doctor's actions.

See ``clinic_agent.runtime.consultations``; the terminal UI's consultation screens and ``clinic-agent consult``
call these.
"""

from __future__ import annotations

import json
from typing import Any

from clinic_agent.api.methods import CLINICAL, DOCTOR, MethodTable, find_resident
from clinic_agent.api.params import Params
from clinic_agent.core import serde
from clinic_agent.core.errors import InvalidInput
from clinic_agent.core.model import ConsultationOutcome, Urgency
from clinic_agent.runtime import consultations
from clinic_agent.runtime.agent import Agent, Caller

METHODS = MethodTable()
method = METHODS.method
_ID = 40


def _author(agent: Agent, caller: Caller) -> str:
    name = caller.actor.removeprefix("user:")
    for user in agent.store.users.all():
        if user.name == name and user.display_name:
            return user.display_name
    return name


# Kept by sync (sync/targets.py) as sync.* settings: the platform's consultation services, as JSON.
_PLATFORM_TARGETS = "consultation_targets"
_FETCHED_AT = "consultation_targets_at"


def offered_targets(agent: Agent) -> tuple[list[dict[str, str]], str | None]:
    """Whom a doctor may ask, and when the platform's list was last fetched.

    The platform's consultation services as last fetched (at enrolment or a sync), with
    ``[platform] consultation`` of agent.toml laid over them: an entry there is always offered and
    its name wins over the platform's for the same service (the override), and it is all there is
    before the first fetch or with a platform that offers none (the fallback). docs/fhir.md.
    """
    settings = agent.store.sync.settings()
    found: list[dict[str, str]] = [
        {"target": ref, "name": name, "source": "config"} for ref, name in agent.config.consultation_targets
    ]
    configured = {t["target"] for t in found}
    try:
        fetched: Any = json.loads(settings.get(_PLATFORM_TARGETS) or "[]")
    except ValueError:
        fetched = []
    for item in fetched if isinstance(fetched, list) else []:
        if isinstance(item, dict) and isinstance(item.get("target"), str) and item["target"] not in configured:
            configured.add(item["target"])
            found.append({"target": item["target"], "name": str(item.get("name") or ""), "source": "platform"})
    return found, settings.get(_FETCHED_AT)


@method("consult.targets", roles=CLINICAL)
def _targets(agent: Agent, caller: Caller, params: Params) -> dict[str, Any]:
    """Whom a doctor may ask: the platform's consultation services (kept for offline use) and agent.toml's."""
    del caller, params
    found, fetched_at = offered_targets(agent)
    return {"targets": found, "fetched_at": fetched_at}


def _chosen_target(agent: Agent, given: str) -> tuple[str, str]:
    """(reference, name) of whom to ask: a reference or a name of an offered service, as ``--to`` takes it.

    A name is matched whole, else as the one offered name containing it. A reference that is not
    offered is refused while anything is offered; with nothing offered (not enrolled, nothing in
    agent.toml) the reference is taken as given and checked for its form only.
    """
    given = given.strip()
    offered, _ = offered_targets(agent)
    if not given or not offered:
        return given, ""
    for target in offered:
        if given == target["target"]:
            return target["target"], target["name"]
    by_name = [t for t in offered if t["name"] == given] or [t for t in offered if given in t["name"]]
    if len(by_name) == 1:
        return by_name[0]["target"], by_name[0]["name"]
    names = "; ".join(f"{t['target']} {t['name']}".strip() for t in offered[:10])
    if len(by_name) > 1:
        raise InvalidInput(f"{given[:60]!r} names more than one consultation service: {names}")
    raise InvalidInput(f"{given[:60]!r} is not one of the consultation services offered: {names}")


@method("consult.attachments", roles=CLINICAL)
def _attachments(agent: Agent, caller: Caller, params: Params) -> dict[str, Any]:
    resident_id = find_resident(agent, params.text("resident_id", max_length=_ID)).id
    found = consultations.suggested_attachments(agent, resident_id)
    agent.store.audit.record(caller.actor, "resident.view", "resident", resident_id, "consultation attachments")
    return {"attachments": found}


def _refs(params: Params, key: str) -> tuple[str, ...]:
    if key not in params:
        return ()
    items = params.items(key)
    if not all(isinstance(i, str) and len(i) <= 80 for i in items):
        raise InvalidInput(f"{key} must be a list of kind:record-id")
    return tuple(items)


def _urgency(params: Params) -> Urgency:
    text = params.optional_text("urgency", max_length=20) or Urgency.ROUTINE.value
    try:
        return Urgency(text)
    except ValueError:
        raise InvalidInput(f"urgency must be one of {', '.join(u.value for u in Urgency)}") from None


@method("consult.request", roles=frozenset({DOCTOR}))
def _request(agent: Agent, caller: Caller, params: Params) -> dict[str, Any]:
    target, offered_name = _chosen_target(agent, params.optional_text("target", max_length=120) or "")
    name = params.optional_text("target_name", max_length=100) or offered_name
    made = consultations.request(
        agent,
        resident_id=find_resident(agent, params.text("resident_id", max_length=_ID)).id,
        question=params.optional_text("question", max_length=2000) or "",
        target=target,
        target_name=name,
        urgency=_urgency(params),
        attachments=_refs(params, "attachments"),
        author=_author(agent, caller),
        actor=caller.actor,
    )
    return consultations.show(agent, made.id)


@method("consult.list", roles=CLINICAL)
def _list(agent: Agent, caller: Caller, params: Params) -> dict[str, Any]:
    reference = params.optional_text("resident_id", max_length=_ID)
    resident_id = find_resident(agent, reference).id if reference else None
    found = consultations.overview(agent, resident_id=resident_id)
    names: dict[str, str] = {}
    for item in found:
        rid = item["resident_id"]
        if rid not in names:
            names[rid] = agent.store.residents.get(rid).name
        item["resident_name"] = names[rid]
    agent.store.audit.record(caller.actor, "consult.list", "resident", resident_id or "", f"{len(found)} found")
    return {"consultations": found}


@method("consult.awaiting", roles=CLINICAL)
def _awaiting(agent: Agent, caller: Caller, params: Params) -> dict[str, Any]:
    """Home's consultation panel: the requests not closed yet, those answered (the outcome to record) first.

    The others (waiting to send, sent, accepted) follow, newest first, with their state, so that
    home is honest about what is still only on this PC. Read at every refresh of home, so its audit
    entry waits for the next write (as a search's does).
    """
    limit = params.integer("limit", default=20, low=1, high=200)
    found = consultations.open_first(consultations.overview(agent))[:limit]
    names: dict[str, str] = {}
    shown = []
    for c in found:
        rid = c["resident_id"]
        if rid not in names:
            names[rid] = agent.store.residents.get(rid).name
        answers = c["answers"]
        shown.append(
            {
                "id": c["id"],
                "resident_id": rid,
                "resident_name": names[rid],
                "target": c["target"],
                "target_name": c["target_name"],
                "urgency": c["urgency"],
                "requested_at": c["requested_at"],
                "state": c["state"],
                "question": c["question"],
                "answer": answers[-1] if answers else "",
            }
        )
    agent.store.audit.defer(caller.actor, "consult.awaiting", "resident", "", f"{len(shown)} open")
    return {"consultations": shown}


@method("consult.show", roles=CLINICAL)
def _show(agent: Agent, caller: Caller, params: Params) -> dict[str, Any]:
    shown = consultations.show(agent, params.text("id", max_length=_ID))
    agent.store.audit.record(caller.actor, "resident.view", "resident", shown["resident_id"], "consultation")
    return shown


@method("consult.withdraw", roles=frozenset({DOCTOR}))
def _withdraw(agent: Agent, caller: Caller, params: Params) -> dict[str, Any]:
    done = consultations.withdraw(agent, params.text("id", max_length=_ID), actor=caller.actor)
    return consultations.show(agent, done.id)


@method("consult.add", roles=frozenset({DOCTOR}))
def _add(agent: Agent, caller: Caller, params: Params) -> dict[str, Any]:
    done = consultations.add_information(
        agent,
        params.text("id", max_length=_ID),
        text=params.optional_text("text", max_length=2000) or "",
        attachments=_refs(params, "attachments"),
        actor=caller.actor,
    )
    return consultations.show(agent, done.id)


@method("consult.outcome", roles=frozenset({DOCTOR}))
def _outcome(agent: Agent, caller: Caller, params: Params) -> dict[str, Any]:
    code = params.text("outcome", max_length=30)
    try:
        outcome = ConsultationOutcome(code)
    except ValueError:
        raise InvalidInput(f"outcome must be one of {', '.join(o.value for o in ConsultationOutcome)}") from None
    consultation_id = params.text("id", max_length=_ID)
    message = consultations.record_outcome(
        agent,
        consultation_id,
        outcome=outcome,
        text=params.optional_text("text", max_length=2000) or "",
        sender=_author(agent, caller),
        actor=caller.actor,
    )
    return {**consultations.show(agent, consultation_id), "message": serde.to_json(message)}
