"""One sync run: probe the platform, push the outbox, pull what changed, push what the merges produced.

Transient failures (the link, a 5xx, a 429) are retried with backoff for a few attempts; after
that the run stops with a clear message and the outbox keeps everything for the next run. A
resource the platform refuses is parked and the rest goes on. Store calls run in a worker thread.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import tenacity

from clinic_agent.core.errors import ClinicAgentError
from sync.engine import versions
from sync.engine.link import LinkSizer
from sync.engine.ports import SyncStore
from sync.errors import AuthenticationFailed, PlatformProtocolError, PlatformUnavailable, SyncError
from sync.fhir.bundle import EntryResult, RequestEntry
from sync.fhir.capability import Capabilities
from sync.fhir.codes import DEFAULT_NAMESPACE, Namespace
from sync.platform import Platform
from sync.retry import async_retrying

T = TypeVar("T")
ROUNDS = 3  # push, pull, push again what merges queued; a record still moving after that waits a run


@dataclass(frozen=True, slots=True)
class EngineOptions:
    """How a run behaves (defaults for a real link; the tests shrink the waits)."""

    organization_id: str | None = None  # the clinic's Organization on the platform (pull scope)
    namespace: Namespace = DEFAULT_NAMESPACE  # our extensions, NamingSystems, CodeSystems, Questionnaires
    batch_size: int = 50  # records in the first Bundle; then it follows the link
    max_batch: int = 200
    page_size: int = 200  # pulled records applied per local transaction (what the write lock is held for)
    fetch_size: int | None = None  # records asked per search page (None: page_size); see sync.engine.pull
    attempts: int = 6  # tries of one request before the run gives up (the outbox keeps the work)
    backoff_base: float = 1.0
    backoff_cap: float = 60.0
    target_seconds: float = 10.0  # a Bundle should take about this long
    pull: bool = True
    plain_post: bool = False  # negative control of the fault tests only: creates without a condition
    actor: str = "sync"


@dataclass(slots=True)
class SyncReport:
    """What one run did."""

    pushed: int = 0
    pulled: int = 0
    adopted: int = 0  # residents joined to the Patient the platform already held
    audit: str = ""  # the local audit log against the platform's anchor: a cut, or a restore it explains
    parked: int = 0
    conflicts: int = 0
    errors: list[str] = field(default_factory=list)
    offline: bool = False  # the run stopped because the platform could not be reached
    conflict_ids: list[str] = field(default_factory=list)
    answers: list[str] = field(default_factory=list)  # consultation replies and Task changes that came down

    def as_json(self) -> dict[str, Any]:
        """The report as the API returns it."""
        return {
            "pushed": self.pushed,
            "pulled": self.pulled,
            "adopted": self.adopted,
            "parked": self.parked,
            "conflicts": self.conflicts,
            "errors": list(self.errors),
        } | ({"audit": self.audit} if self.audit else {})


class SyncEngine:
    """Syncs one store with one platform."""

    def __init__(
        self,
        store: SyncStore,
        platform: Platform,
        options: EngineOptions | None = None,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: Callable[[], float] = random.random,
        on_conflict: Callable[[str], None] = lambda _id: None,
        after_probe: Callable[[], None] = lambda: None,
        on_progress: Callable[[dict[str, Any]], None] = lambda _progress: None,
    ) -> None:
        self.store = store
        self.platform = platform
        self.options = options or EngineOptions()
        self.sleep = sleep
        self.rng = rng
        self.on_conflict = on_conflict
        self.after_probe = after_probe  # may raise SyncError (a PC clock far off): then nothing is sent
        self.on_progress = on_progress  # told after every pulled page (a clinic's first pull is long)
        self.sizer = LinkSizer(
            self.options.batch_size, high=self.options.max_batch, target_seconds=self.options.target_seconds
        )
        self.report = SyncReport()
        self.capabilities = Capabilities()
        self.resident_refs: dict[str, str] = {}  # resident id -> its Patient id, once confirmed
        self.devices: set[str] = set()
        self.patients: dict[str, str] = {}  # Patient id -> resident id, as pull finds them
        self.known: set[str] = set()  # records of the page being pulled that exist here
        self.in_flight: set[str] = set()  # residents in the Bundle on the wire

    async def run(self) -> SyncReport:
        """One sync; never raises a platform error (it is in the report), only store errors."""
        from sync.engine.pull import pull
        from sync.engine.push import push

        self.report = SyncReport()
        try:
            self.capabilities = await self.call(self.platform.capabilities)
            self.after_probe()
            self.devices = await self.db(self.store.known_devices)
            for _ in range(ROUNDS):
                await push(self)
                if self.options.pull:
                    await pull(self)
                if not await self.db(self.store.pending, limit=1):
                    break
        except (PlatformUnavailable, PlatformProtocolError) as exc:
            self.report.offline = isinstance(exc, PlatformUnavailable)
            self.report.errors.append(str(exc))
        except SyncError as exc:  # credentials refused, or a refusal that is not about one record
            self.report.errors.append(str(exc))
        return self.report

    # -- helpers for push and pull ---------------------------------------------------------------

    async def db(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a store call in a worker thread (SQLite and crypto work must not stall the event loop)."""
        return await asyncio.to_thread(fn, *args, **kwargs)

    async def call(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        """A platform request, retried with backoff (and Retry-After) while the failure is transient."""
        retrying = async_retrying(
            sleep=self.sleep,
            stop=tenacity.stop_after_attempt(self.options.attempts),
            base=self.options.backoff_base,
            cap=self.options.backoff_cap,
            rng=self.rng,
        )
        async for attempt in retrying:
            with attempt:
                try:
                    return await fn(*args)
                except (PlatformUnavailable, PlatformProtocolError):
                    self.sizer.failed()
                    raise
        raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover

    async def transaction(self, entries: Sequence[RequestEntry]) -> list[EntryResult]:
        """Send one transaction Bundle (retried, its PUTs checked at every try); its duration sizes the next."""
        started = time.monotonic()
        results = await self.call(versions.transaction, self.platform, entries)
        self.sizer.succeeded(len(entries), time.monotonic() - started)
        return results

    def note_conflicts(self, ids: Sequence[str]) -> None:
        """New or widened conflicts: counted and announced."""
        for conflict_id in ids:
            if conflict_id not in self.report.conflict_ids:
                self.report.conflict_ids.append(conflict_id)
                self.report.conflicts += 1
                self.on_conflict(conflict_id)


def describe(error: BaseException) -> str:
    """One line for a person about why a run failed."""
    if isinstance(error, AuthenticationFailed | ClinicAgentError):
        return str(error)
    return f"{type(error).__name__}: {error}"
