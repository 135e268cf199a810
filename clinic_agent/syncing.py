"""Wiring of sync into the agent: enrolment, the ``[sync]`` settings, and the opportunistic sync loop.

``SyncService`` (a daemon service) probes the platform, syncs while the link holds, backs off while
it does not, and starts at once when new work is committed and the link is up; never more than one
sync at a time. Without a daemon, ``controller_for(agent)`` runs one sync in this process. The
platform's address, the clinic's Organization id and the kind of credentials are ``sync.*`` rows of
the store; a token or private key is kept encrypted (``store.sync.save_secret``).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from clinic_agent.agent import Agent
from clinic_agent.config import SyncSettings, sync_settings
from clinic_agent.errors import ClinicAgentError, ConfigError, InvalidInput, StoreLocked
from clinic_agent.model import new_id, utcnow
from sync import auth
from sync.engine import EngineOptions, SyncEngine, SyncReport, versions
from sync.errors import AuthenticationFailed, PlatformProtocolError, PlatformRejected, PlatformUnavailable, SyncError
from sync.fhir import audit_anchor, bundle, organization
from sync.fhir.codes import Namespace
from sync.platform import FhirPlatform, Platform

_LOGGER = logging.getLogger(__name__)
DEFAULT_SCOPE = auth.DEFAULT_SCOPE
SECRET = "platform"  # noqa: S105  (the name of the encrypted row, not a secret)
STATES = ("not enrolled", "idle", "syncing", "offline", "error")


# -- [sync] in agent.toml ------------------------------------------------------------------------------


# Checked with the rest of agent.toml when it is loaded (``Config.sync``), so that `doctor` and
# every command refuse a wrong key just as `run` does.
settings = sync_settings


# -- enrolment ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Smart:
    """SMART Backend Services registration details."""

    client_id: str
    token_url: str
    scope: str = auth.DEFAULT_SCOPE


def check_url(url: str) -> str:
    """A platform base URL: https, or http only to this machine (tests, a local proxy)."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("https", "http") or not parts.netloc:
        raise InvalidInput(f"--platform {url!r} is not an http(s) URL, e.g. https://platform.example/fhir")
    if parts.scheme == "http" and parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise InvalidInput("the platform must be reached over https (plain http is only for 127.0.0.1)")
    return url.strip().rstrip("/")


async def enroll(
    agent: Agent,
    url: str,
    *,
    token: str | None = None,
    smart: Smart | None = None,
    actor: str,
    private_key_pem: bytes | None = None,
) -> dict[str, Any]:
    """Register this clinic: check the link, clock and credentials; find or make its Organization.

    With SMART the key is made here; until the platform has its public key the token endpoint
    refuses us, so the enrolment is kept and the answer says to register the key (sync then starts
    by itself once the platform accepts it).
    """
    agent.require_unlocked()
    config = agent.config.sync
    if not agent.config.clinic_code:
        raise ConfigError(f"{agent.home.config_path}: set clinic.code (the clinic's code on the platform) first")
    base = check_url(url)
    secret: dict[str, Any] = {"kind": "none"}
    warning = None
    public = None
    if smart is not None:
        pem = private_key_pem or auth.new_private_key()
        secret = {"kind": "smart", "client_id": smart.client_id, "token_url": smart.token_url, "scope": smart.scope}
        secret["private_key_pem"] = pem.decode("ascii")
        public = auth.public_jwk(pem)
    elif token is not None:
        if not token.strip() or any(ch.isspace() for ch in token.strip()):
            raise InvalidInput("the token file must hold one token on one line")
        secret = {"kind": "bearer", "token": token.strip()}
    else:
        warning = "the platform is used without authentication (acceptable only for pilots and tests)"
    result: dict[str, Any] = {"platform": base, "auth": secret["kind"], "public_jwk": public, "warning": warning}
    if smart is not None:  # kept before the first contact: the key must survive a refusal
        await _save_enrolment(agent, base, secret, actor)
    try:
        async with _platform(base, secret, config) as platform:
            await platform.capabilities()
            _check_clock(platform, config)
            organization_id = await find_organization(agent, platform)
    except AuthenticationFailed as exc:
        if smart is None:
            raise
        result.update(organization_id=None, registration_needed=True, warning=f"{exc}")
        return result
    if smart is None:
        await _save_enrolment(agent, base, secret, actor)
    await asyncio.to_thread(agent.store.sync.save_settings, {"organization_id": organization_id})
    result["organization_id"] = organization_id
    return result


async def _save_enrolment(agent: Agent, base: str, secret: dict[str, Any], actor: str) -> None:
    await asyncio.to_thread(agent.store.sync.save_secret, SECRET, secret, actor=actor)
    values: dict[str, str | None] = {
        "platform": base,
        "auth": str(secret["kind"]),
        "organization_id": None,
        "enrolled_at": utcnow().isoformat(),
        "last_sync": None,
        "last_error": None,
    }
    await asyncio.to_thread(agent.store.sync.save_settings, values, actor=actor, action="sync.enroll")
    for resource_type in (
        "Patient",
        "Condition",
        "AllergyIntolerance",
        "Procedure",
        "FamilyMemberHistory",
        "Observation",
    ):
        await asyncio.to_thread(agent.store.sync.reset_cursor, resource_type)


def namespace(agent: Agent) -> Namespace:
    """The namespace of the agent's own FHIR URLs: ``[platform] namespace`` (checked when agent.toml is read)."""
    return Namespace(agent.config.namespace)


async def find_organization(agent: Agent, platform: Platform) -> str:
    """The clinic's Organization on the platform, made if missing (conditional on the clinic code)."""
    clinic = organization.Clinic(code=agent.config.clinic_code, name=agent.config.clinic_name)
    ns = namespace(agent)
    entry = bundle.create(
        organization.to_fhir(clinic, ns=ns), new_id(), if_none_exist=organization.identifier_search(clinic.code, ns=ns)
    )
    result = (await platform.transaction([entry]))[0]
    if not result.resource_id:
        raise PlatformProtocolError("the platform did not say which Organization is this clinic's")
    return result.resource_id


def _platform(base: str, secret: dict[str, Any], config: SyncSettings) -> FhirPlatform:
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
        connect_timeout=config.connect_timeout_s,
        read_timeout=config.read_timeout_s,
        gzip_requests=config.gzip,
        prefer_minimal=True,
    )


def _check_clock(platform: FhirPlatform, config: SyncSettings) -> None:
    offset = platform.clock_offset
    if offset is not None and abs(offset) > config.max_clock_skew_s:
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


# -- one sync ---------------------------------------------------------------------------------------


def enrolled(agent: Agent) -> dict[str, str] | None:
    """The enrolment settings, or None."""
    found = agent.store.sync.settings()
    return found if found.get("platform") else None


async def run_once(
    agent: Agent, *, options: EngineOptions | None = None, platform: FhirPlatform | None = None
) -> SyncReport:
    """One sync of this agent's store with its platform."""
    enrolment = await asyncio.to_thread(enrolled, agent)
    if enrolment is None:
        raise InvalidInput("this clinic is not enrolled with a platform: run `clinic-agent enroll --platform URL`")
    agent.require_unlocked()
    config = agent.config.sync
    secret = await asyncio.to_thread(agent.store.sync.secret, SECRET) or {"kind": "none"}
    options = options or EngineOptions(
        organization_id=enrolment.get("organization_id"),
        namespace=namespace(agent),
        batch_size=config.batch_size,
        max_batch=config.max_batch,
        page_size=config.page_size,
        attempts=config.attempts,
    )
    own = platform is None
    client = platform or _platform(enrolment["platform"], secret, config)
    try:
        report = await _run(agent, client, options, config)
    finally:
        if own:
            await client.aclose()
    failed = report.errors[0] if report.errors and (report.offline or not (report.pushed or report.pulled)) else None
    values: dict[str, str | None] = {"last_error": failed}
    if not report.offline:
        values["last_sync"] = utcnow().isoformat()
    await asyncio.to_thread(agent.store.sync.save_settings, values)
    return report


async def _run(agent: Agent, client: FhirPlatform, options: EngineOptions, config: SyncSettings) -> SyncReport:
    if not options.organization_id:  # enrolled before the platform would talk to us (SMART)
        try:
            organization_id = await find_organization(agent, client)
        except SyncError as exc:
            return SyncReport(errors=[str(exc)], offline=isinstance(exc, PlatformUnavailable))
        await asyncio.to_thread(agent.store.sync.save_settings, {"organization_id": organization_id})
        options = dataclasses.replace(options, organization_id=organization_id)
    engine = SyncEngine(
        agent.store.sync,
        client,
        options,
        on_conflict=lambda i: agent.publish("conflict.new", {"id": i}),
        after_probe=lambda: _check_clock(client, config),
        on_progress=lambda progress: agent.publish("sync.progress", progress),
    )
    report = await engine.run()
    for answer in report.answers:  # the home screen's consultation inbox raises an alert
        agent.publish("consult.answer", {"id": answer})
    if not report.errors:
        report.audit = await _anchor(agent, client, options.organization_id)
    return report


async def _anchor(agent: Agent, client: Platform, organization_id: str | None) -> str:
    """Compare the platform's copy of the audit chain's head with the chain here (a cut or rolled-back
    log is recorded as such, a restore as that restore), then put the new head there; a failure only
    waits for the next sync. What the comparison found ('' when the heads agree)."""
    version: str | None = None
    try:
        read = await client.read("AuditEvent", audit_anchor.anchor_id(agent.store.store_id))
        held, version = audit_anchor.from_fhir(read.resource), read.version_id
    except PlatformRejected as exc:
        if exc.status not in (404, 410):
            _LOGGER.warning("the platform's audit anchor could not be read: %s", exc)
            return ""
        held = None  # never anchored there yet
    except SyncError as exc:
        _LOGGER.warning("the platform's audit anchor could not be read: %s", exc)
        return ""
    problem = ""
    if held is not None:
        problem = await asyncio.to_thread(
            agent.store.audit.compare_with_anchor,
            *held,
            where="the platform",
            anchored_at=audit_anchor.recorded_at(read.resource),
        )
        if problem:
            _LOGGER.warning("%s", problem)
    seq, mac = await asyncio.to_thread(agent.store.audit.head)
    head = f"{seq}:{mac.hex()}"
    if (await asyncio.to_thread(agent.store.sync.settings)).get("audit_anchor") == head:
        return problem  # nothing was logged since the last anchor
    observer = {"reference": f"Organization/{organization_id}"} if organization_id else None
    entry = audit_anchor.request(
        agent.store.store_id, seq, mac, utcnow(), observer=observer, version_id=version, ns=namespace(agent)
    )
    try:
        [result] = await versions.transaction(client, [entry])
    except SyncError as exc:
        _LOGGER.warning("the audit anchor was not accepted: %s", exc)
        return problem
    if result.resource is not None and audit_anchor.from_fhir(result.resource) != (seq, mac):
        _LOGGER.warning("an audit anchor was written on the platform since it was read; compared at the next sync")
        return problem
    await asyncio.to_thread(agent.store.sync.save_settings, {"audit_anchor": head})
    return problem


# -- status -------------------------------------------------------------------------------------------


def status(agent: Agent, live: dict[str, Any] | None = None, *, records: bool = False) -> dict[str, Any]:
    """The sync.status shape: state, link, platform, last sync and error, queue counts."""
    store = agent.store.sync
    found = store.settings()
    queue = store.queue_counts()
    live = live or {}
    state = live.get("state") or ("idle" if found.get("platform") else "not enrolled")
    if not found.get("platform"):
        state = "not enrolled"
    data: dict[str, Any] = {
        "state": state,
        "online": bool(live.get("online", False)),
        "platform": found.get("platform"),
        "last_sync": found.get("last_sync"),
        "last_error": live.get("last_error", found.get("last_error")),
        "pending": queue["pending"],
        "parked": queue["parked"],
        "conflicts": queue["conflicts"],
    }
    if state == "syncing" and live.get("progress"):
        data["progress"] = live["progress"]  # the pull's latest page: type, records, total, seconds left
    if records:
        data["records"] = store.state_counts()
    return data


# -- who runs syncs -------------------------------------------------------------------------------------


def controller_for(agent: Agent) -> SyncService | None:
    """The running sync service of this agent (None without a daemon)."""
    service = agent.services.get("sync")
    return service if isinstance(service, SyncService) else None


def wake(agent: Agent) -> None:
    """Tell a running sync service to sync now (after an enrolment or a retry)."""
    service = controller_for(agent)
    if service is not None:
        service._poke()


def sync_now(agent: Agent, *, wait: bool = True) -> dict[str, Any]:
    """Start a sync (or join the one running); the report when done, else ``{"started": true}``."""
    service = controller_for(agent)
    if service is None:
        report = asyncio.run(run_once(agent))
        return report.as_json()
    return service.request_from_thread(wait=wait)


class SyncService:
    """The opportunistic sync loop of the daemon."""

    name = "sync"

    def __init__(self, agent: Agent, *, rng: random.Random | None = None) -> None:
        self.agent = agent
        self.config = agent.config.sync
        self._rng = rng or random.Random()
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._last: SyncReport | None = None
        self.live: dict[str, Any] = {"state": "idle", "online": False, "last_error": None}
        self._announcing: set[asyncio.Task[None]] = set()
        self._failures = 0
        self._stat_lock = threading.Lock()

    async def start(self) -> None:
        """Start the loop; it waits for an unlock and an enrolment by itself."""
        self._loop = asyncio.get_running_loop()
        self.agent.services["sync"] = self
        self.agent.store.core.outbox_listeners.append(self._new_work)
        self.agent.status_providers["sync"] = lambda: status(self.agent, self.live, records=True)
        self._publish = self.agent.publish
        self.agent.publish = self._published
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Stop the loop (a sync in flight is abandoned; the outbox keeps its work)."""
        with contextlib.suppress(ValueError):
            self.agent.store.core.outbox_listeners.remove(self._new_work)
        self.agent.services.pop("sync", None)
        self.agent.status_providers.pop("sync", None)
        if self.agent.publish == self._published:
            self.agent.publish = self._publish
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def _published(self, event: str, data: dict[str, Any]) -> None:
        self._publish(event, data)
        if event == "store.unlocked":
            self._poke()
        elif event == "sync.progress":  # status shows how far a long pull (a clinic's first) has come
            with self._stat_lock:
                self.live["progress"] = data

    def _new_work(self) -> None:
        """Called after a commit that queued work (from any thread): sync now unless the link is known
        down or there is no platform (enrolling wakes the loop itself)."""
        if self.live.get("state") not in ("offline", "error", "not enrolled"):
            self._poke()

    def _poke(self) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._wake.set)

    async def _run(self) -> None:
        delay = 0.0
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=delay)
            self._wake.clear()
            try:
                await self.sync_once()
            except Exception as exc:  # a bug must not end the loop: say it, back off, try again
                _LOGGER.exception("sync failed unexpectedly")
                self._failures += 1
                self._set(state="error", last_error=f"internal error ({type(exc).__name__}); see the daemon log")
            delay = self._next_delay()

    def _next_delay(self) -> float:
        if self.live["state"] in ("offline", "error"):
            ceiling = min(self.config.retry_max_s, self.config.retry_min_s * 2 ** min(self._failures, 30))
            return float(ceiling / 2 + self._rng.random() * ceiling / 2)
        return self.config.interval_s

    async def sync_once(self) -> SyncReport | None:
        """One sync, unless one runs already (then wait for it); None when there is nothing to sync with."""
        if self._lock.locked():
            async with self._lock:
                return self._last
        async with self._lock:
            report = await self._sync()
            self._last = report
            return report

    async def _sync(self) -> SyncReport | None:
        if self.agent.locked:
            self._set(state="idle", last_error="the store is locked; sync waits for an unlock")
            return None
        if await asyncio.to_thread(enrolled, self.agent) is None:
            self._set(state="not enrolled", last_error=None)
            return None
        self._set(state="syncing", progress=None)
        try:
            report = await run_once(self.agent)
        except StoreLocked:
            self._set(state="idle", last_error="the store was locked during the sync; it resumes after an unlock")
            return None
        except (ClinicAgentError, httpx.HTTPError, OSError) as exc:
            self._failures += 1
            self._set(state="error", online=False, last_error=str(exc))
            _LOGGER.warning("sync failed: %s", exc)
            return None
        if report.offline:
            self._failures += 1
            self._set(state="offline", online=False, last_error=report.errors[0] if report.errors else None)
        elif report.errors and not (report.pushed or report.pulled):
            self._failures += 1
            self._set(state="error", online=True, last_error=report.errors[0])
        else:
            self._failures = 0
            self._set(state="idle", online=True, last_error=report.errors[0] if report.errors else None)
        return report

    def _set(self, **values: Any) -> None:
        with self._stat_lock:
            changed = any(self.live.get(k) != v for k, v in values.items())
            self.live.update(values)
        if changed:  # status counts the outbox: in a worker thread, never on the event loop
            task = asyncio.get_running_loop().create_task(self._announce())
            self._announcing.add(task)
            task.add_done_callback(self._announcing.discard)

    async def _announce(self) -> None:
        with contextlib.suppress(ClinicAgentError):
            data = await asyncio.to_thread(status, self.agent, dict(self.live))
            self.agent.publish("sync.state", data)

    def request_from_thread(self, *, wait: bool) -> dict[str, Any]:
        """``sync.now`` from an API worker thread: start (or join) a run on the daemon's loop."""
        loop = self._loop
        if loop is None or loop.is_closed():
            raise PlatformUnavailable("the sync service is not running")
        future = asyncio.run_coroutine_threadsafe(self.sync_once(), loop)
        if not wait:
            return {"started": True}
        try:
            report = future.result(timeout=self.config.wait_s)
        except TimeoutError:
            return {"started": True}
        if report is None:
            raise SyncError(str(self.live.get("last_error") or "nothing to sync with"))
        return report.as_json()
