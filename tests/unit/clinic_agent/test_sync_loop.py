"""The daemon's sync loop costs nothing per reading while there is no platform to sync with."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from clinic_agent.runtime import syncing
from clinic_agent.runtime.agent import Agent
from sync import service as sync_service
from tests.support import PASSPHRASE, new_home, reading, resident


def test_readings_stored_while_not_enrolled_wake_no_sync_and_count_nothing_on_the_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    agent = Agent.open(new_home(tmp_path / "home"))
    agent.unlock(actor="t", passphrase=PASSPHRASE)
    runs: list[str] = []
    counted: list[str] = []
    real_status = sync_service.status

    def counting_status(*args: Any, **kwargs: Any) -> dict[str, Any]:
        counted.append("status")
        return real_status(*args, **kwargs)

    monkeypatch.setattr(sync_service, "status", counting_status)

    async def go() -> None:
        service = syncing.SyncService(agent)
        real_sync = service._sync

        async def counting_sync() -> Any:
            runs.append("sync")
            return await real_sync()

        monkeypatch.setattr(service, "_sync", counting_sync)
        await service.start()
        await asyncio.sleep(0.5)  # the first run finds no enrolment
        before = (len(runs), len(counted))
        person = await asyncio.to_thread(agent.store.residents.add, resident(), actor="t")
        for _ in range(30):
            await asyncio.to_thread(agent.store.readings.add, reading(person.id), actor="device")
        await asyncio.sleep(0.5)
        after = (len(runs), len(counted))
        await service.stop()
        assert before[0] >= 1
        assert after == before  # 31 commits that queued work: not one wake-up, not one outbox count

    asyncio.run(go())
    agent.close()
