"""The supervisor starts services in order, stops them in reverse, and is not held up by a stuck one."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import tempfile
import time
from collections.abc import Callable
from types import SimpleNamespace

import pytest

from clinic_agent.core.errors import ClinicAgentError
from clinic_agent.runtime.daemon import KeyService, Supervisor


class Recorder:
    def __init__(
        self,
        name: str,
        log: list[str],
        *,
        start_hangs: bool = False,
        stop_hangs: bool = False,
        start_fails: bool = False,
        stop_fails: bool = False,
    ) -> None:
        self.name, self.log = name, log
        self.start_hangs, self.stop_hangs, self.start_fails, self.stop_fails = (
            start_hangs,
            stop_hangs,
            start_fails,
            stop_fails,
        )

    async def start(self) -> None:
        if self.start_hangs:
            await asyncio.sleep(3600)
        if self.start_fails:
            raise ClinicAgentError(f"{self.name} cannot start")
        self.log.append(f"start {self.name}")

    async def stop(self) -> None:
        if self.stop_hangs:
            await asyncio.sleep(3600)
        if self.stop_fails:
            raise RuntimeError("boom")
        self.log.append(f"stop {self.name}")


async def test_services_start_in_order_and_stop_in_reverse() -> None:
    log: list[str] = []
    supervisor = Supervisor([Recorder("a", log), Recorder("b", log), Recorder("c", log)])
    stop = asyncio.Event()
    task = asyncio.create_task(supervisor.run(stop))
    await supervisor.ready.wait()
    stop.set()
    await task
    assert log == ["start a", "start b", "start c", "stop c", "stop b", "stop a"]


async def test_a_failed_start_stops_what_already_started(caplog: pytest.LogCaptureFixture) -> None:
    log: list[str] = []
    supervisor = Supervisor([Recorder("a", log), Recorder("b", log, start_fails=True), Recorder("c", log)])
    with pytest.raises(ClinicAgentError, match="b cannot start"):
        await supervisor.run(asyncio.Event())
    assert log == ["start a", "stop a"]


async def test_a_hung_start_times_out_with_its_name() -> None:
    log: list[str] = []
    supervisor = Supervisor([Recorder("a", log), Recorder("slow", log, start_hangs=True)], start_timeout=0.05)
    with pytest.raises(ClinicAgentError, match="slow did not start"):
        await supervisor.run(asyncio.Event())
    assert log == ["start a", "stop a"]


async def test_a_stuck_or_failing_stop_is_logged_and_the_rest_still_stop(caplog: pytest.LogCaptureFixture) -> None:
    log: list[str] = []
    services = [Recorder("a", log), Recorder("stuck", log, stop_hangs=True), Recorder("broken", log, stop_fails=True)]
    supervisor = Supervisor(services, stop_timeout=0.05)
    stop = asyncio.Event()
    stop.set()
    with caplog.at_level(logging.INFO):
        await supervisor.run(stop)
    assert log[-1] == "stop a"
    assert "stuck did not stop" in caplog.text
    assert "broken failed while stopping" in caplog.text


async def test_a_service_may_need_longer_than_the_supervisors_limit() -> None:
    log: list[str] = []
    slow = Recorder("keys", log)
    slow.start_timeout = 5.0  # type: ignore[attr-defined]  # as KeyService declares its own
    original = slow.start

    async def start_slowly() -> None:
        await asyncio.sleep(0.2)
        await original()

    slow.start = start_slowly  # type: ignore[method-assign]
    supervisor = Supervisor([slow, Recorder("after", log)], start_timeout=0.05)
    stop = asyncio.Event()
    task = asyncio.create_task(supervisor.run(stop))
    await supervisor.ready.wait()
    stop.set()
    await task
    assert log == ["start keys", "start after", "stop after", "stop keys"]


class _Kdf:
    async def run(self, fn: Callable[..., object], /, *args: object, **kwargs: object) -> object:
        return await asyncio.to_thread(fn, *args, **kwargs)


class _SlowUnlockAgent:
    """What KeyService uses of the agent: a machine slot, the KDF worker, an unlock that takes a while."""

    def __init__(self, seconds: float) -> None:
        self.keyfile = SimpleNamespace(has_machine_slot=lambda: True)
        self.workers = SimpleNamespace(kdf=_Kdf())
        self.seconds = seconds
        self.unlocked_by: str | None = None

    def unlock(self, *, actor: str) -> None:
        time.sleep(self.seconds)
        self.unlocked_by = actor


async def test_a_long_unattended_unlock_asks_systemd_for_more_start_up_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Unlock and the index of a big store on an old PC outlast systemd's 60 s: the daemon asks for more."""
    with tempfile.TemporaryDirectory() as directory, socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as systemd:
        systemd.bind(f"{directory}/notify")
        systemd.settimeout(5)
        monkeypatch.setenv("NOTIFY_SOCKET", f"{directory}/notify")
        agent = _SlowUnlockAgent(0.5)
        await KeyService(agent, extend_every=0.1).start()  # type: ignore[arg-type]
        told = []
        systemd.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            while True:
                told.append(systemd.recv(1024).decode())
    assert agent.unlocked_by == "daemon"
    assert len(told) >= 3, told  # every 0.1 s for 0.5 s
    assert all(t.startswith("EXTEND_TIMEOUT_USEC=300000\n") and "STATUS=unlocking" in t for t in told), told
