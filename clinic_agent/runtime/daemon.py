"""The daemon: a supervisor that starts its services in order and stops them in reverse.

    keys         unlock with the machine key if there is one, else wait locked (still collecting)
    local API    the Unix socket the CLI and the TUI talk to
    housekeeping idle sessions, disk space, the systemd watchdog
    devices      one supervised link per configured device, feeding the ingest path
    sync         the opportunistic sync loop with the regional platform

Each start and stop has a timeout; a service stuck on stop is logged and left behind so the rest
still stop. SIGTERM and SIGINT stop the daemon cleanly; under systemd it reports READY=1 once
every service is up and pings the watchdog — only while a heartbeat still gets through the road a
reading takes (the ingest worker and the store's write lock). A stop that is not done within
STOP_DEADLINE (a worker stuck in a system call, say) ends the process anyway, naming what was stuck:
every acknowledged reading is already committed, so nothing is lost by not waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import threading
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from clinic_agent.api.server import ApiServer
from clinic_agent.core.errors import ClinicAgentError
from clinic_agent.runtime import systemd
from clinic_agent.runtime.agent import Agent
from clinic_agent.runtime.backups import DailyBackups
from clinic_agent.runtime.devices import parse as parse_devices
from clinic_agent.runtime.devices.service import DeviceService
from clinic_agent.runtime.home import Home
from clinic_agent.runtime.syncing import SyncService

_LOGGER = logging.getLogger(__name__)
START_TIMEOUT = 30.0
# Unattended unlock decrypts every resident for the name index: seconds on a quiet PC, but minutes for a
# big store on an old, busy one. The daemon waits for it (so it is ready unlocked) and tells systemd so.
UNLOCK_TIMEOUT = 600.0
UNLOCK_EXTEND_EVERY = 10.0
STOP_TIMEOUT = 10.0
HOUSEKEEPING_INTERVAL = 15.0
STOP_DEADLINE = 25.0  # below the unit's TimeoutStopSec (30 s), after which systemd would kill us
EXIT_STUCK = 70  # EX_SOFTWARE: stopped, but had to leave stuck work behind


class Service(Protocol):
    """Something the supervisor starts and stops."""

    name: str

    async def start(self) -> None:
        """Start; return once running (background work goes in tasks)."""

    async def stop(self) -> None:
        """Stop and release everything."""


class Supervisor:
    """Starts services in order, stops them in reverse, each within a timeout."""

    def __init__(
        self, services: Sequence[Service], *, start_timeout: float = START_TIMEOUT, stop_timeout: float = STOP_TIMEOUT
    ) -> None:
        self.services = list(services)
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.ready = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        """Run until ``stop`` is set (or a service fails to start, which is raised after cleanup)."""
        started: list[Service] = []
        try:
            for service in self.services:
                timeout = getattr(service, "start_timeout", self.start_timeout)
                try:
                    await asyncio.wait_for(service.start(), timeout)
                except TimeoutError:
                    raise ClinicAgentError(f"{service.name} did not start within {timeout:.0f} s") from None
                started.append(service)
                _LOGGER.info("started %s", service.name)
            self.ready.set()
            systemd.notify("READY=1\nSTATUS=running")
            _LOGGER.info("ready")
            await stop.wait()
        finally:
            systemd.notify("STOPPING=1")
            await self._stop_all(started)

    async def _stop_all(self, started: list[Service]) -> None:
        for service in reversed(started):
            try:
                await asyncio.wait_for(service.stop(), self.stop_timeout)
                _LOGGER.info("stopped %s", service.name)
            except TimeoutError:
                _LOGGER.error("%s did not stop within %.0f s; leaving it", service.name, self.stop_timeout)
            except Exception:
                _LOGGER.exception("%s failed while stopping", service.name)


class KeyService:
    """Unlocks with the machine key when there is one; locks and closes the store last of all."""

    name = "keys"
    start_timeout = UNLOCK_TIMEOUT  # the supervisor's own is for services that only set things up

    def __init__(self, agent: Agent, *, extend_every: float = UNLOCK_EXTEND_EVERY) -> None:
        self.agent = agent
        self.extend_every = extend_every

    async def start(self) -> None:
        """Unlock unattended if a machine slot exists; otherwise stay locked and keep collecting."""
        if self.agent.keyfile.has_machine_slot():
            try:
                await self._while_telling_systemd(self.agent.workers.kdf.run(self.agent.unlock, actor="daemon"))
                _LOGGER.info("unlocked with the machine key")
                return
            except ClinicAgentError as exc:
                _LOGGER.error("machine key did not unlock the store (%s); staying locked", exc)
        _LOGGER.info("store locked: readings are sealed until someone unlocks with a passphrase")

    async def _while_telling_systemd(self, unlocking: Awaitable[object]) -> None:
        """Await the unlock, asking systemd for more start-up time while it runs (its own limit is 60 s)."""
        task = asyncio.ensure_future(unlocking)
        extend = f"EXTEND_TIMEOUT_USEC={int(self.extend_every * 3 * 1_000_000)}"
        while not task.done():
            systemd.notify(f"{extend}\nSTATUS=unlocking the store and building the name index")
            await asyncio.wait({task}, timeout=self.extend_every)
        task.result()

    async def stop(self) -> None:
        """Forget the keys and close the database."""
        await asyncio.to_thread(self._close)

    def _close(self) -> None:
        with contextlib.suppress(ClinicAgentError):
            self.agent.lock(actor="daemon")
        self.agent.close()


class Housekeeping:
    """Periodic chores: expire idle sessions, watch the disk, ping the systemd watchdog."""

    name = "housekeeping"

    def __init__(self, agent: Agent, server: ApiServer, interval: float = HOUSEKEEPING_INTERVAL) -> None:
        self.agent = agent
        self.server = server
        self.interval = interval
        self._task: asyncio.Task[None] | None = None
        self._probe: asyncio.Task[None] | None = None
        self._disk_low = False

    async def start(self) -> None:
        """Start the periodic task."""
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Cancel the periodic task (a probe still waiting on a stuck worker is left behind)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._probe is not None:
            self._probe.cancel()

    async def _run(self) -> None:
        watchdog = systemd.watchdog_interval()
        period = min(self.interval, watchdog) if watchdog else self.interval
        while True:
            if watchdog and await self.heartbeat(within=watchdog):
                systemd.notify("WATCHDOG=1")
            try:
                await asyncio.to_thread(self.tick)
            except Exception:
                _LOGGER.exception("housekeeping failed; trying again next round")
            await asyncio.sleep(period)

    async def heartbeat(self, within: float) -> bool:
        """Whether a reading could be stored now: a probe through the ingest worker and the write lock."""
        if self._probe is None or self._probe.done():
            loop = asyncio.get_running_loop()
            self._probe = loop.create_task(self.agent.workers.ingest.run(self.agent.store.heartbeat))
        try:
            await asyncio.wait_for(asyncio.shield(self._probe), within)
        except TimeoutError:
            _LOGGER.error(
                "the store did not answer within %.1f s: %s; not telling the watchdog all is well",
                within,
                "; ".join(self.agent.workers.stuck(within)) or "waiting for its write lock",
            )
            return False
        except ClinicAgentError as exc:
            _LOGGER.error("the store cannot take a reading now (%s); not telling the watchdog all is well", exc)
            return False
        return True

    def tick(self) -> None:
        """One round of chores."""
        self.agent.store.audit.flush_deferred()  # searches typed since the last write join the audit chain
        for session in self.server.sessions.expire_idle():
            _LOGGER.info("session of %s expired after being idle", session.caller.actor)
        low = self.agent.disk_free_mib() < self.agent.config.disk_low_mib
        if low != self._disk_low:
            self._disk_low = low
            self.agent.publish("disk.low", {"low": low, "free_mib": self.agent.disk_free_mib()})
            if low:
                _LOGGER.warning("the data disk is low on space (%d MiB free)", self.agent.disk_free_mib())


def build_services(agent: Agent) -> tuple[list[Service], ApiServer]:
    """The services of a daemon for this agent, in start order (devices last: the store is ready)."""
    server = ApiServer(agent, agent.config.api)
    agent.publish = server.publish
    devices = DeviceService(agent, parse_devices(agent.config.devices, str(agent.home.config_path)))
    backups = DailyBackups(agent)
    return [KeyService(agent), server, Housekeeping(agent, server), backups, devices, SyncService(agent)], server


async def serve(
    home: Home, *, stop: asyncio.Event | None = None, stopping: Callable[[Agent], None] | None = None
) -> None:
    """Open the store and run the daemon until SIGTERM or SIGINT (or ``stop``).

    ``stopping`` is told when a stop begins (by a signal, or by the end of the run).
    """
    agent = await asyncio.to_thread(Agent.open, home)
    services, _ = build_services(agent)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()

    def stop_requested() -> None:
        stop.set()
        if stopping is not None:
            stopping(agent)

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop_requested)
    try:
        await Supervisor(services).run(stop)
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
        if stopping is not None:
            stopping(agent)


class StopDeadline:
    """Ends the process if stopping takes longer than the deadline: threads cannot be cancelled."""

    def __init__(self, seconds: float = STOP_DEADLINE) -> None:
        self.seconds = seconds
        self._agent: Agent | None = None
        self._timer: threading.Timer | None = None

    def arm(self, agent: Agent | None = None) -> None:
        """Start counting (once); a daemon thread, so it never keeps the process alive by itself."""
        self._agent = agent or self._agent
        if self._timer is None:
            self._timer = threading.Timer(self.seconds, self._expired)
            self._timer.daemon = True
            self._timer.start()

    def _expired(self) -> None:
        stuck = "; ".join(self._agent.workers.stuck(0)) if self._agent else ""
        _LOGGER.error(
            "still not stopped %.0f s after the stop request (stuck: %s); exiting without waiting",
            self.seconds,
            stuck or "a worker thread",
        )
        logging.shutdown()
        os._exit(EXIT_STUCK)


def run(home: Home, *, log_level: str = "info", deadline: float = STOP_DEADLINE) -> int:
    """`clinic-agent run`: the daemon in the foreground; exit status 0 after a clean stop."""
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)
    stop_deadline = StopDeadline(deadline)
    try:
        asyncio.run(serve(home, stopping=stop_deadline.arm))
    finally:
        stop_deadline.arm()  # whatever ended the run, the process ends within the deadline
    return 0
