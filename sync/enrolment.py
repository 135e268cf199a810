"""Enrolment: the platform's address and credentials, the clinic's Organization, the PC clock against the platform.

The platform's address, the clinic's Organization id and the kind of credentials are ``sync.*``
settings of the store; a token or private key is kept encrypted (``SyncRecords.save_secret``).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from clinic_agent.core.errors import ConfigError, InvalidInput
from clinic_agent.core.model import new_id, utcnow
from sync import auth, targets
from sync.engine.mapping import PULLED
from sync.engine.pull import COVERED, WALK
from sync.errors import AuthenticationFailed, PlatformProtocolError, SyncError
from sync.fhir import bundle, organization
from sync.fhir.bundle import EntryResult
from sync.fhir.common import Resource, find_identifier
from sync.host import Host
from sync.platform import FhirPlatform, Platform
from sync.settings import SyncSettings

DEFAULT_SCOPE = auth.DEFAULT_SCOPE
SECRET = "platform"  # noqa: S105  (the name of the encrypted row, not a secret)


@dataclass(frozen=True, slots=True)
class Smart:
    """SMART Backend Services registration details."""

    client_id: str
    token_url: str
    scope: str = DEFAULT_SCOPE


def check_url(url: str) -> str:
    """A platform base URL: https, or http only to this machine (tests, a local proxy)."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("https", "http") or not parts.netloc:
        raise InvalidInput(f"--platform {url!r} is not an http(s) URL, e.g. https://platform.example/fhir")
    if parts.scheme == "http" and parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise InvalidInput("the platform must be reached over https (plain http is only for 127.0.0.1)")
    return url.strip().rstrip("/")


async def enroll(
    host: Host,
    url: str,
    *,
    token: str | None = None,
    smart: Smart | None = None,
    actor: str,
    private_key_pem: bytes | None = None,
) -> dict[str, Any]:
    """Register this clinic: check the link, clock and credentials; find or make its Organization and
    read it back (``prove_organization``: the answer's ``round_trip``), or nothing is saved.

    With SMART the key is made here; until the platform has its public key the token endpoint
    refuses us, so the enrolment is kept and the answer says to register the key (sync then starts
    by itself once the platform accepts it).
    """
    host.require_unlocked()
    site = host.site
    if not site.code:
        raise ConfigError(f"{site.config_path}: set clinic.code (the clinic's code on the platform) first")
    base = check_url(url)
    secret, public, warning = _credentials(token, smart, private_key_pem)
    result: dict[str, Any] = {"platform": base, "auth": secret["kind"], "public_jwk": public, "warning": warning}
    if smart is not None:  # kept before the first contact: the key must survive a refusal
        await _save(host, base, secret, actor)
    try:
        async with connect(base, secret, site.settings) as platform:
            await platform.capabilities()
            check_clock(platform, site.settings)
            organization_id, proof = await prove_organization(host, platform)
            offered, offered_error = await targets.fetch_or_reason(platform)
    except AuthenticationFailed as exc:
        if smart is None:
            raise
        result.update(organization_id=None, registration_needed=True, warning=f"{exc}")
        return result
    if smart is None:
        await _save(host, base, secret, actor)
    await asyncio.to_thread(host.records.save_settings, {"organization_id": organization_id})
    result["organization_id"] = organization_id
    result["round_trip"] = proof
    if offered is not None:  # whom a doctor may ask, kept for offline use (sync/targets.py)
        await targets.keep(host.records, offered)
    result["consultation_targets"] = offered
    if offered_error:
        result["warning"] = "; ".join(w for w in (warning, offered_error) if w)
    return result


def _credentials(
    token: str | None, smart: Smart | None, private_key_pem: bytes | None
) -> tuple[dict[str, Any], dict[str, Any] | None, str | None]:
    """(the secret to keep, the public JWK to register, a warning)."""
    if smart is not None:
        pem = private_key_pem or auth.new_private_key()
        secret = {"kind": "smart", "client_id": smart.client_id, "token_url": smart.token_url, "scope": smart.scope}
        secret["private_key_pem"] = pem.decode("ascii")
        return secret, auth.public_jwk(pem), None
    if token is not None:
        if not token.strip() or any(ch.isspace() for ch in token.strip()):
            raise InvalidInput("the token file must hold one token on one line")
        return {"kind": "bearer", "token": token.strip()}, None, None
    return {"kind": "none"}, None, "the platform is used without authentication (acceptable only for pilots and tests)"


async def _save(host: Host, base: str, secret: dict[str, Any], actor: str) -> None:
    """Keep the enrolment; a new platform is pulled from the start (every pulled type's cursor reset)."""
    records = host.records
    await asyncio.to_thread(records.save_secret, SECRET, secret, actor=actor)
    values: dict[str, str | None] = {
        "platform": base,
        "auth": str(secret["kind"]),
        "organization_id": None,
        "enrolled_at": utcnow().isoformat(),
        "last_sync": None,
        "last_error": None,
        targets.SETTING: None,  # the last platform's consultation services: fetched anew from this one
        targets.FETCHED_AT: None,
    }
    await asyncio.to_thread(records.save_settings, values, actor=actor, action="sync.enroll")
    for resource_type in PULLED:
        for key in (resource_type, resource_type + WALK, resource_type + COVERED):
            await asyncio.to_thread(records.reset_cursor, key)


def enrolled(host: Host) -> dict[str, str] | None:
    """The enrolment settings, or None."""
    found = host.records.settings()
    return found if found.get("platform") else None


async def _write_organization(host: Host, platform: Platform) -> EntryResult:
    """The clinic's Organization on the platform, made if missing (conditional on the clinic code)."""
    site = host.site
    clinic = organization.Clinic(code=site.code, name=site.name)
    ns = site.namespace
    entry = bundle.create(
        organization.to_fhir(clinic, ns=ns), new_id(), if_none_exist=organization.identifier_search(clinic.code, ns=ns)
    )
    result = (await platform.transaction([entry]))[0]
    if not result.resource_id:
        raise PlatformProtocolError("the platform did not say which Organization is this clinic's")
    return result


async def prove_organization(host: Host, platform: Platform) -> tuple[str, dict[str, Any]]:
    """Write the clinic's Organization (conditional create), read it back and compare: a proven round trip.

    A link that takes a write and answers 200 is not yet a platform that keeps what it is sent (a
    proxy, a read-only mirror, a server under another base): what was written must come back. The
    fields compared are those sync relies on (type, id, the clinic code under the namespace) and,
    when this request made the Organization, its name too (one the platform team made first may name
    the clinic its own way). Raises PlatformProtocolError with the difference and a fix."""
    started = time.monotonic()
    written = await _write_organization(host, platform)
    organization_id = written.resource_id or ""
    read = await platform.read("Organization", organization_id)
    elapsed_ms = round((time.monotonic() - started) * 1000)
    created = written.status == 201
    problem = _organization_differs(read.resource, organization_id, host, compare_name=created)
    if problem:
        raise PlatformProtocolError(
            f"the platform did not give back the clinic's Organization it was sent ({problem}): check "
            "that the URL is the platform's FHIR base, not a proxy or a copy of it, and enrol again"
        )
    return organization_id, {
        "resource": f"Organization/{organization_id}",
        "created": created,
        "clinic_code": host.site.code,
        "ms": elapsed_ms,
    }


def _organization_differs(resource: Resource, organization_id: str, host: Host, *, compare_name: bool) -> str:
    """What the Organization read back lacks of what was written; '' when it holds it all."""
    site = host.site
    if resource.get("resourceType") != "Organization" or resource.get("id") != organization_id:
        return f"asked for Organization/{organization_id}, got {resource.get('resourceType')}/{resource.get('id')}"
    try:
        code = find_identifier(resource, site.namespace.clinic_code_system)
    except PlatformProtocolError as exc:
        return str(exc)
    if code != site.code:
        return f"its clinic code reads {code!r}, not {site.code!r}"
    if compare_name and resource.get("name") != site.name:
        return f"its name reads {resource.get('name')!r}, not {site.name!r}"
    return ""


def connect(base: str, secret: dict[str, Any], settings: SyncSettings) -> FhirPlatform:
    """The platform client for a run, with the enrolment's credentials and the ``[sync]`` timeouts."""
    credentials: httpx.Auth | None = None
    if secret.get("kind") == "bearer":
        credentials = auth.BearerAuth(str(secret["token"]))
    elif secret.get("kind") == "smart":
        credentials = auth.SmartBackendAuth(
            auth.SmartClient(
                client_id=str(secret["client_id"]),
                token_url=str(secret["token_url"]),
                private_key_pem=str(secret["private_key_pem"]).encode("ascii"),
                scope=str(secret.get("scope") or auth.DEFAULT_SCOPE),
            )
        )
    return FhirPlatform(
        base,
        auth=credentials,
        connect_timeout=settings.connect_timeout_s,
        read_timeout=settings.read_timeout_s,
        gzip_requests=settings.gzip,
        prefer_minimal=True,
    )


def check_clock(platform: FhirPlatform, settings: SyncSettings) -> None:
    """Refuse to sync with a PC clock far off the platform's (its Date header): timestamps would lie."""
    offset = platform.clock_offset
    if offset is not None and abs(offset) > settings.max_clock_skew_s:
        way = "ahead of" if offset > 0 else "behind"
        raise SyncError(
            f"the PC clock is {_duration(abs(offset))} {way} the platform's: set the date and time, "
            "then sync resumes by itself (nothing was sent; the work stays queued)"
        )


def _duration(seconds: float) -> str:
    if seconds >= 86400:
        return f"{seconds / 86400:.1f} days"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} hours"
    return f"{seconds / 60:.0f} minutes"
