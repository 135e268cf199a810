"""The daemon's device service: one supervised link per configured device, feeding the ingest path."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from clinic_agent.core.errors import ConfigError
from clinic_agent.core.model import utcnow
from clinic_agent.runtime.agent import Agent
from clinic_agent.runtime.devices.config import DeviceConfig
from clinic_agent.runtime.devices.errors import device_error
from clinic_agent.runtime.ingest import Ingest
from drivers.astm.session import AstmSession
from drivers.contec.session import Cms50Session
from drivers.errors import DriverError
from drivers.frames import FrameSink, StateCallback
from drivers.hl7.session import Hl7Session
from drivers.serial import ports
from drivers.serial.link import SerialLink
from drivers.stream import StreamSession
from drivers.tcp import TcpClientLink, TcpListener

_LOGGER = logging.getLogger(__name__)


class Link(Protocol):
    """Anything that keeps one device connected until told to stop."""

    async def run(self, stop: asyncio.Event) -> None:
        """Run until ``stop`` is set."""


def session_factory(config: DeviceConfig, sink: FrameSink) -> Callable[[], StreamSession]:
    """A fresh protocol session for each connection to a byte-stream device."""
    ref = config.ref
    if config.protocol == "astm":
        return lambda: AstmSession(ref, sink, raw=config.raw, monotonic=time.monotonic)
    if config.protocol == "hl7":
        return lambda: Hl7Session(ref, sink)
    if config.protocol in ("cms50", "cms50-old"):
        return lambda: Cms50Session(ref, sink, protocol="old" if config.protocol == "cms50-old" else "new")
    raise ConfigError(f"device {config.name!r}: protocol {config.protocol} has no byte-stream session")


def build_link(config: DeviceConfig, sink: FrameSink, on_state: StateCallback) -> Link:
    """The link for one configured device."""
    if config.kind == "serial":
        return SerialLink(
            config.ref,
            session_factory(config, sink),
            port=config.port,
            match=config.match,
            settings=config.serial,
            on_state=on_state,
        )
    if config.kind == "tcp" and config.listen:
        host, port = config.listen
        return TcpListener(config.ref, session_factory(config, sink), host=host, port=port, on_state=on_state)
    if config.kind == "tcp" and config.connect:
        host, port = config.connect
        return TcpClientLink(config.ref, session_factory(config, sink), host=host, port=port, on_state=on_state)
    return _ble_link(config, sink, on_state)


def _ble_link(config: DeviceConfig, sink: FrameSink, on_state: StateCallback) -> Link:
    # bleak loads D-Bus support: imported only when a BLE device is configured
    ble = importlib.import_module("drivers.ble.link")
    options: dict[str, Any] = {}
    if config.transport:
        options = importlib.import_module("drivers.ble.bumble_backend").central_kwargs(config.transport)
    link: Link = ble.BleLink(config.ref, sink, on_state=on_state, **options)
    return link


@dataclass(slots=True)
class DeviceState:
    """What a link last reported."""

    state: str = "starting"
    detail: str = ""
    since: str = field(default_factory=lambda: utcnow().isoformat())


class DeviceService:
    """Runs one supervised link per configured device; restarts a failed link with backoff."""

    name = "devices"

    def __init__(self, agent: Agent, configs: list[DeviceConfig]) -> None:
        self.agent = agent
        self.configs = {c.name: c for c in configs}
        self.sink = Ingest(agent, {c.name: c.settings for c in configs})
        self.states: dict[str, DeviceState] = {}
        self._tasks: dict[str, tuple[asyncio.Event, asyncio.Task[None]]] = {}
        self.links: dict[str, Link] = {}
        self.loop: asyncio.AbstractEventLoop | None = None
        self._watcher: asyncio.Task[None] | None = None
        agent.status_providers["devices"] = self.status
        agent.services["devices"] = self

    async def start(self) -> None:
        """Start a link for every device, and the watcher of USB-serial adapters."""
        self.loop = asyncio.get_running_loop()
        for config in self.configs.values():
            self._start(config)
        self._watcher = asyncio.create_task(self._watch_ports())

    async def _watch_ports(self, interval: float = 2.0) -> None:
        """Tell the log and the UI when a USB-serial adapter is plugged in or pulled out."""
        before = await asyncio.to_thread(ports.snapshot)
        while True:
            await asyncio.sleep(interval)
            try:
                now = await asyncio.to_thread(ports.snapshot)
            except OSError as exc:  # sysfs briefly unreadable while a device settles
                _LOGGER.debug("port listing failed: %s", exc)
                continue
            added, removed = ports.diff(before, now)
            for port, change in [(p, "plugged in") for p in added] + [(p, "unplugged") for p in removed]:
                ids = f"{port.vid:04x}:{port.pid:04x}" if port.vid is not None and port.pid is not None else "-"
                _LOGGER.info("serial adapter %s %s (%s, serial %s)", port.device, change, ids, port.serial_number)
                self.agent.publish(
                    "device.port",
                    {"port": port.device, "change": change, "usb_id": ids, "serial_number": port.serial_number},
                )
            before = now

    def _start(self, config: DeviceConfig) -> None:
        stop = asyncio.Event()
        self.states[config.name] = DeviceState()
        self._tasks[config.name] = (stop, asyncio.create_task(self._supervise(config, stop), name=config.name))

    async def _supervise(self, config: DeviceConfig, stop: asyncio.Event) -> None:
        failures = 0
        while not stop.is_set():
            try:
                link = self.links[config.name] = build_link(config, self.sink, self._on_state)
                await link.run(stop)
                failures = 0
            except DriverError as exc:  # the device, not the program: one line for the log and the status
                failures += 1
                problem = device_error(exc).message
                self._on_state(config.name, "unavailable", problem)
                _LOGGER.warning("link of %s: %s; trying again", config.name, problem)
            except Exception as exc:  # a link must never take the daemon down: log, wait, restart
                failures += 1
                self._on_state(config.name, "error", str(exc))
                _LOGGER.exception("link of %s failed; restarting", config.name)
            if not stop.is_set() and failures:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), min(60.0, 2.0**failures) * (0.5 + random.random() / 2))

    def _on_state(self, device: str, state: str, detail: str) -> None:
        current = self.states.setdefault(device, DeviceState())
        if (current.state, current.detail) != (state, detail):
            self.states[device] = DeviceState(state, detail)
            self.agent.publish("device.state", {"device": device, "state": state, "detail": detail})

    async def stop(self) -> None:
        """Stop every link (each gets a few seconds to close its port)."""
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
        await asyncio.gather(*(self._stop(name) for name in list(self._tasks)))

    async def _stop(self, name: str) -> None:
        stop, task = self._tasks.pop(name)
        stop.set()
        try:
            await asyncio.wait_for(task, 5)
        except TimeoutError:
            _LOGGER.error("link of %s did not stop in 5 s; cancelling it", name)
            task.cancel()

    async def reload(self, configs: list[DeviceConfig]) -> dict[str, list[str]]:
        """Apply a changed device list: stop removed or changed links, start new ones."""
        wanted = {c.name: c for c in configs}
        stale = [n for n in self.configs if n not in wanted or wanted[n] != self.configs[n]]
        for name in stale:
            if name in self._tasks:
                await self._stop(name)
            self.states.pop(name, None)
        fresh = [c for n, c in wanted.items() if n not in self.configs or n in stale]
        self.configs = wanted
        self.sink.devices = {c.name: c.settings for c in configs}
        for config in fresh:
            self._start(config)
        return {"stopped": stale, "started": [c.name for c in fresh]}

    def status(self) -> list[dict[str, str]]:
        """Every device with its link's state."""
        return [
            {
                "name": c.name,
                "kind": c.kind,
                "protocol": c.protocol,
                "where": c.describe(),
                "state": self.states.get(c.name, DeviceState()).state,
                "detail": self.states.get(c.name, DeviceState()).detail,
            }
            for c in self.configs.values()
        ]
