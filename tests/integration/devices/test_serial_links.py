"""Serial devices end to end: real pyserial on ptys, unplug and replug, garbage on the line."""

from __future__ import annotations

import asyncio
import contextlib
import random
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from clinic_agent.runtime.agent import Agent
from clinic_agent.runtime.ingest import Ingest
from drivers.contec.session import Cms50Session
from drivers.frames import DeviceRef
from drivers.hl7.ack import parse_ack
from drivers.hl7.compose import blood_pressure, build_oru_r01
from drivers.hl7.mllp import MllpDecoder, frame
from drivers.hl7.session import Hl7Session
from drivers.serial.link import SerialLink
from drivers.simulators import cms50
from drivers.simulators.pty import PtyDevice
from tests.integration.devices.conftest import wait_for

OXIMETER = DeviceRef(id="oximeter", protocol="cms50")
MACHINE = DeviceRef(id="machine", protocol="hl7")


def _readings(agent: Agent) -> int:
    return agent.store.counts().readings


async def test_cms50_placements_become_one_reading_each_and_survive_an_unplug(
    agent: Agent, sink: Ingest, tmp_path: Path
) -> None:
    path = tmp_path / "ttyCMS50"
    states: list[str] = []
    session = lambda: Cms50Session(OXIMETER, sink, settle=0.6, window=0.3)  # noqa: E731
    link = SerialLink(OXIMETER, session, port=str(path), poll_interval=0.1, on_state=lambda d, s, x: states.append(s))
    stop = asyncio.Event()
    device_stop = asyncio.Event()
    simulator = asyncio.create_task(
        cms50.run(path, placements=2, finger_in=1.5, finger_out=0.6, seed=1, stop=device_stop)
    )
    await asyncio.sleep(0.05)
    task = asyncio.create_task(link.run(stop))
    try:
        assert await simulator == 2
        await wait_for(lambda: _readings(agent) == 4)  # SpO2 and pulse of each placement
        await wait_for(lambda: states[-1] in ("waiting", "disconnected"))  # unplugged: the simulator closed the pty
        replugged = asyncio.create_task(cms50.run(path, placements=1, finger_in=1.5, finger_out=0.3, seed=2))
        assert await replugged == 1
        await wait_for(lambda: _readings(agent) == 6)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
    assert "connected" in states
    readings, _ = agent.store.readings.unassigned()
    assert sorted(r.code for r in readings) == ["59408-5"] * 3 + ["8867-4"] * 3
    assert all(90 <= int(r.components[0].value) <= 100 for r in readings if r.code == "59408-5")


def _oru(i: int) -> bytes:
    from datetime import UTC, datetime

    at = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
    return build_oru_r01(
        control_id=f"MSG{i:05d}",
        timestamp=at,
        observations=blood_pressure(str(110 + i % 60), str(70 + i % 20), None, "70", at=at),
    )


async def _hl7_over_pty(pty: PtyDevice, messages: list[bytes], junk: random.Random | None) -> list[str]:
    """Write MLLP messages (with junk between them) and collect the ACK codes."""
    for message in messages:
        if junk is not None:
            noise = bytes(b for b in junk.randbytes(junk.randint(0, 40)) if b not in (0x0B, 0x1C))
            await pty.write(noise)
        await pty.write(frame(message))
    codes: list[str] = []
    decoder = MllpDecoder()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while len(codes) < len(messages) and loop.time() < deadline:
        for ack in decoder.feed(await pty.read(0.5)):
            codes.append(parse_ack(ack).code)
    return codes


async def test_a_garbage_stream_with_valid_frames_interleaved(agent: Agent, sink: Ingest, tmp_path: Path) -> None:
    path = tmp_path / "ttyHL7"
    pty = PtyDevice(path)
    stop = asyncio.Event()
    link = SerialLink(MACHINE, lambda: Hl7Session(MACHINE, sink), port=str(path), poll_interval=0.1)
    task = asyncio.create_task(link.run(stop))
    try:
        await asyncio.sleep(0.3)  # let the link open the port (pyserial flushes input on open)
        messages = [_oru(i) for i in range(60)]
        codes = await _hl7_over_pty(pty, messages, random.Random(20261125))
        assert codes == ["AA"] * 60
        assert _readings(agent) == 60  # every valid message recovered; the junk stored nothing
        assert agent.store.counts().quarantined == 0
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
        pty.close()


@pytest.mark.skipif(shutil.which("socat") is None, reason="socat is not installed (apt-get install socat)")
async def test_socat_unplug_and_replug(agent: Agent, sink: Ingest, tmp_path: Path) -> None:
    agent_side, device_side = tmp_path / "ttyAGENT", tmp_path / "ttyDEVICE"

    def plug() -> subprocess.Popen[bytes]:
        return subprocess.Popen(["socat", f"pty,raw,echo=0,link={agent_side}", f"pty,raw,echo=0,link={device_side}"])

    async def send(message: bytes) -> str:
        import serial  # the device side, through a real pyserial too

        with serial.Serial(str(device_side), timeout=10) as port:
            port.write(frame(message))
            decoder = MllpDecoder()
            while True:
                chunk = port.read(1)
                if not chunk:
                    return "timeout"
                for ack in decoder.feed(chunk + port.read(port.in_waiting)):
                    return parse_ack(ack).code

    socat = plug()
    states: list[str] = []
    stop = asyncio.Event()
    link = SerialLink(
        MACHINE,
        lambda: Hl7Session(MACHINE, sink),
        port=str(agent_side),
        poll_interval=0.1,
        on_state=lambda d, s, x: states.append(s),
    )
    task = asyncio.create_task(link.run(stop))
    try:
        await wait_for(lambda: agent_side.exists() and "connected" in states)
        assert await asyncio.to_thread(lambda: asyncio.run(send(_oru(1)))) == "AA"
        socat.send_signal(signal.SIGTERM)
        socat.wait(10)
        await wait_for(lambda: states[-1] in ("waiting", "disconnected"))
        socat = plug()
        await wait_for(lambda: states[-1] == "connected")
        assert await asyncio.to_thread(lambda: asyncio.run(send(_oru(2)))) == "AA"
        assert _readings(agent) == 2
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
        with contextlib.suppress(ProcessLookupError):
            socat.terminate()
        socat.wait(10)
