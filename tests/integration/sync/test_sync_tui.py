"""The doctor resolves a real conflict in the terminal UI: two PCs, the real SEKMET, the real daemon API."""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from clinic_agent.api.server import ApiServer
from clinic_agent.core.model import Role
from clinic_agent.runtime import syncing
from clinic_agent.runtime.agent import Agent
from clinic_agent.runtime.config import ApiConfig
from tests.support import resident
from tests.tui.helpers import FakeClock, screen_name, sign_in, until, visible_text
from tui.app import ClinicApp
from tui.client import DaemonApi

PIN = "246810"


def sync(agent: Agent) -> dict[str, object]:
    return asyncio.run(syncing.run_once(agent)).as_json()


@dataclasses.dataclass
class Clash:
    first: Agent
    second: Agent
    resident_id: str


@pytest.fixture
def clash(fresh_fhir_server: str, clinic_factory: Callable[..., Agent]) -> Clash:
    """Two PCs of one clinic changed the same resident's address; the second PC holds the conflict."""
    first = clinic_factory(fresh_fhir_server, code="TR0950")
    second = clinic_factory(fresh_fhir_server, code="TR0950")
    second.store.users.add("doctor", Role.DOCTOR, PIN, actor="test", display_name="王医生")
    person = first.store.residents.add(resident(address="一组"), actor="doctor")
    sync(first)
    sync(second)
    first.store.residents.update(dataclasses.replace(person, address="三组"), actor="doctor")
    theirs = second.store.residents.get(person.id)
    second.store.residents.update(dataclasses.replace(theirs, address="五组"), actor="doctor")
    sync(first)
    assert sync(second)["conflicts"] == 1
    return Clash(first, second, person.id)


@pytest.fixture
async def served(clash: Clash) -> AsyncIterator[Path]:
    """The second PC's daemon API on a short socket path."""
    scratch = Path(tempfile.mkdtemp(prefix="ca-sync-tui-", dir="/tmp"))
    socket = scratch / "api.sock"
    server = ApiServer(clash.second, ApiConfig(socket=socket, session_idle_minutes=10))
    clash.second.publish = server.publish
    await server.start()
    try:
        yield socket
    finally:
        await server.stop()
        shutil.rmtree(scratch, ignore_errors=True)


async def test_the_doctor_keeps_the_platforms_address_and_both_pcs_agree(clash: Clash, served: Path) -> None:
    api = DaemonApi(served)
    app = ClinicApp(api, language="zh", clock=FakeClock())
    try:
        async with app.run_test(size=(120, 30)) as pilot:
            await sign_in(pilot, pin=PIN)
            await pilot.press("f4")
            await until(pilot, lambda: screen_name(pilot) == "ConflictsScreen" and app.screen.current is not None)
            shown = visible_text(app)
            assert "五组" in shown and "三组" in shown and "一组" in shown  # noqa: PT018  ours, theirs, the base
            app.screen.query_one("#c-fields").table.focus()  # type: ignore[attr-defined]
            await pilot.press("right", "ctrl+s")  # keep the platform's address
            await until(pilot, lambda: "没有冲突" in visible_text(app))
    finally:
        await api.close()

    assert clash.second.store.sync.conflicts() == []
    assert clash.second.store.residents.get(clash.resident_id).address == "三组"
    assert (await syncing.run_once(clash.second)).errors == []
    assert (await syncing.run_once(clash.first)).errors == []
    assert clash.first.store.residents.get(clash.resident_id).address == "三组"
