"""Joining a local resident to the Patient the platform already held: no common ancestor."""

from __future__ import annotations

import dataclasses

from clinic_agent.core.sync_values import RESIDENTS, LocalState
from sync.engine.conflicts import adoption
from sync.fhir import codes, patient
from tests.support import resident


def test_fields_only_one_side_knows_are_taken_and_differing_ones_go_to_the_doctor() -> None:
    here = resident(phone="13900000000", village=None)
    there = dataclasses.replace(here, id="elsewhere", phone="13811112222", village="大塘村")
    write = adoption(
        LocalState(RESIDENTS, here, None, None, None, "pending", None), there, remote_id="p1", remote_version="3"
    )
    assert write.record.id == here.id  # the local resident, linked
    assert (write.remote_id, write.remote_version) == ("p1", "3")
    assert write.record.village == "大塘村"  # only the platform knew it
    assert write.record.phone == "13900000000"  # the doctor's value stays on screen...
    assert write.conflict is not None
    assert [f.name for f in write.conflict.fields] == ["phone"]  # ...and the difference waits for the doctor
    assert write.outbox == "conflict"


def test_the_same_person_said_alike_on_both_sides_joins_silently() -> None:
    here = resident()
    write = adoption(
        LocalState(RESIDENTS, here, None, None, None, "pending", None), here, remote_id="p1", remote_version="1"
    )
    assert write.conflict is None
    assert write.outbox == "done"
    assert not write.content_changed


def test_an_update_keeps_what_the_platform_holds_beyond_what_we_model() -> None:
    person = resident(phone="13900000000")
    ours = patient.to_fhir(person)
    current = {
        **patient.to_fhir(dataclasses.replace(person, phone="13811112222")),
        "id": "p1",
        "meta": {"versionId": "4"},
        "contact": [{"name": {"text": "家属"}}],
        "managingOrganization": {"reference": "Organization/township"},
    }
    current["identifier"] = [*current["identifier"], {"system": "urn:oid:1.2.3", "value": "ZY1"}]
    current["telecom"] = [*current["telecom"], {"system": "email", "value": "a@b.cn"}]
    laid = patient.overlay(current, ours)
    assert laid["id"] == "p1"
    assert "meta" not in laid
    assert laid["contact"] == current["contact"]
    assert laid["managingOrganization"] == {"reference": "Organization/township"}
    assert {"system": "urn:oid:1.2.3", "value": "ZY1"} in laid["identifier"]
    assert [i["system"] for i in laid["identifier"]].count(codes.ID_CARD_SYSTEM) == 1
    assert [i["system"] for i in laid["identifier"]].count(codes.UUID_SYSTEM) == 1
    assert laid["telecom"] == [{"system": "phone", "value": "13900000000"}, {"system": "email", "value": "a@b.cn"}]
    assert patient.from_fhir(laid).phone == "13900000000"
