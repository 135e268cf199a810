"""Whom a doctor may ask, against the real FHIR server (SEKMET): the platform's consultation services are
fetched at enrolment and at every sync, kept for offline use, laid under agent.toml's
``[platform] consultation``, and taken by ``consult.request`` by reference or by name."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from clinic_agent.api import registry
from clinic_agent.core.errors import InvalidInput
from clinic_agent.core.model import Condition, new_id
from clinic_agent.runtime import syncing
from clinic_agent.runtime.agent import Agent, Caller
from sync.engine import EngineOptions
from tests.support import resident

DOCTOR = Caller(actor="user:doctor", role="doctor")
CONSULTATION = {"coding": [{"system": "http://snomed.info/sct", "code": "11429006", "display": "Consultation"}]}


class Directory:
    """The region's directory of services, as the platform team keeps it."""

    def __init__(self, base: str) -> None:
        self.http = httpx.Client(base_url=base, headers={"Accept": "application/fhir+json"}, timeout=10)

    def service(self, name: str, hospital: str, *, consultation: bool = True, active: bool = True) -> str:
        kind = CONSULTATION if consultation else {"text": "门诊"}
        body = {
            "resourceType": "HealthcareService",
            "active": active,
            "name": name,
            "providedBy": {"display": hospital},
            "type": [kind],
        }
        answer = self.http.post("HealthcareService", json=body)
        assert answer.status_code == 201, answer.text
        return f"HealthcareService/{answer.json()['id']}"


@pytest.fixture
def directory(fresh_fhir_server: str) -> Iterator[Directory]:
    kept = Directory(fresh_fhir_server)
    try:
        yield kept
    finally:
        kept.http.close()


def call(agent: Agent, method: str, params: dict[str, Any] | None = None) -> Any:
    return registry.call(agent, DOCTOR, method, params or {})


def offered(agent: Agent) -> dict[str, tuple[str, str]]:
    return {t["target"]: (t["name"], t["source"]) for t in call(agent, "consult.targets")["targets"]}


def run_sync(agent: Agent) -> syncing.SyncReport:
    settings = agent.store.sync.settings()
    options = EngineOptions(organization_id=settings.get("organization_id"), attempts=1, backoff_base=0.01)
    return asyncio.run(syncing.run_once(agent, options=options))


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def settings_saved(agent: Agent, monkeypatch: pytest.MonkeyPatch) -> list[set[str]]:
    """The names of the sync settings each transaction of the store's save_settings writes, from now on."""
    saved: list[set[str]] = []
    real = agent.store.sync.save_settings

    def counting(values: dict[str, str | None], **more: Any) -> None:
        saved.append(set(values))
        real(values, **more)

    monkeypatch.setattr(agent.store.sync, "save_settings", counting)
    return saved


def test_consultation_services_come_from_the_platform_and_stay_for_offline_use(
    fresh_fhir_server: str, clinic_factory: Callable[..., Agent], directory: Directory, monkeypatch: pytest.MonkeyPatch
) -> None:
    cardiology = directory.service("心内科", "铜仁市人民医院")
    directory.service("儿科门诊", "碧江区妇幼保健院", consultation=False)  # a service, but not for consultation
    directory.service("内分泌科", "万山区人民医院", active=False)  # no longer offered
    overridden = directory.service("儿科", "碧江区妇幼保健院")
    named = [f"{overridden} 妇幼保健院 儿科 (远程会诊)", "Organization/77 县医院 会诊中心"]
    config = "[platform]\nconsultation = [" + ", ".join(f'"{n}"' for n in named) + "]\n"
    agent = clinic_factory(extra=config)
    assert offered(agent) == {  # before enrolment: what agent.toml names
        overridden: ("妇幼保健院 儿科 (远程会诊)", "config"),
        "Organization/77": ("县医院 会诊中心", "config"),
    }

    asyncio.run(syncing.enroll(agent, fresh_fhir_server, actor="test"))
    assert offered(agent) == {
        overridden: ("妇幼保健院 儿科 (远程会诊)", "config"),  # agent.toml's name wins for the same service
        "Organization/77": ("县医院 会诊中心", "config"),
        cardiology: ("铜仁市人民医院 心内科", "platform"),
    }

    endocrinology = directory.service("内分泌科", "铜仁市人民医院")  # the platform offers one more
    saved = settings_saved(agent, monkeypatch)
    report = run_sync(agent)
    assert report.errors == []
    kept = [names for names in saved if "consultation_targets" in names]
    assert kept == [{"last_error", "last_sync", "consultation_targets", "consultation_targets_at"}], (
        "the list is kept with the sync's outcome, in one transaction"
    )
    monkeypatch.undo()
    assert offered(agent)[endocrinology] == ("铜仁市人民医院 内分泌科", "platform")
    fetched_at = call(agent, "consult.targets")["fetched_at"]
    assert fetched_at is not None

    # The link is down: the request form still offers what was last fetched, and a request takes a name.
    agent.store.sync.save_settings({"platform": f"http://127.0.0.1:{closed_port()}"})
    assert run_sync(agent).offline
    assert endocrinology in offered(agent)
    assert call(agent, "consult.targets")["fetched_at"] == fetched_at
    person = agent.store.residents.add(resident(), actor="test")
    htn = agent.store.entries.add(Condition(id=new_id(), resident_id=person.id, name="高血压", code="2"), actor="t")
    asking = {"resident_id": person.id, "question": "血糖控制不佳", "attachments": [f"condition:{htn.id}"]}
    made = call(agent, "consult.request", {**asking, "target": "内分泌科"})
    assert (made["target"], made["target_name"]) == (endocrinology, "铜仁市人民医院 内分泌科")
    made = call(agent, "consult.request", {**asking, "target": cardiology})
    assert made["target_name"] == "铜仁市人民医院 心内科"
    with pytest.raises(InvalidInput, match="not one of the consultation services offered"):
        call(agent, "consult.request", {**asking, "target": "HealthcareService/not-offered"})
    with pytest.raises(InvalidInput, match="more than one"):
        call(agent, "consult.request", {**asking, "target": "科"})
