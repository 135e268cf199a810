"""The API server in-process, driven by the asyncio client: sessions expire when idle."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from clinic_agent.api.client import AsyncApiClient
from clinic_agent.api.server import ApiServer
from clinic_agent.core.errors import AccessDenied, SessionExpired
from clinic_agent.core.model import Role
from clinic_agent.runtime.agent import Agent
from clinic_agent.runtime.config import ApiConfig
from clinic_agent.store.core import DEFERRED_AUDIT_LIMIT
from tests.support import PASSPHRASE, new_home


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[ApiServer, Clock, Path]]:
    agent = Agent.open(new_home(tmp_path / "home"))
    agent.unlock(actor="test", passphrase=PASSPHRASE)
    agent.store.users.add("li", Role.DOCTOR, "246810", actor="test")
    socket_path = tmp_path / "run" / "api.sock"
    server = ApiServer(agent, ApiConfig(socket=socket_path, session_idle_minutes=10))
    clock = Clock()
    server.sessions._clock = clock
    agent.publish = server.publish
    await server.start()
    yield server, clock, socket_path
    await server.stop()
    agent.close()


async def test_an_idle_session_is_refused_and_an_active_one_kept(served: tuple[ApiServer, Clock, Path]) -> None:
    _, clock, path = served
    client = AsyncApiClient(path)
    await client.connect()
    try:
        client.session = (await client.call("login", {"user": "li", "pin": "246810"}))["session"]
        for _ in range(3):
            clock.now += 9 * 60  # nine idle minutes, then activity
            assert (await client.call("whoami"))["actor"] == "user:li"
        clock.now += 10 * 60 + 1
        with pytest.raises(SessionExpired, match="idle"):
            await client.call("resident.list")
    finally:
        await client.close()


async def test_events_reach_subscribers_pushed_not_polled(served: tuple[ApiServer, Clock, Path]) -> None:
    _, _, path = served
    seen: asyncio.Queue[tuple[str, dict[str, object]]] = asyncio.Queue()
    listener = AsyncApiClient(path, on_event=lambda name, data: seen.put_nowait((name, data)))
    writer = AsyncApiClient(path)
    await listener.connect()
    await writer.connect()
    try:
        for client in (listener, writer):
            client.session = (await client.call("login", {"user": "li", "pin": "246810"}))["session"]
        await listener.call("events.subscribe")
        added = await writer.call("reading.add", {"code": "8867-4", "value": "71", "unit": "/min"})
        name, data = await asyncio.wait_for(seen.get(), 5)
        assert (name, data["id"]) == ("reading.received", added["id"])
        with pytest.raises(AccessDenied):
            await writer.call("login", {"user": "li", "pin": "000000"})
    finally:
        await listener.close()
        await writer.close()


async def test_a_quick_read_overtakes_a_slow_one_on_the_same_connection_but_never_a_write(
    served: tuple[ApiServer, Clock, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The search keystroke must not wait behind the TUI's status refresh; a write keeps its turn.

    With one request at a time per connection (the planted fault: IN_FLIGHT = 1, or every method
    treated as a write) the ping waits behind the held status and this test times out on it.
    """
    server, _, path = served
    gate = threading.Event()
    status = server.agent.status
    monkeypatch.setattr(server.agent, "status", lambda: (gate.wait(30), status())[1])
    client = AsyncApiClient(path)
    await client.connect()
    finished: list[str] = []

    def track(name: str, call: asyncio.Future[Any]) -> asyncio.Future[Any]:
        call.add_done_callback(lambda _: finished.append(name))
        return call

    try:
        client.session = (await client.call("login", {"user": "li", "pin": "246810"}))["session"]
        slow = track("status", asyncio.ensure_future(client.call("status")))
        await asyncio.sleep(0.05)
        assert await asyncio.wait_for(client.call("ping"), 20) == "pong"
        write = track(
            "write",
            asyncio.ensure_future(client.call("reading.add", {"code": "8867-4", "value": "71", "unit": "/min"})),
        )
        read = track("read", asyncio.ensure_future(client.call("reading.unassigned")))
        await asyncio.sleep(0.2)
        assert finished == []  # the write waits for the status sent before it; the read waits for the write
        gate.set()
        added, listed, _ = await asyncio.wait_for(asyncio.gather(write, read, slow), 30)
        assert finished == ["status", "write", "read"]
        assert added["id"] in [r["id"] for r in listed["readings"]]  # the read after a write sees it
    finally:
        gate.set()
        await client.close()


async def test_the_search_that_makes_the_audit_backlog_full_answers_before_it_is_committed(
    served: tuple[ApiServer, Clock, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The 64th keypress's search is not held up by the commit (and fsync) of the searches' audit entries:
    the answer goes out first, the entries join the chain just after it. Flushing before answering (the
    planted fault: ``flush_when_full`` left on) holds the answer behind the gate and times out."""
    server, _, path = served
    audit = server.agent.store.audit
    gate = threading.Event()
    flush = audit.flush_deferred
    monkeypatch.setattr(audit, "flush_deferred", lambda: (gate.wait(30), flush())[1])
    client = AsyncApiClient(path)
    await client.connect()
    try:
        client.session = (await client.call("login", {"user": "li", "pin": "246810"}))["session"]
        head = audit.head()[0]
        for _ in range(DEFERRED_AUDIT_LIMIT - 1):
            await client.call("resident.lookup", {"text": "lxy"})
        assert not audit.deferred_full
        assert (await asyncio.wait_for(client.call("resident.lookup", {"text": "lxy"}), 10))["matches"] == []
        assert audit.head()[0] == head  # answered, not committed yet
        gate.set()
        for _ in range(500):
            if server.agent.store.core.deferred_audit == 0:
                break
            await asyncio.sleep(0.01)
        assert audit.head()[0] == head + DEFERRED_AUDIT_LIMIT  # every search audited, in the chain
    finally:
        gate.set()
        await client.close()


def test_every_method_run_side_by_side_is_a_declared_read() -> None:
    from clinic_agent.api import contract, server

    assert server.READS <= contract.METHODS
    assert not server.READS & {"login", "logout", "unlock", "lock", "reading.add", "resident.update", "draft.save"}


async def test_a_large_answer_is_decoded_beside_the_event_loop_and_frames_stay_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file of 5,000 readings took 130-280 ms of the TUI's thread to decode; the event behind it comes after it."""
    from clinic_agent.api import client as client_module
    from clinic_agent.api.framing import FrameDecoder, decode_body, encode

    on_loop: list[tuple[int, bool]] = []  # (bytes, decoded on the event loop's thread)

    def recorded(body: bytes) -> dict[str, Any]:
        on_loop.append((len(body), threading.current_thread() is threading.main_thread()))
        return decode_body(body)

    monkeypatch.setattr(client_module, "decode_body", recorded)
    big = "读" * client_module.DECODE_IN_A_THREAD  # three bytes a character in UTF-8

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        decoder = FrameDecoder()
        try:
            while data := await reader.read(65536):
                for body in decoder.feed(data):
                    request = decode_body(bytes(body))  # type: ignore[arg-type]
                    writer.write(encode({"id": request["id"], "result": {"readings": big}}))
                    writer.write(encode({"event": "reading.received", "data": {"n": 1}}))  # right behind it
                    await writer.drain()
        finally:
            writer.close()
            await writer.wait_closed()

    path = tmp_path / "api.sock"
    server = await asyncio.start_unix_server(answer, path=str(path))
    order: list[str] = []  # what the client handed on, in turn
    client = AsyncApiClient(path, on_event=lambda name, data: order.append(name))
    dispatch = client._dispatch

    def handed_on(message: dict[str, Any]) -> None:
        if "result" in message:
            order.append("answer")
        dispatch(message)

    monkeypatch.setattr(client, "_dispatch", handed_on)
    await client.connect()
    try:
        found = await client.call("resident.file", {"resident": "r-1"})
        await asyncio.sleep(0.05)
    finally:
        await client.close()
        server.close()
        await server.wait_closed()
    assert found["readings"] == big
    assert order == ["answer", "reading.received"]  # the event did not overtake the answer in front of it
    assert [on for size, on in on_loop if size >= client_module.DECODE_IN_A_THREAD] == [False]
    assert all(on for size, on in on_loop if size < client_module.DECODE_IN_A_THREAD)
