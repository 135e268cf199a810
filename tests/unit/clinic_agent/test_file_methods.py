"""The API methods of the terminal UI (home summary, history, prefill, suggestions), on a demo store."""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest.mock import ANY

import pytest

from clinic_agent.api import methods, registry
from clinic_agent.cli import demo
from clinic_agent.core.errors import AccessDenied, RecordNotFound
from clinic_agent.core.model import new_id
from clinic_agent.runtime import home as home_module
from clinic_agent.runtime.agent import Agent, Caller
from clinic_agent.store.core import DEFERRED_AUDIT_LIMIT
from tests.support import FAST_CONFIG, reading, resident

DOCTOR = Caller(actor="user:doctor", role="doctor")


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("demo") / "home"
    root.mkdir()
    (root / "agent.toml").write_text(FAST_CONFIG, encoding="utf-8")
    demo.build(root)
    return root


@pytest.fixture
def agent(demo_home: Path, tmp_path: Path) -> Iterator[Agent]:
    root = tmp_path / "home"
    shutil.copytree(demo_home, root)
    opened = Agent.open(home_module.resolve(root))
    opened.unlock(actor="test", passphrase=demo.DEMO_PASSPHRASE)
    yield opened
    opened.close()


def call(agent: Agent, method: str, params: dict[str, Any] | None = None, caller: Caller = DOCTOR) -> Any:
    return registry.call(agent, caller, method, params or {})


def resident_named(agent: Agent, name: str) -> dict[str, Any]:
    return dict(call(agent, "resident.lookup", {"text": name})["matches"][0])


def test_home_summary_lists_waiting_readings_due_follow_ups_and_alerts(agent: Agent) -> None:
    summary = call(agent, "home.summary")
    assert summary["unassigned_total"] == 1 and len(summary["unassigned"]) == 1  # noqa: PT018
    due_names = {d["name"] for d in summary["due"]}
    # Every hypertension or diabetes patient of the demo has never had a follow-up: all are due today (H1/D1).
    assert due_names == {"龙秀英", "吴国华", "杨光明", "张秀兰", "麻桂芳", "姚德胜"}
    assert all(d["due"] == summary["today"] and d["rule"] in ("H1", "D1") for d in summary["due"])
    assert "田玉梅" not in due_names


def test_a_follow_up_moves_the_due_date_and_a_critical_reading_is_an_alert(agent: Agent) -> None:
    person = resident_named(agent, "龙秀英")
    today = call(agent, "home.summary")["today"]
    call(
        agent,
        "entry.add",
        {
            "kind": "follow_up",
            "resident_id": person["id"],
            "fields": {"programme": "hypertension", "visit_date": today, "sbp": 150, "dbp": 92},
        },
    )
    summary = call(agent, "home.summary", {"days_ahead": 7})
    assert person["id"] not in {d["resident_id"] for d in summary["due"]}
    later = call(agent, "home.summary", {"days_ahead": 14})
    mine = next(d for d in later["due"] if d["resident_id"] == person["id"])
    assert (mine["rule"], mine["last_visit"]) == ("H4", today)  # first uncontrolled: back within two weeks
    call(agent, "reading.add", {"resident": person["id_number"], "code": "8480-6", "value": "186", "unit": "mm[Hg]"})
    alerts = call(agent, "home.summary")["alerts"]
    assert alerts[0]["name"] == "龙秀英" and alerts[0]["codes"] == ["H2"]  # noqa: PT018


def test_todays_readings_put_critical_first_and_remember_who_acknowledged(agent: Agent) -> None:
    person = resident_named(agent, "田玉梅")
    bp = [{"code": "8480-6", "value": "132", "unit": "mm[Hg]"}, {"code": "8462-4", "value": "84", "unit": "mm[Hg]"}]
    plain = call(agent, "reading.add", {"resident": person["id"], "code": "85354-9", "components": bp})["id"]
    bp[0]["value"] = "190"
    critical = call(agent, "reading.add", {"resident": person["id"], "code": "85354-9", "components": bp})["id"]
    todays = call(agent, "home.summary")["today_readings"]
    assert [r["id"] for r in todays][:1] == [critical]
    assert {r["id"]: r["acknowledged"] for r in todays if r["resident_id"]} == {critical: False, plain: False}
    assert call(agent, "reading.acknowledge", {"id": plain}) == {"id": plain, "acknowledged": True}
    todays = call(agent, "home.summary")["today_readings"]
    assert {r["id"]: r["acknowledged"] for r in todays if r["resident_id"]} == {critical: False, plain: True}
    assert next(r for r in todays if r["id"] == plain)["name"] == "田玉梅"


def test_history_names_who_changed_which_fields_never_values(agent: Agent) -> None:
    person = resident_named(agent, "田玉梅")
    added = call(
        agent,
        "entry.add",
        {"kind": "allergy", "resident_id": person["id"], "fields": {"substance": "磺胺", "reaction": "皮疹"}},
    )
    call(
        agent,
        "entry.update",
        {
            "kind": "allergy",
            "id": added["id"],
            "version": added["version"],
            "fields": {**added, "reaction": "呼吸困难"},
        },
    )
    history = call(agent, "resident.history", {"resident": person["id"]})["history"]
    assert [h["action"] for h in history[:2]] == ["allergy.update", "allergy.create"]
    assert history[0]["fields"] == ["reaction"]
    assert history[-1]["action"] == "resident.create" and history[0]["actor"] == "user:doctor"  # noqa: PT018
    assert "呼吸困难" not in str(history)


def test_history_keeps_every_change_however_often_the_file_was_opened_since(agent: Agent) -> None:
    person = resident_named(agent, "田玉梅")
    call(agent, "entry.add", {"kind": "allergy", "resident_id": person["id"], "fields": {"substance": "磺胺"}})
    for _ in range(150):  # each opening of the history is audited too
        call(agent, "resident.history", {"resident": person["id"], "limit": 10})
    history = call(agent, "resident.history", {"resident": person["id"], "limit": 10})["history"]
    assert [h["action"] for h in history] == ["allergy.create", "resident.create"]


def test_prefill_maps_todays_readings_into_the_form_and_carries_targets(agent: Agent) -> None:
    person = resident_named(agent, "张秀兰")
    for code, value, unit in (("8302-2", "158", "cm"), ("29463-7", "61.5", "kg"), ("14743-9", "8.2", "mmol/L")):
        call(agent, "reading.add", {"resident": person["id"], "code": code, "value": value, "unit": unit})
    call(agent, "reading.add", {"resident": person["id"], "code": "8480-6", "value": "151", "unit": "mm[Hg]"})
    result = call(agent, "followup.prefill", {"resident": person["id"], "programme": "diabetes"})
    fields = result["fields"]
    assert (fields["sbp"], fields["weight_kg"], fields["fasting_glucose"]) == (151, "61.5", "8.2")
    assert fields["bmi"] == "24.6"  # from today's weight and the height on file
    assert fields["visit_date"] == result["today"] and result["limits"]["glucose_control"] == "7.0"  # noqa: PT018
    call(
        agent,
        "entry.add",
        {
            "kind": "follow_up",
            "resident_id": person["id"],
            "fields": {"programme": "diabetes", "visit_date": result["today"], "target_staple_food_g": 250},
        },
    )
    again = call(agent, "followup.prefill", {"resident": person["id"], "programme": "diabetes"})
    assert again["fields"]["target_staple_food_g"] == 250
    assert len(again["previous"]) == 1


def test_old_readings_are_not_prefilled(agent: Agent) -> None:
    person = resident_named(agent, "杨光明")  # the demo's readings are 7 to 90 days old
    fields = call(agent, "followup.prefill", {"resident": person["id"], "programme": "hypertension"})["fields"]
    assert "sbp" not in fields


def test_a_reading_that_names_a_resident_is_pre_matched(agent: Agent) -> None:
    person = resident_named(agent, "吴国华")
    for hint, matched_by in ((person["id_number"], "id_number"), ("吴国华", "name"), ("wgh", "initials")):
        waiting = dataclasses.replace(reading(None), id=new_id(), subject_hint=hint)
        agent.store.readings.add(waiting, actor="test")
        found = call(agent, "reading.suggest", {"id": waiting.id})
        assert found["candidates"][0]["id"] == person["id"]
        assert found["candidates"][0]["matched_by"] == matched_by
    anonymous = dataclasses.replace(reading(None), id=new_id())
    agent.store.readings.add(anonymous, actor="test")
    assert call(agent, "reading.suggest", {"id": anonymous.id})["candidates"] == []


def test_lookup_tells_people_apart_and_a_technician_may_not(agent: Agent) -> None:
    match = resident_named(agent, "lxy")
    assert match["name"] == "龙秀英" and match["village"].startswith("松桃县")  # noqa: PT018
    assert match["key_populations"] == ["hypertension", "elderly"]
    with pytest.raises(AccessDenied):
        call(agent, "home.summary", caller=Caller(actor="user:tech", role="technician"))


def test_lookup_lists_each_resident_as_the_file_shows_them(agent: Agent) -> None:
    matches = call(agent, "resident.lookup", {"text": "1", "limit": 200})["matches"]  # any ID number with a 1
    assert len(matches) >= 5
    for match in matches:
        r = agent.store.residents.get(match["id"])
        assert match == {
            "id": r.id,
            "name": r.name,
            "matched_by": match["matched_by"],
            "sex": r.sex.value,
            "birth_date": r.birth_date.isoformat(),
            "village": r.village or "",
            "id_number": r.id_number,
            "health_record_number": r.health_record_number or "",
            "key_populations": [k.value for k in r.key_populations],
        }


def _audit_actions(agent: Agent) -> list[str]:
    return [e.action for e in agent.store.audit.entries()]


def test_a_search_per_keypress_commits_nothing_and_joins_the_audit_chain_with_the_next_write(
    agent: Agent,
) -> None:
    before = _audit_actions(agent)
    head = agent.store.audit.head()
    for text in ("l", "lx", "lxy"):
        call(agent, "resident.lookup", {"text": text})
    assert agent.store.audit.head() == head  # three keypresses, no commit
    match = resident_named(agent, "lxy")
    call(agent, "resident.file", {"resident": match["id"]})  # opening the file commits, searches first
    after = _audit_actions(agent)
    assert after[: len(before)] == before
    assert after[len(before) :] == ["resident.search"] * 4 + ["resident.view"]
    entries = list(agent.store.audit.entries())
    assert [e.at for e in entries] == sorted(e.at for e in entries)  # each keeps the time it was noted
    assert agent.store.audit.verify().ok


def test_deferred_search_entries_survive_a_failed_write_and_are_written_at_close(agent: Agent, demo_home: Path) -> None:
    call(agent, "resident.lookup", {"text": "lxy"})
    with pytest.raises(RecordNotFound):
        agent.store.readings.assign("no such reading", "nobody", actor="test")  # rolled back
    assert agent.store.core.deferred_audit == 1  # still waiting, not lost with the rollback
    root = agent.home.root
    agent.close()
    reopened = Agent.open(home_module.resolve(root))
    try:
        reopened.unlock(actor="test", passphrase=demo.DEMO_PASSPHRASE)
        actions = _audit_actions(reopened)
        assert actions[-2:] == ["resident.search", "unlock"]
        assert reopened.store.audit.verify().ok
    finally:
        reopened.close()


def test_the_daemons_housekeeping_commits_the_searches_of_a_quiet_clinic(agent: Agent) -> None:
    from types import SimpleNamespace

    from clinic_agent.runtime.daemon import Housekeeping

    call(agent, "resident.lookup", {"text": "lxy"})
    head = agent.store.audit.head()[0]
    server = SimpleNamespace(sessions=SimpleNamespace(expire_idle=list))
    Housekeeping(agent, server).tick()  # type: ignore[arg-type]
    assert agent.store.audit.head()[0] == head + 1
    assert _audit_actions(agent)[-1] == "resident.search"


def test_many_searches_without_a_write_commit_by_themselves(agent: Agent) -> None:
    head = agent.store.audit.head()[0]
    for _ in range(DEFERRED_AUDIT_LIMIT):
        call(agent, "resident.lookup", {"text": "lxy"})
    assert agent.store.audit.head()[0] == head + DEFERRED_AUDIT_LIMIT  # the last one flushed them all
    assert agent.store.core.deferred_audit == 0


def test_the_roster_follows_new_residents_and_forgets_at_lock(agent: Agent) -> None:
    new = dataclasses.replace(resident(), key_populations=(methods.KeyPopulation.DIABETES,))
    agent.store.residents.add(new, actor="test")
    assert new.id in {d["resident_id"] for d in call(agent, "home.summary")["due"]}
    agent.lock(actor="test")
    agent.unlock(actor="test", passphrase=demo.DEMO_PASSPHRASE)
    assert new.id in {d["resident_id"] for d in call(agent, "home.summary")["due"]}


def test_drafts_are_sealed_per_user_audited_and_taken_back_once(agent: Agent) -> None:
    draft = {"form": "entry.note", "args": {"resident_id": "r"}, "values": {"text": "头晕三天"}}
    kept = call(agent, "draft.save", {"draft": draft})["id"]
    assert call(agent, "draft.list")["drafts"] == [{"id": kept, "saved_at": ANY, "draft": draft}]
    nurse = Caller(actor="user:nurse", role="doctor")
    assert registry.call(agent, nurse, "draft.list", {})["drafts"] == []  # another user's drafts are not theirs
    with pytest.raises(RecordNotFound):
        registry.call(agent, nurse, "draft.delete", {"id": kept})
    with agent.store._core.read() as conn:
        (blob,) = conn.execute("SELECT payload FROM drafts").fetchone()
    assert "头晕".encode() not in bytes(blob) and b"doctor" not in bytes(blob)  # noqa: PT018
    call(agent, "draft.delete", {"id": kept})
    assert call(agent, "draft.list")["drafts"] == []
    actions = [e.action for e in agent.store.audit.for_objects([kept])]
    assert actions == ["draft.delete", "draft.save"]


def test_a_draft_survives_a_key_rotation(agent: Agent) -> None:
    from clinic_agent.runtime.rotation import rotate

    draft = {"form": "register", "args": {}, "values": {"name": "张秀英"}}
    call(agent, "draft.save", {"draft": draft})
    report = rotate(agent, actor="test")
    assert report.unreadable_rows == []
    assert [d["draft"] for d in call(agent, "draft.list")["drafts"]] == [draft]


def _flags_from_every_record(agent: Agent) -> dict[str, frozenset[methods.KeyPopulation]]:
    """The programme roster as it was read before: every resident decrypted whole."""
    page = agent.store.residents.changed_since(0)
    return {r.id: frozenset(r.key_populations) for r in page.residents if not r.deleted and r.key_populations}


def test_the_roster_from_the_index_is_the_one_every_record_gives(agent: Agent) -> None:
    from clinic_agent.api.file_methods import _roster

    flagged = dataclasses.replace(
        resident(), key_populations=(methods.KeyPopulation.DIABETES, methods.KeyPopulation.ELDERLY)
    )
    agent.store.residents.add(flagged, actor="test")
    unflagged = agent.store.residents.add(
        dataclasses.replace(resident(), key_populations=(methods.KeyPopulation.HYPERTENSION,)), actor="test"
    )
    agent.store.residents.update(dataclasses.replace(unflagged, key_populations=()), actor="test")
    gone = agent.store.residents.add(
        dataclasses.replace(resident(), key_populations=(methods.KeyPopulation.TUBERCULOSIS,)), actor="test"
    )
    agent.store.residents.update(dataclasses.replace(gone, deleted=True), actor="test")
    expected = _flags_from_every_record(agent)
    assert flagged.id in expected and unflagged.id not in expected and gone.id not in expected  # noqa: PT018
    assert _roster(agent) == expected
    agent._save_index()  # as after many changes: the next unlock takes the flags from the saved copy
    agent.lock(actor="test")
    agent.unlock(actor="test", passphrase=demo.DEMO_PASSPHRASE)
    assert agent.index_restored
    assert _roster(agent) == expected


def test_the_first_summary_after_an_unlock_decrypts_no_resident_for_the_roster(agent: Agent) -> None:
    from clinic_agent.api.file_methods import _roster

    expected = _flags_from_every_record(agent)
    agent.lock(actor="test")
    agent.unlock(actor="test", passphrase=demo.DEMO_PASSPHRASE)
    assert agent.index_restored  # the saved index, as at any unlock after the first
    core = agent.store._core
    opened: list[str] = []
    real_open = core.open

    def counting_open(table: str, *args: Any, **kwargs: Any) -> Any:
        opened.append(table)
        return real_open(table, *args, **kwargs)

    core.open = counting_open  # type: ignore[method-assign]
    try:
        assert _roster(agent) == expected
    finally:
        del core.open
    assert "residents" not in opened
