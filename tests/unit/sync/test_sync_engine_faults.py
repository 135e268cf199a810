"""What the engine does with each kind of answer: transient ones are retried, the rest park or stop the run."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from clinic_agent.core.errors import ConfigError
from clinic_agent.runtime import syncing
from clinic_agent.store import Store
from sync.engine import EngineOptions, SyncEngine
from sync.platform import FhirPlatform
from tests.support import resident
from tests.unit.sync.engine_support import quick_store

BASE = "https://platform.example/fhir"
FHIR = {"Content-Type": "application/fhir+json"}
CAPABILITIES = {
    "resourceType": "CapabilityStatement",
    "rest": [{"mode": "server", "resource": [], "interaction": [{"code": "transaction"}]}],
}
OPTIONS = EngineOptions(attempts=3, backoff_base=0.0, backoff_cap=0.0, pull=False)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    made = quick_store(tmp_path / "clinic")
    yield made
    made.close()


def created(request: httpx.Request) -> httpx.Response:
    entries = len(httpx.Response(200, content=request.content).json()["entry"])
    body = {
        "resourceType": "Bundle",
        "type": "transaction-response",
        "entry": [
            {"response": {"status": "201 Created", "location": f"Patient/p{i}/_history/1"}} for i in range(entries)
        ],
    }
    return httpx.Response(200, json=body, headers=FHIR)


def sync_with(store: Store, failure: httpx.Response | Exception, *, times: int = 1) -> tuple[list[str], int]:
    calls = {"bundle": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/metadata"):
            return httpx.Response(200, json=CAPABILITIES, headers=FHIR)
        if request.method == "GET" and request.url.path.endswith("/Patient"):  # the look-up before a create
            return httpx.Response(200, json={"resourceType": "Bundle", "type": "searchset", "total": 0}, headers=FHIR)
        calls["bundle"] += 1
        if calls["bundle"] <= times:
            if isinstance(failure, Exception):
                raise failure
            return failure
        return created(request)

    async def go() -> list[str]:
        async with FhirPlatform(BASE, transport=httpx.MockTransport(handler)) as client:
            report = await SyncEngine(store.sync, client, OPTIONS, sleep=_no_sleep).run()
        return report.errors

    return asyncio.run(go()), calls["bundle"]


async def _no_sleep(_seconds: float) -> None:
    return None


REQUEST = httpx.Request("POST", BASE)
TRANSIENT = [
    httpx.Response(408),
    httpx.Response(429, headers={"Retry-After": "1"}),
    httpx.Response(500),
    httpx.Response(502),
    httpx.Response(503),
    httpx.Response(504),
    httpx.Response(200, text="<html>portal</html>", headers={"Content-Type": "text/html"}),
    httpx.Response(200, content=b'{"resourceType": "Bundle", "type": "transac', headers=FHIR),
    httpx.ConnectError("refused", request=REQUEST),
    httpx.ConnectTimeout("slow", request=REQUEST),
    httpx.ReadTimeout("silent", request=REQUEST),
    httpx.WriteError("broken pipe", request=REQUEST),
    httpx.RemoteProtocolError("peer closed connection without sending complete message body", request=REQUEST),
]


@pytest.mark.parametrize("failure", TRANSIENT, ids=lambda f: getattr(f, "status_code", None) or type(f).__name__)
def test_a_transient_failure_is_retried_and_the_record_gets_through(store: Store, failure: object) -> None:
    person = store.residents.add(resident(), actor="t")
    errors, calls = sync_with(store, failure)  # type: ignore[arg-type]
    assert (errors, calls) == ([], 2)
    assert store.sync.record_state("residents", person.id) == "confirmed"


@pytest.mark.parametrize(
    "failure", TRANSIENT[:3] + TRANSIENT[8:10], ids=lambda f: getattr(f, "status_code", None) or type(f).__name__
)
def test_a_link_that_stays_down_ends_the_run_with_one_line_and_keeps_the_work(store: Store, failure: object) -> None:
    store.residents.add(resident(), actor="t")
    errors, calls = sync_with(store, failure, times=99)  # type: ignore[arg-type]
    assert calls == OPTIONS.attempts
    assert len(errors) == 1
    assert "\n" not in errors[0]
    assert store.sync.queue_counts()["pending"] == 1


@pytest.mark.parametrize("status", [400, 403, 404, 405, 410, 422])
def test_a_refusal_parks_the_record_with_the_reason(store: Store, status: int) -> None:
    outcome = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "invalid", "diagnostics": "no"}],
    }
    store.residents.add(resident(), actor="t")
    errors, calls = sync_with(store, httpx.Response(status, json=outcome, headers=FHIR), times=99)
    assert (errors, calls) == ([], 1)
    [parked] = store.sync.parked()
    assert parked.reason == "error invalid: no"


def test_sync_settings_are_checked_and_errors_name_the_key() -> None:
    assert syncing.settings({"batch_size": 10, "gzip": True}).batch_size == 10
    for raw, key in [
        ({"batch_size": 0}, "sync.batch_size"),
        ({"batch_size": "ten"}, "sync.batch_size"),
        ({"gzip": "yes"}, "sync.gzip"),
        ({"colour": 1}, "sync.colour"),
        ({"batch_size": 100, "max_batch": 10}, "sync.max_batch"),
    ]:
        with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
            syncing.settings(raw)
