"""One sync of the agent's store with its platform, its status, and the opportunistic loop that runs them.

``run_once(host)`` runs one sync (the engine, then the audit anchor). ``SyncLoop`` probes the
platform, syncs while the link holds, backs off while it does not (``sync.retry.backoff``), and
starts at once when new work is committed and the link is up; never more than one sync at a time.
The daemon's adapter (``clinic_agent.runtime.syncing``) starts it and tells it of new work and unlocks.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
import threading
from typing import Any

import httpx

from clinic_agent.core.errors import ClinicAgentError, InvalidInput, StoreLocked
from clinic_agent.core.model import utcnow
from sync import status as sync_status
from sync import targets
from sync.anchor import anchor
from sync.engine import EngineOptions, SyncEngine, SyncReport
from sync.enrolment import SECRET, check_clock, connect, enrolled, prove_organization
from sync.errors import PlatformUnavailable, SyncError
from sync.host import Host, Site
from sync.platform import FhirPlatform
from sync.retry import backoff

_LOGGER = logging.getLogger(__name__)
STATES = ("not enrolled", "idle", "syncing", "offline", "error")


# Records asked for per search page of the pull. A server sorts everything still to come at every page
# (SEKMET: about 1 s per page at 10,000 Observations, 10 s at 100,000), so a clinic's first pull of its
# catchment costs pages, not records: 1000 to a page took a fifth of the time 200 did (bench/onboarding.py).
# Each page is still applied [sync] page_size records per local transaction.
FETCH_SIZE = 1000


def options_for(site: Site, organization_id: str | None) -> EngineOptions:
    """The engine's options from ``[sync]`` and the enrolment."""
    settings = site.settings
    return EngineOptions(
        organization_id=organization_id,
        namespace=site.namespace,
        batch_size=settings.batch_size,
        max_batch=settings.max_batch,
        page_size=settings.page_size,
        fetch_size=max(settings.page_size, FETCH_SIZE),
        attempts=settings.attempts,
    )


async def run_once(
    host: Host, *, options: EngineOptions | None = None, platform: FhirPlatform | None = None
) -> SyncReport:
    """One sync of the store with its platform; the outcome is kept as ``last_sync``/``last_error``."""
    enrolment = await asyncio.to_thread(enrolled, host)
    if enrolment is None:
        raise InvalidInput("this clinic is not enrolled with a platform: run `clinic-agent enroll --platform URL`")
    host.require_unlocked()
    secret = await asyncio.to_thread(host.records.secret, SECRET) or {"kind": "none"}
    options = options or options_for(host.site, enrolment.get("organization_id"))
    own = platform is None
    client = platform or connect(enrolment["platform"], secret, host.site.settings)
    try:
        report, offered = await _run(host, client, options)
    finally:
        if own:
            await client.aclose()
    failed = report.errors[0] if report.errors and (report.offline or not (report.pushed or report.pulled)) else None
    values: dict[str, str | None] = {"last_error": failed, **offered}
    if not report.offline:
        values["last_sync"] = utcnow().isoformat()
    await asyncio.to_thread(host.records.save_settings, values)
    return report


async def _run(host: Host, client: FhirPlatform, options: EngineOptions) -> tuple[SyncReport, dict[str, str | None]]:
    """The run, and the settings it read to keep (whom a doctor may ask), saved with its outcome."""
    if not options.organization_id:  # enrolled before the platform would talk to us (SMART)
        try:  # the round trip enrol() could not prove yet: nothing is sent until it holds
            organization_id, _ = await prove_organization(host, client)
        except SyncError as exc:
            return SyncReport(errors=[str(exc)], offline=isinstance(exc, PlatformUnavailable)), {}
        await asyncio.to_thread(host.records.save_settings, {"organization_id": organization_id})
        options = dataclasses.replace(options, organization_id=organization_id)
    engine = SyncEngine(
        host.records,
        client,
        options,
        on_conflict=lambda i: host.publish("conflict.new", {"id": i}),
        after_probe=lambda: check_clock(client, host.site.settings),
        on_progress=lambda progress: host.publish("sync.progress", progress),
    )
    report = await engine.run()
    for answer in report.answers:  # the home screen's consultation inbox raises an alert
        host.publish("consult.answer", {"id": answer})
    if not report.errors:
        report.audit = await anchor(host, client, options.organization_id)
    offered: dict[str, str | None] = {}
    if not report.offline:  # whom a doctor may ask, kept for offline use; a refusal keeps the last list
        found, reason = await targets.fetch_or_reason(client)
        if reason is not None:
            report.errors.append(reason)
        if found is not None:  # kept in the transaction that records the sync's outcome: no commit of its own
            offered = targets.settings_of(found)
    return report, offered


def status(host: Host, live: dict[str, Any] | None = None, *, records: bool = False) -> dict[str, Any]:
    """The sync.status shape: state, link, platform, last sync and error, queue counts (``sync.status``)."""
    return sync_status.status(host.records, live, records=records)


class SyncLoop:
    """The opportunistic sync loop: one run at a time, at once on new work, backing off while the platform is away."""

    def __init__(self, host: Host, *, rng: random.Random | None = None) -> None:
        self.host = host
        self.settings = host.site.settings
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

    def begin(self) -> None:
        """Start the loop on the running event loop; it waits for an unlock and an enrolment by itself."""
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.create_task(self._run())

    async def end(self) -> None:
        """Stop the loop (a sync in flight is abandoned; the outbox keeps its work)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def heard(self, event: str, data: dict[str, Any]) -> None:
        """An event the agent published: an unlock starts a sync; a pull's progress goes into status."""
        if event == "store.unlocked":
            self.poke()
        elif event == "sync.progress":  # status shows how far a long pull (a clinic's first) has come
            with self._stat_lock:
                self.live["progress"] = data

    def new_work(self) -> None:
        """Called after a commit that queued work (from any thread): sync now unless the link is known
        down or there is no platform (enrolling wakes the loop itself)."""
        if self.live.get("state") not in ("offline", "error", "not enrolled"):
            self.poke()

    def poke(self) -> None:
        """Sync now (from any thread)."""
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
            wait = self.settings
            attempt = min(self._failures, 30) + 1
            return backoff(attempt, base=wait.retry_min_s, cap=wait.retry_max_s, rng=self._rng.random, least=0.5)
        return self.settings.interval_s

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
        if self.host.locked:
            self._set(state="idle", last_error="the store is locked; sync waits for an unlock")
            return None
        if await asyncio.to_thread(enrolled, self.host) is None:
            self._set(state="not enrolled", last_error=None)
            return None
        self._set(state="syncing", progress=None)
        try:
            report = await run_once(self.host)
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
            data = await asyncio.to_thread(status, self.host, dict(self.live))
            self.host.publish("sync.state", data)

    def request_from_thread(self, *, wait: bool) -> dict[str, Any]:
        """``sync.now`` from an API worker thread: start (or join) a run on the daemon's loop."""
        loop = self._loop
        if loop is None or loop.is_closed():
            raise PlatformUnavailable("the sync service is not running")
        future = asyncio.run_coroutine_threadsafe(self.sync_once(), loop)
        if not wait:
            return {"started": True}
        try:
            report = future.result(timeout=self.settings.wait_s)
        except TimeoutError:
            return {"started": True}
        if report is None:
            raise SyncError(str(self.live.get("last_error") or "nothing to sync with"))
        return report.as_json()
