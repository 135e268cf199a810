"""The regional platform, as the push/pull engine sees it, and its FHIR R4 adapter on httpx.

``Platform`` is what the engine needs: send a transaction or batch, search page by page, read one
resource. A WS/T 483 CDA / HL7 v3 adapter can implement the same protocol later.

``FhirPlatform`` owns one ``httpx.AsyncClient`` for a whole sync run (connection reuse), with
connect and read timeouts, TLS verification always on, responses decompressed by httpx, and every
failure translated once into ``sync.errors``:

- network errors, timeouts, 408, 429, 5xx -> ``PlatformUnavailable`` (with ``retry_after``)
- 401 -> ``AuthenticationFailed``; 409/412 -> ``SyncConflict``; other 4xx -> ``PlatformRejected``
  (each with the server's OperationOutcome in one line)
- a 2xx whose body is not the expected FHIR JSON -> ``PlatformProtocolError``

Request bodies are gzip-compressed only when asked (``gzip_requests=True``): SEKMET, the test
peer, does not decode ``Content-Encoding: gzip`` and answers 500.
"""

from __future__ import annotations

import gzip
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, Protocol
from urllib.parse import urlsplit

import httpx

from sync.errors import (
    AuthenticationFailed,
    PlatformProtocolError,
    PlatformRejected,
    PlatformUnavailable,
    SyncConflict,
)
from sync.fhir import bundle, wire
from sync.fhir.bundle import EntryResult, RequestEntry, SearchPage
from sync.fhir.capability import Capabilities, parse_capabilities
from sync.fhir.common import Resource
from sync.fhir.history import HistoryPage, parse_history
from sync.retry import Action, classify_exception, classify_status, parse_retry_after

CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 30.0


@dataclass(frozen=True, slots=True, kw_only=True)
class ReadResult:
    """A resource read from the platform, with its version."""

    resource: Resource
    version_id: str | None
    last_modified: datetime | None


class Platform(Protocol):
    """What the push/pull engine needs from the regional platform."""

    async def transaction(self, entries: Sequence[RequestEntry]) -> list[EntryResult]:
        """Apply all entries or none; one result per entry, in order."""
        ...

    async def batch(self, entries: Sequence[RequestEntry]) -> list[EntryResult]:
        """Apply each entry on its own; one result per entry, in order."""
        ...

    async def search(self, resource_type: str, params: Sequence[tuple[str, str]]) -> SearchPage:
        """The first page of a search."""
        ...

    async def next_page(self, page: SearchPage) -> SearchPage | None:
        """The page after ``page``, or None at the end."""
        ...

    async def read(self, resource_type: str, resource_id: str) -> ReadResult:
        """One resource by id (PlatformRejected with status 404/410 when it is not there)."""
        ...

    async def history(self, resource_type: str, params: Sequence[tuple[str, str]]) -> HistoryPage:
        """A page of ``Type/_history`` (writes and deletions), e.g. params ``_since`` and ``_count``."""
        ...

    async def capabilities(self) -> Capabilities:
        """What the platform supports (to choose conditional create or PUT to a client id)."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


class FhirPlatform:
    """A FHIR R4 server over HTTPS, as a ``Platform``."""

    def __init__(
        self,
        base_url: str,
        *,
        auth: httpx.Auth | None = None,
        connect_timeout: float = CONNECT_TIMEOUT,
        read_timeout: float = READ_TIMEOUT,
        gzip_requests: bool = False,
        prefer_minimal: bool = False,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._gzip = gzip_requests
        self._prefer = {"Prefer": "return=minimal"} if prefer_minimal else {}  # ids and versions, no echo
        self._clock = clock
        # The platform's clock (its Date header) and ours when it answered: a PC clock far off is named.
        self.clock_offset: float | None = None
        self._client = httpx.AsyncClient(
            auth=auth,
            timeout=httpx.Timeout(read_timeout, connect=connect_timeout),
            verify=True,
            transport=transport,
            headers={"Accept": wire.FHIR_JSON, "User-Agent": "clinic-agent-sync"},
            follow_redirects=False,
        )

    async def __aenter__(self) -> FhirPlatform:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._client.aclose()

    async def transaction(self, entries: Sequence[RequestEntry]) -> list[EntryResult]:
        """POST a transaction Bundle; one result per entry, in order."""
        return await self._bundle("transaction", entries)

    async def batch(self, entries: Sequence[RequestEntry]) -> list[EntryResult]:
        """POST a batch Bundle; one result per entry, in order (each may have failed on its own)."""
        return await self._bundle("batch", entries)

    async def _bundle(
        self, kind: Literal["transaction", "batch"], entries: Sequence[RequestEntry]
    ) -> list[EntryResult]:
        body = bundle.transaction(entries) if kind == "transaction" else bundle.batch(entries)
        response = await self._send("POST", self.base_url, what=kind, body=body, headers=self._prefer)
        return bundle.parse_response(_json(response, "Bundle"), kind=kind, expected=len(entries))

    async def search(self, resource_type: str, params: Sequence[tuple[str, str]]) -> SearchPage:
        """GET ``[base]/Type?params``: the first page."""
        response = await self._send("GET", f"{self.base_url}/{resource_type}", what="search", params=params)
        return bundle.parse_searchset(_json(response, "Bundle"))

    async def next_page(self, page: SearchPage) -> SearchPage | None:
        """Follow the page's next link (only to this platform), or None at the end."""
        if page.next_url is None:
            return None
        self._check_same_platform(page.next_url)
        response = await self._send("GET", page.next_url, what="search")
        return bundle.parse_searchset(_json(response, "Bundle"))

    async def read(self, resource_type: str, resource_id: str) -> ReadResult:
        """GET ``[base]/Type/id``."""
        response = await self._send("GET", f"{self.base_url}/{resource_type}/{resource_id}", what="read")
        resource = _json(response, resource_type)
        etag = response.headers.get("ETag")
        modified = response.headers.get("Last-Modified")
        meta = resource.get("meta")
        version = bundle.version_from_etag(etag) if etag else None
        if version is None and isinstance(meta, dict) and isinstance(meta.get("versionId"), str):
            version = meta["versionId"]
        return ReadResult(
            resource=resource,
            version_id=version,
            last_modified=bundle.parse_last_modified(modified) if modified else None,
        )

    async def history(self, resource_type: str, params: Sequence[tuple[str, str]]) -> HistoryPage:
        """GET ``[base]/Type/_history?params`` (build later pages yourself: see sync.fhir.history)."""
        response = await self._send("GET", f"{self.base_url}/{resource_type}/_history", what="history", params=params)
        return parse_history(_json(response, "Bundle"))

    async def capabilities(self) -> Capabilities:
        """GET ``[base]/metadata``, parsed."""
        response = await self._send("GET", f"{self.base_url}/metadata", what="capability check")
        return parse_capabilities(_json(response, "CapabilityStatement"))

    def _check_same_platform(self, url: str) -> None:
        mine, theirs = urlsplit(self.base_url), urlsplit(url)
        same = (mine.scheme, mine.netloc) == (theirs.scheme, theirs.netloc)
        if not same or not (theirs.path + "/").startswith(mine.path + "/"):
            raise PlatformProtocolError(
                f"the platform's next-page link points elsewhere ({theirs.netloc}); it was not followed"
            )

    async def _send(
        self,
        method: str,
        url: str,
        *,
        what: str,
        body: Resource | None = None,
        params: Sequence[tuple[str, str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        headers = dict(headers or {})
        content: bytes | None = None
        if body is not None:
            content = wire.dumps(body)
            headers["Content-Type"] = f"{wire.FHIR_JSON}; charset=utf-8"
            if self._gzip:
                content = gzip.compress(content)
                headers["Content-Encoding"] = "gzip"
        query = httpx.QueryParams([(key, value) for key, value in params]) if params else None
        try:
            response = await self._client.request(method, url, content=content, headers=headers, params=query)
        except httpx.HTTPError as exc:
            raise _translate_exception(exc, what, self.base_url) from exc
        self._note_date(response)
        if not 200 <= response.status_code < 300:
            raise _translate_status(response, what, self._clock())
        return response

    def _note_date(self, response: httpx.Response) -> None:
        date = response.headers.get("Date")
        if date:
            try:
                theirs = bundle.parse_last_modified(date)
            except PlatformProtocolError:
                return
            self.clock_offset = (self._clock() - theirs).total_seconds()


def _translate_exception(exc: httpx.HTTPError, what: str, base_url: str) -> Exception:
    host = urlsplit(base_url).netloc
    detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    tls = _tls_failure(exc)
    if tls is not None:
        return PlatformUnavailable(
            f"the TLS certificate of {host} could not be verified ({tls}); check the PC clock and the platform "
            "address — nothing was sent, the work stays queued"
        )
    if classify_exception(exc) is Action.RETRY:
        return PlatformUnavailable(
            f"{_broken_link(exc, what, host)} ({detail}); the work stays queued and is retried when the link is back"
        )
    return PlatformRejected(f"the {what} could not be sent to {host} ({detail}); check the platform address")


def _broken_link(exc: httpx.HTTPError, what: str, host: str) -> str:
    """What happened on the link, in words: the platform was reached when its answer was cut off or the
    connection closed before it answered (it may have acted on the request), else it was not reached."""
    if isinstance(exc, httpx.RemoteProtocolError):
        text = str(exc)
        if "complete message body" in text:  # h11: fewer bytes than Content-Length or a chunk promised
            return f"the platform's answer to the {what} was cut off"
        if "without sending a response" in text:
            return f"the connection to {host} closed before the platform answered the {what}"
    return f"the platform at {host} could not be reached for the {what}"


def _tls_failure(exc: BaseException) -> str | None:
    """The reason of a failed TLS handshake, if that is what ``exc`` was."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return seen.verify_message or "certificate verification failed"
        if isinstance(seen, ssl.SSLError):
            return seen.reason or "TLS handshake failed"
        seen = seen.__cause__ or seen.__context__
    text = str(exc)
    return "certificate verification failed" if "CERTIFICATE_VERIFY_FAILED" in text else None


def _translate_status(response: httpx.Response, what: str, now: datetime) -> Exception:
    status = response.status_code
    reason = reason_of(response)
    action = classify_status(status)
    if action is Action.REFRESH_AUTH:
        return AuthenticationFailed(
            f"the platform refused our credentials for the {what} (401: {reason}); "
            "if a fresh token does not help, re-enrol the clinic"
        )
    if action is Action.CONFLICT:
        return SyncConflict(
            f"the platform holds a newer version ({status}: {reason}); it will be pulled and merged",
            status=status,
            reason=reason,
        )
    if action is Action.REJECT:
        return PlatformRejected(
            f"the platform refused the {what} ({status}: {reason}); it is parked until the record is fixed",
            status=status,
            reason=reason,
        )
    return PlatformUnavailable(
        f"the platform could not take the {what} now ({status}: {reason}); it will be retried",
        retry_after=parse_retry_after(response.headers.get("Retry-After"), now=now),
        status=status,
    )


def reason_of(response: httpx.Response) -> str:
    """The server's reason for an error in one line: its OperationOutcome, else a snippet of the body."""
    try:
        return bundle.parse_outcome(wire.loads(response.content))
    except PlatformProtocolError:
        pass
    text = " ".join(response.text.split())[:160]
    if "html" in response.headers.get("Content-Type", "").lower():
        return f"{response.reason_phrase or 'error'} (an HTML page, probably from a proxy)"
    return text or response.reason_phrase or "no reason given"


def _json(response: httpx.Response, what: str) -> dict[str, Any]:
    kind = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if kind not in (wire.FHIR_JSON, "application/json"):
        raise PlatformProtocolError(
            f"the platform answered with {kind or 'no content type'} where FHIR JSON was expected; "
            "a proxy or captive portal may be in the way"
        )
    return wire.load_object(response.content, what)
