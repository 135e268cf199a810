"""Helpers for the BLE link tests: a sink of our own, a bumble world, and waiting without sleeping long."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bumble.link import LocalLink

from drivers.ble.bumble_backend import central_kwargs
from drivers.ble.glucose import parse_glucose
from drivers.ble.glucose_context import parse_glucose_context
from drivers.ble.link import BleLink
from drivers.decode import decode_one
from drivers.errors import FrameError
from drivers.frames import DeviceRef, RawFrame, Receipt
from drivers.measurement import DecodedFrame
from drivers.simulators.ble import Peripheral, make

NOW = datetime(2025, 3, 14, 1, 30, 15, tzinfo=UTC)  # the agent's clock in these tests


def _sequence(frame: RawFrame) -> int | None:
    try:
        if frame.protocol == "ble:2A18":
            return parse_glucose(frame.data).sequence_number
        if frame.protocol == "ble:2A34":
            return parse_glucose_context(frame.data).sequence_number
    except FrameError:
        return None
    return None


@dataclass
class FakeSink:
    """A ``FrameSink`` like the ingest path: one copy per (device, protocol, sequence number or content),
    an unreadable frame quarantined, and — when ``failing`` says so — nothing stored (not durable)."""

    failing: Callable[[RawFrame], bool] = lambda _frame: False
    during: Callable[[RawFrame], None] = lambda _frame: None  # runs inside the "commit", e.g. to check the device
    frames: list[RawFrame] = field(default_factory=list)
    kept: dict[tuple[str, str, object], RawFrame] = field(default_factory=dict)
    quarantined: list[RawFrame] = field(default_factory=list)

    async def __call__(self, frame: RawFrame) -> Receipt:
        self.frames.append(frame)
        await asyncio.sleep(0)  # a commit takes a moment; the link must wait for it
        self.during(frame)
        if self.failing(frame):
            return Receipt(failed="disk full")
        sequence = _sequence(frame)
        key = (frame.device.id, frame.protocol, frame.data if sequence is None else sequence)
        if key in self.kept:
            return Receipt(duplicates=(str(key),))
        try:
            decode_one(frame.protocol, frame.data)
        except FrameError as exc:
            self.quarantined.append(frame)
            return Receipt(quarantined=str(exc))
        self.kept[key] = frame
        return Receipt(stored=(str(key),))

    def received(self, protocol: str) -> list[RawFrame]:
        """Every frame of ``protocol`` handed in, duplicates included, in order."""
        return [f for f in self.frames if f.protocol == protocol]

    def stored(self, protocol: str) -> list[RawFrame]:
        """The frames of ``protocol`` kept (one per sequence number or content)."""
        return [f for f in self.kept.values() if f.protocol == protocol]

    def decoded(self, protocol: str) -> list[DecodedFrame]:
        """The kept frames of ``protocol``, decoded."""
        return [decode_one(f.protocol, f.data) for f in self.stored(protocol)]


async def until(condition: Callable[[], object], within: float = 5.0) -> None:
    """Wait until ``condition()`` is true, polling every few milliseconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.005)


async def no_wait(_seconds: float) -> None:
    """An injected sleep: backoff without real waiting."""
    await asyncio.sleep(0)


class World:
    """Emulated peripherals and the agent's central on one bumble ``LocalLink``."""

    def __init__(self) -> None:
        self.link = LocalLink()  # type: ignore[no-untyped-call]
        self.peripherals: list[Peripheral] = []
        self.tasks: list[asyncio.Task[Any]] = []
        self.stop = asyncio.Event()
        self.states: list[tuple[str, str, str]] = []

    async def add(self, kind: str, *, run: bool = False, **kwargs: Any) -> Any:
        """A peripheral of ``kind`` on the link (measuring on its schedule if ``run``)."""
        peripheral = make(kind, **kwargs)
        await peripheral.attach(self.link)
        self.peripherals.append(peripheral)
        if run:
            self.tasks.append(asyncio.create_task(peripheral.run(self.stop)))
        return peripheral

    def ble_link(self, sink: FakeSink, address: str = "", **kwargs: Any) -> BleLink:
        """The agent's link to the device at ``address`` (or any health device), through bleak on bumble."""
        options: dict[str, Any] = {
            **central_kwargs(self.link),
            "clock": lambda: NOW,
            "on_state": lambda *s: self.states.append(s),
            **kwargs,
        }
        device = DeviceRef(id="dev-1", protocol="ble", address=address)
        return BleLink(device, sink, **options)

    @contextlib.asynccontextmanager
    async def running(self, link: BleLink) -> AsyncIterator[BleLink]:
        """Run ``link`` for the duration of the block, then stop it (and make sure it stopped)."""
        stop = asyncio.Event()
        task = asyncio.create_task(link.run(stop))
        try:
            yield link
        finally:
            stop.set()
            await asyncio.wait_for(task, 5)

    async def close(self) -> None:
        """Stop every schedule and take every peripheral off the link."""
        self.stop.set()
        for task in self.tasks:
            await asyncio.wait_for(task, 5)
        for peripheral in self.peripherals:
            await peripheral.close()

    def states_of(self, state: str) -> list[str]:
        """The details of every report of ``state``."""
        return [detail for _device, name, detail in self.states if name == state]
