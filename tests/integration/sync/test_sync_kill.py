"""kill -9 of the agent in the middle of syncs, many times: nothing lost, nothing duplicated on the platform."""

from __future__ import annotations

import asyncio
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from clinic_agent import syncing
from clinic_agent.agent import Agent
from tests.integration.sync.seeds import replay, seed_params
from tests.integration.sync.test_sync_faults import final_read
from tests.support import PASSPHRASE, resident

WORKER = Path(__file__).with_name("killworker.py")
KILLS = 10


@pytest.mark.parametrize("seed", seed_params(1))
def test_kill_9_during_syncs_loses_and_duplicates_nothing(
    seed: int, fresh_fhir_server: str, clinic_factory: Callable[..., Agent]
) -> None:
    print(f"kill seed {seed} ({replay(seed)})")
    case = replay(seed)
    rng = random.Random(seed)
    agent = clinic_factory(fresh_fhir_server)
    people = [agent.store.residents.add(resident(rng), actor="test").id for _ in range(4)]
    home = agent.home.root
    agent.close()
    acked: set[str] = set()
    mid_sync = 0
    for kill in range(KILLS):
        ids, syncing_when_killed = run_and_kill(home, seed + kill, people, rng.uniform(0.2, 1.5))
        acked |= ids
        mid_sync += syncing_when_killed
    assert mid_sync >= KILLS // 3, f"only {mid_sync} of {KILLS} kills landed during a sync; {case}"

    survivor = Agent.open(agent.home)
    try:
        survivor.unlock(actor="test", passphrase=PASSPHRASE)
        for _ in range(5):
            report = asyncio.run(syncing.run_once(survivor))
            if not survivor.store.sync.queue_counts()["pending"]:
                break
        assert report.errors == [], case
        assert survivor.store.integrity_check() == "ok", case
        local = {}
        for person in people:
            readings, problems = survivor.store.readings.for_resident(person)
            assert problems == [], case
            local.update({r.id: r for r in readings})
        assert acked <= set(local), case  # every acknowledged reading is in the store
        present, unequal = asyncio.run(final_read(fresh_fhir_server, local))
    finally:
        survivor.close()
    print(
        f"{KILLS} kills ({mid_sync} during a sync); acked {len(acked)}, stored {len(local)},"
        f" on the platform {sum(present.values())}"
    )
    assert set(local) - set(present) == set(), case  # lost
    assert {k: n for k, n in present.items() if n > 1} == {}, case  # duplicated
    assert set(present) - set(local) == set(), case  # unexpected
    assert unequal == [], case


def run_and_kill(home: Path, seed: int, people: list[str], after: float) -> tuple[set[str], bool]:
    """Start the worker, kill -9 it after a while; the readings it acknowledged, and whether it was syncing."""
    process = subprocess.Popen(
        [sys.executable, str(WORKER), str(home), str(seed), ",".join(people)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()  # started: the kill lands during work, not during imports
        time.sleep(after)
        process.send_signal(signal.SIGKILL)
        rest, errors = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert "Traceback" not in errors, errors
    lines = (first + rest).splitlines()
    markers = [line for line in lines if line in ("SYNC", "DONE")]
    return {line.split()[1] for line in lines if line.startswith("ACK ")}, bool(markers) and markers[-1] == "SYNC"
