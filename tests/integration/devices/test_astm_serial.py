"""ASTM over a real pty: an analyser's results stored; a corrupted frame NAKed and sent again."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from pathlib import Path

from clinic_agent.runtime.agent import Agent
from clinic_agent.runtime.ingest import Ingest
from drivers.astm.compose import LabResult, build_result_message
from drivers.astm.events import MessageSent, Send
from drivers.astm.link import AstmLink
from drivers.astm.session import AstmSession
from drivers.frames import DeviceRef
from drivers.serial.link import SerialLink
from drivers.simulators import astm as astm_simulator
from drivers.simulators.pty import PtyDevice
from tests.integration.devices.conftest import wait_for
from tests.support import resident

ANALYSER = DeviceRef(id="analyser", protocol="astm")
NAK, ACK = b"\x15", b"\x06"


def _link(sink: Ingest, path: Path) -> SerialLink:
    return SerialLink(
        ANALYSER, lambda: AstmSession(ANALYSER, sink, monotonic=time.monotonic), port=str(path), poll_interval=0.1
    )


async def test_an_analyser_s_results_are_stored_and_matched(agent: Agent, sink: Ingest, tmp_path: Path) -> None:
    person = agent.store.residents.add(resident(), actor="t")
    path = tmp_path / "ttyASTM"
    stop = asyncio.Event()
    simulator = asyncio.create_task(
        astm_simulator.run(path, id_numbers=[person.id_number], interval=0, count=3, seed=5)
    )
    await asyncio.sleep(0.05)
    task = asyncio.create_task(_link(sink, path).run(stop))
    try:
        assert await asyncio.wait_for(simulator, 60) == 3
        await wait_for(lambda: agent.store.counts().readings >= 9)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
    codes = {r.code for r in agent.store.readings.for_resident(person.id)[0]} | {
        r.code for r in agent.store.readings.unassigned()[0]
    }
    assert {"4548-4", "14749-6"} <= codes  # HbA1c %, glucose mmol/L


async def test_a_bad_checksum_is_naked_and_the_frame_sent_again(agent: Agent, sink: Ingest, tmp_path: Path) -> None:
    path = tmp_path / "ttyASTM"
    device = PtyDevice(path)
    stop = asyncio.Event()
    task = asyncio.create_task(_link(sink, path).run(stop))
    instrument = AstmLink(role="instrument")
    message = build_result_message(
        results=[LabResult(test_code="GLU", value="6.1", unit="mmol/L")],
        timestamp=datetime(2026, 11, 25, 8, 0),
        control_id="C1",
    )
    replies: list[bytes] = []
    try:
        await asyncio.sleep(0.3)
        events = instrument.send(message, time.monotonic())
        corrupted = False
        sent = False
        deadline = time.monotonic() + 30
        while not sent and time.monotonic() < deadline:
            for event in events:
                if isinstance(event, Send):
                    data = event.data
                    if data.startswith(b"\x02") and not corrupted:  # flip one checksum digit, once
                        data = data[:-4] + (b"0" if data[-4:-3] != b"0" else b"1") + data[-3:]
                        corrupted = True
                    await device.write(data)
                elif isinstance(event, MessageSent):
                    sent = True
            reply = await device.read(0.5)
            replies.append(reply)
            events = instrument.feed(reply, time.monotonic()) if reply else instrument.poll(time.monotonic())
        assert sent
        assert NAK in b"".join(replies)  # the corrupted frame was refused ...
        await wait_for(lambda: agent.store.counts().readings == 1)  # ... and the retransmission stored once
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
        device.close()
