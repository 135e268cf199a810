"""The supervisor starts services in order, stops them in reverse, and is not held up by a stuck one."""

from __future__ import annotations

import asyncio
import logging

import pytest

from clinic_agent.core.errors import ClinicAgentError
from clinic_agent.runtime.daemon import Supervisor


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
