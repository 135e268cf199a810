"""FhirPlatform's error translation and request shape, against httpx.MockTransport (no network)."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest

from sync.errors import (
    AuthenticationFailed,
    PlatformProtocolError,
    PlatformRejected,
    PlatformUnavailable,
    SyncConflict,
)
from sync.fhir import bundle
from sync.platform import FhirPlatform

BASE = "https://platform.example/fhir"
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
FHIR = {"Content-Type": "application/fhir+json; charset=utf-8"}
OBSERVATION = {"resourceType": "Observation", "valueQuantity": {"value": Decimal("2.00")}}


def outcome(text: str, code: str = "processing") -> dict[str, object]:
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": code, "diagnostics": text}],
    }


def platform(handler: Callable[[httpx.Request], httpx.Response], **options: object) -> FhirPlatform:
    return FhirPlatform(BASE, transport=httpx.MockTransport(handler), clock=lambda: NOW, **options)  # type: ignore[arg-type]


async def test_a_transaction_is_posted_as_fhir_json_with_exact_decimals() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = {
            "resourceType": "Bundle",
            "type": "transaction-response",
            "entry": [{"response": {"status": "201 Created", "location": "Observation/1/_history/1"}}],
        }
        return httpx.Response(200, json=answer, headers=FHIR)

    async with platform(handler) as client:
        results = await client.transaction([bundle.create(OBSERVATION, "o1")])
    assert (results[0].status, results[0].resource_id, results[0].version_id) == (201, "1", "1")
    request = seen[0]
    assert (request.method, str(request.url)) == ("POST", BASE)
    assert request.headers["Content-Type"].startswith("application/fhir+json")
    assert request.headers["Accept"] == "application/fhir+json"
    assert b'"value":2.00' in request.content
    assert "Content-Encoding" not in request.headers


async def test_gzip_request_bodies_only_when_asked() -> None:
    bodies: list[bytes] = []

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers["Content-Encoding"] == "gzip"
        bodies.append(gzip.decompress(request.content))
        return httpx.Response(200, json={"resourceType": "Bundle", "type": "batch-response", "entry": []}, headers=FHIR)

    async with platform(handler, gzip_requests=True) as client:
        assert await client.batch([]) == []
    assert json.loads(bodies[0])["type"] == "batch"


@pytest.mark.parametrize(
    ("status", "headers", "error", "text"),
    [
        (503, {"Retry-After": "120"}, PlatformUnavailable, "retried"),
        (429, {"Retry-After": "Wed, 25 Nov 2026 12:00:30 GMT"}, PlatformUnavailable, "retried"),
        (401, {}, AuthenticationFailed, "credentials"),
        (412, {}, SyncConflict, "newer version"),
        (409, {}, SyncConflict, "newer version"),
        (400, {}, PlatformRejected, "parked"),
        (422, {}, PlatformRejected, "parked"),
    ],
)
async def test_http_errors_become_sync_errors_with_the_servers_reason(
    status: int, headers: dict[str, str], error: type[Exception], text: str
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json=outcome("Patient.birthDate: bad date"), headers={**FHIR, **headers})

    async with platform(handler) as client:
        with pytest.raises(error, match=text) as caught:
            await client.read("Patient", "1")
    assert "Patient.birthDate: bad date" in str(caught.value)
    if status == 503:
        assert caught.value.retry_after == 120  # type: ignore[attr-defined]
    if status == 429:
        assert caught.value.retry_after == 30  # type: ignore[attr-defined]


async def test_network_failures_become_platform_unavailable() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    async with platform(handler) as client:
        with pytest.raises(PlatformUnavailable, match="could not be reached"):
            await client.search("Patient", [("identifier", "x|y")])


async def test_a_proxy_html_page_is_a_protocol_error_even_with_200() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text="<html>Login to the Wi-Fi</html>", headers={"Content-Type": "text/html"})

    async with platform(handler) as client:
        with pytest.raises(PlatformProtocolError, match="captive portal"):
            await client.read("Patient", "1")


async def test_a_truncated_body_is_a_protocol_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b'{"resourceType": "Bundle", "type": "searchset", "entr', headers=FHIR)

    async with platform(handler) as client:
        with pytest.raises(PlatformProtocolError, match="not valid JSON"):
            await client.search("Patient", [])


async def test_the_reason_of_an_html_error_page_is_readable() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(502, text="<html><body>Bad gateway</body></html>", headers={"Content-Type": "text/html"})

    async with platform(handler) as client:
        with pytest.raises(PlatformUnavailable, match="HTML page"):
            await client.read("Patient", "1")


async def test_next_page_links_to_another_host_are_not_followed() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        page = {
            "resourceType": "Bundle",
            "type": "searchset",
            "link": [{"relation": "next", "url": "https://evil.example/fhir/Patient?_offset=2"}],
        }
        return httpx.Response(200, json=page, headers=FHIR)

    async with platform(handler) as client:
        first = await client.search("Patient", [])
        with pytest.raises(PlatformProtocolError, match="points elsewhere"):
            await client.next_page(first)


async def test_read_takes_the_version_from_the_etag() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        headers = {**FHIR, "ETag": 'W/"7"', "Last-Modified": "Wed, 25 Nov 2026 11:00:00 GMT"}
        return httpx.Response(
            200, json={"resourceType": "Patient", "id": "1", "meta": {"versionId": "7"}}, headers=headers
        )

    async with platform(handler) as client:
        found = await client.read("Patient", "1")
    assert (found.version_id, found.last_modified) == ("7", datetime(2026, 11, 25, 11, 0, tzinfo=UTC))
