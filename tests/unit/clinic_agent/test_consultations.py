"""Consultation requests as stored records: refused when incomplete, queued urgent first, with what they attach."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from clinic_agent.api import registry
from clinic_agent.core import validation
from clinic_agent.core.errors import InvalidInput
from clinic_agent.core.model import (
    Allergy,
    Condition,
    Consultation,
    ConsultationOutcome,
    EntryKind,
    Urgency,
    new_id,
    utcnow,
)
from clinic_agent.runtime import consultations
from clinic_agent.runtime.agent import Agent, Caller
from sync.fhir.consultation import ATTACHED_TYPES, REPLY_TYPES
from tests.support import PASSPHRASE, new_home, reading, resident

TARGET = "Organization/county-hospital"
DOCTOR = Caller(actor="user:doctor", role="doctor")


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[Agent]:
    opened = Agent.open(new_home(tmp_path / "home"))
    opened.unlock(actor="test", passphrase=PASSPHRASE)
    try:
        yield opened
    finally:
        opened.close()


def ask(agent: Agent, resident_id: str, attachments: tuple[str, ...], **fields: object) -> Consultation:
    values: dict[str, object] = {"question": "血压控制不佳, 请指导", "target": TARGET, "urgency": Urgency.ROUTINE}
    values.update(fields)
    return consultations.request(
        agent,
        resident_id=resident_id,
        attachments=attachments,
        actor="doctor",
        **values,  # type: ignore[arg-type]
    )


def test_the_suggested_attachments_are_the_last_30_days_and_the_active_file(agent: Agent) -> None:
    person = agent.store.residents.add(resident(), actor="test")
    recent = agent.store.readings.add(reading(person.id, systolic="172"), actor="test")
    old_time = utcnow() - timedelta(days=45)
    agent.store.readings.add(reading(person.id, taken_at=old_time, received_at=old_time), actor="test")
    htn = agent.store.entries.add(Condition(id=new_id(), resident_id=person.id, name="高血压"), actor="doctor")
    penicillin = agent.store.entries.add(Allergy(id=new_id(), resident_id=person.id, substance="青霉素"), actor="d")
    refs = [item["ref"] for item in consultations.suggested_attachments(agent, person.id)]
    assert sorted(refs) == sorted([f"reading:{recent.id}", f"condition:{htn.id}", f"allergy:{penicillin.id}"])


def test_a_request_with_no_question_no_one_to_ask_or_nothing_attached_is_refused(agent: Agent) -> None:
    person = agent.store.residents.add(resident(), actor="test")
    htn = agent.store.entries.add(Condition(id=new_id(), resident_id=person.id, name="高血压"), actor="doctor")
    with pytest.raises(InvalidInput, match="needs a question"):
        ask(agent, person.id, (f"condition:{htn.id}",), question="  ")
    with pytest.raises(InvalidInput, match="someone to ask"):
        ask(agent, person.id, (f"condition:{htn.id}",), target="")
    with pytest.raises(InvalidInput, match="at least one attached record"):
        ask(agent, person.id, ())
    other = agent.store.residents.add(resident(), actor="test")
    theirs = agent.store.entries.add(Condition(id=new_id(), resident_id=other.id, name="糖尿病"), actor="doctor")
    with pytest.raises(InvalidInput, match="not a record in this resident's file"):
        ask(agent, person.id, (f"condition:{theirs.id}",))
    assert agent.store.entries.for_resident(person.id, EntryKind.CONSULTATION)[0] == []


def test_only_what_the_platform_can_hold_as_supporting_info_may_be_attached(agent: Agent) -> None:
    """A request attaching another request was stored, then parked at the push (no FHIR type for it)."""
    assert set(ATTACHED_TYPES) == validation.ATTACHABLE
    person = agent.store.residents.add(resident(), actor="test")
    htn = agent.store.entries.add(Condition(id=new_id(), resident_id=person.id, name="高血压"), actor="doctor")
    earlier = ask(agent, person.id, (f"condition:{htn.id}",))
    with pytest.raises(InvalidInput, match="is not kind:record-id"):
        ask(agent, person.id, (f"consultation:{earlier.id}",))


def test_the_replies_a_consultation_looks_for_among_the_parked_are_those_the_pull_sets_aside() -> None:
    assert set(consultations.REPLY_TYPES) == REPLY_TYPES


def call(agent: Agent, method: str, params: dict[str, Any]) -> Any:
    return registry.call(agent, DOCTOR, method, params)


def test_the_api_refuses_an_incomplete_request_with_the_reason_and_stores_nothing(agent: Agent) -> None:
    """Through the registry, as the terminal UI and the CLI call it (the contract held strictly by the suite)."""
    person = agent.store.residents.add(resident(), actor="test")
    htn = agent.store.entries.add(Condition(id=new_id(), resident_id=person.id, name="高血压"), actor="doctor")
    asking: dict[str, Any] = {
        "resident_id": person.id,
        "question": "血压控制不佳, 请指导",
        "target": TARGET,
        "attachments": [f"condition:{htn.id}"],
    }
    refusals = {
        "needs a question": {"question": "   "},
        "someone to ask": {"target": ""},  # nothing offered here (not enrolled, nothing in agent.toml)
        "at least one attached record": {"attachments": []},
        "is not kind:record-id": {"attachments": ["condition"]},
        "urgency must be one of": {"urgency": "soon"},
    }
    for reason, change in refusals.items():
        with pytest.raises(InvalidInput, match=reason):
            call(agent, "consult.request", {**asking, **change})
    without = {k: v for k, v in asking.items() if k != "question"}
    with pytest.raises(InvalidInput, match="needs a question"):
        call(agent, "consult.request", without)
    assert call(agent, "consult.list", {})["consultations"] == []
    made = call(agent, "consult.request", asking)
    assert (made["state"], made["made_here"], made["platform_id"]) == ("waiting", True, None)


def test_urgent_and_emergency_requests_and_what_they_attach_go_up_first(agent: Agent) -> None:
    person = agent.store.residents.add(resident(), actor="test")
    agent.store.readings.add(reading(person.id), actor="test")
    routine_condition = agent.store.entries.add(Condition(id=new_id(), resident_id=person.id, name="糖尿病"), actor="d")
    attached = agent.store.readings.add(reading(person.id, systolic="190"), actor="test")
    routine = ask(agent, person.id, (f"condition:{routine_condition.id}",))
    emergency = ask(agent, person.id, (f"reading:{attached.id}",), urgency=Urgency.EMERGENCY)
    urgent = ask(agent, person.id, (f"condition:{routine_condition.id}",), urgency=Urgency.URGENT)
    order = [p.entity_id for p in agent.store.sync.pending(limit=100)]
    assert order.index(attached.id) < order.index(emergency.id) < order.index(urgent.id) < order.index(routine.id)
    assert order.index(emergency.id) < order.index(person.id)  # the resident is brought in by the engine itself
    shown = consultations.overview(agent, resident_id=person.id)
    assert [c["state"] for c in shown] == ["waiting"] * 3


def test_withdrawing_and_adding_information_change_the_stored_request(agent: Agent) -> None:
    person = agent.store.residents.add(resident(), actor="test")
    htn = agent.store.entries.add(Condition(id=new_id(), resident_id=person.id, name="高血压"), actor="doctor")
    bp = agent.store.readings.add(reading(person.id), actor="test")
    asked = ask(agent, person.id, (f"condition:{htn.id}",))
    with pytest.raises(InvalidInput, match="nothing to add"):
        consultations.add_information(agent, asked.id, actor="doctor")
    more = consultations.add_information(agent, asked.id, text="今晨头晕", attachments=(f"reading:{bp.id}",), actor="d")
    assert more.added == ("今晨头晕",)
    assert more.attachments == (f"condition:{htn.id}", f"reading:{bp.id}")
    gone = consultations.withdraw(agent, asked.id, actor="doctor")
    assert gone.withdrawn
    assert consultations.show(agent, asked.id)["state"] == "closed"
    assert consultations.show(agent, asked.id)["closed_because"] == "withdrawn"
    with pytest.raises(InvalidInput, match="already been withdrawn"):
        consultations.withdraw(agent, asked.id, actor="doctor")
    with pytest.raises(InvalidInput, match="not reached the platform"):
        consultations.record_outcome(agent, asked.id, outcome=ConsultationOutcome.REFERRED, actor="d")


def test_open_first_puts_the_answered_first_and_leaves_the_closed_out() -> None:
    shown = [
        {"id": "newest", "state": "waiting"},
        {"id": "sent", "state": "sent"},
        {"id": "closed", "state": "closed"},
        {"id": "answered", "state": "answered"},
        {"id": "accepted", "state": "accepted"},
        {"id": "answered-earlier", "state": "answered"},
    ]
    assert [c["id"] for c in consultations.open_first(shown)] == [
        "answered",
        "answered-earlier",
        "newest",
        "sent",
        "accepted",
    ]
