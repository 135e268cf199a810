"""HL7 over a real TCP socket: every message answered, AA only once stored, a re-send stored once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from clinic_agent.core.errors import DiskFull
from clinic_agent.runtime.agent import Agent
from clinic_agent.runtime.ingest import Ingest
from drivers.frames import DeviceRef
from drivers.hl7.ack import parse_ack
from drivers.hl7.compose import blood_pressure, build_oru_r01
from drivers.hl7.mllp import MllpDecoder, frame
from drivers.hl7.session import Hl7Session
from drivers.simulators import hl7 as hl7_simulator
from drivers.tcp import TcpListener
from tests.support import resident

MACHINE = DeviceRef(id="machine", protocol="hl7")
AT = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


@pytest.fixture
async def listener(sink: Ingest) -> AsyncIterator[TcpListener]:
    server = TcpListener(MACHINE, lambda: Hl7Session(MACHINE, sink), host="127.0.0.1", port=0)
    stop = asyncio.Event()
    task = asyncio.create_task(server.run(stop))
    for _ in range(500):  # until it has bound its port (the test asks the system for a free one)
        if server.bound is not None:
            break
        await asyncio.sleep(0.01)
    yield server
    stop.set()
    await asyncio.wait_for(task, 10)


async def _exchange(port: int, messages: list[bytes]) -> list[tuple[str, str | None]]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    decoder, answers = MllpDecoder(), []
    try:
        for sent, message in enumerate(messages, start=1):
            writer.write(frame(message))
            await writer.drain()
            while len(answers) < sent:
                for ack in decoder.feed(await asyncio.wait_for(reader.read(65536), 10)):
                    parsed = parse_ack(ack)
                    answers.append((parsed.code, parsed.error))
    finally:
        writer.close()
    return answers


def _message(control: str, systolic: str, patient: str | None = None) -> bytes:
    return build_oru_r01(
        control_id=control,
        timestamp=AT,
        patient_ids=[(patient, "NI")] if patient else [],
        observations=blood_pressure(systolic, "80", None, "70", at=AT),
    )


async def test_acks_follow_what_was_stored(listener: TcpListener, agent: Agent) -> None:
    port = listener.bound[1]  # type: ignore[index]
    answers = await _exchange(port, [_message("A1", "120"), _message("A2", "400"), b"MSH|^~\\&|x|||garbage"])
    assert [code for code, _ in answers] == ["AA", "AE", "AE"]
    assert "plausible range" in (answers[1][1] or "")
    assert agent.store.counts().readings == 1
    assert agent.store.counts().quarantined == 2


async def test_a_message_re_sent_with_the_same_control_id_is_stored_once(listener: TcpListener, agent: Agent) -> None:
    person = agent.store.residents.add(resident(), actor="t")
    port = listener.bound[1]  # type: ignore[index]
    message = _message("SAME-ID", "132", person.id_number)
    assert [code for code, _ in await _exchange(port, [message, message])] == ["AA", "AA"]
    readings, _ = agent.store.readings.for_resident(person.id)
    assert len(readings) == 1


async def test_a_storage_failure_answers_ar_so_the_sender_resends(
    listener: TcpListener, agent: Agent, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(*args: object, **kwargs: object) -> str:
        raise DiskFull("the disk is full: nothing was saved")

    monkeypatch.setattr(agent.store.frames, "put", full)  # inside the one transaction a frame is stored in
    port = listener.bound[1]  # type: ignore[index]
    [(code, error)] = await _exchange(port, [_message("B1", "120")])
    assert code == "AR"
    assert "disk is full" in (error or "")
    monkeypatch.undo()
    assert [code for code, _ in await _exchange(port, [_message("B1", "120")])] == ["AA"]
    assert agent.store.counts().readings == 1


async def test_the_simulated_health_machine_end_to_end(listener: TcpListener, agent: Agent) -> None:
    person = agent.store.residents.add(resident(), actor="t")
    port = listener.bound[1]  # type: ignore[index]
    acked = await hl7_simulator.run("127.0.0.1", port, id_numbers=[person.id_number], interval=0, count=25, seed=3)
    assert acked == 25
    counts = agent.store.counts()
    assert counts.readings + counts.quarantined >= 25
    assert counts.quarantined <= 3  # the occasional slipping cuff
