"""kill -9 of the agent in the middle of syncs, many times: nothing lost, nothing duplicated on the platform.

Before the kills, another system writes for the clinic what the pull must apply and what it must set
aside (``write_upstream``): the set-aside ones stay listed with their reasons across the kills, and
everything else is in the files, once.
"""

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

from clinic_agent.runtime import syncing
from clinic_agent.runtime.agent import Agent
from sync.fhir.common import local_id
from tests.integration.sync.seeds import replay, seed_params
from tests.integration.sync.test_sync_faults import check_pulled, final_read, linked_one, write_upstream
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
    residents = [agent.store.residents.add(resident(rng), actor="test") for _ in range(4)]
    people = [person.id for person in residents]
    assert asyncio.run(syncing.run_once(agent)).errors == [], case
    linked = linked_one(agent.store, residents)
    assert linked is not None, case
    organization = agent.store.sync.settings()["organization_id"]
    upstream = asyncio.run(write_upstream(fresh_fhir_server, organization, *linked, rng))
    home = agent.home.root
    agent.close()
    acked: set[str] = set()
    mid_sync = 0
    synced = 0
    for kill in range(KILLS):
        # The first worker is let finish one sync (its pull sets aside what it must) before its timer starts.
        ids, syncing_when_killed, done = run_and_kill(
            home, seed + kill, people, rng.uniform(0.2, 1.5), after_a_sync=kill == 0
        )
        acked |= ids
        mid_sync += syncing_when_killed
        synced += done
    assert mid_sync >= KILLS // 3, f"only {mid_sync} of {KILLS} kills landed during a sync; {case}"

    survivor = Agent.open(agent.home)
    try:
        survivor.unlock(actor="test", passphrase=PASSPHRASE)
        # What the killed runs set aside is still set aside, with its reason, before any further sync.
        check_pulled(survivor.store, upstream, residents=len(residents) + 1, case=case)
        for _ in range(5):
            report = asyncio.run(syncing.run_once(survivor))
            if not survivor.store.sync.queue_counts()["pending"]:
                break
        assert report.errors == [], case
        assert survivor.store.integrity_check() == "ok", case
        local = {}
        theirs = local_id({"resourceType": "Observation", "id": upstream.observation_id})  # pulled, not sent
        for person in people:
            readings, problems = survivor.store.readings.for_resident(person)
            assert problems == [], case
            local.update({r.id: r for r in readings if r.id != theirs})
        assert acked <= set(local), case  # every acknowledged reading is in the store
        check_pulled(survivor.store, upstream, residents=len(residents) + 1, case=case)
        present, unequal = asyncio.run(final_read(fresh_fhir_server, local))
    finally:
        survivor.close()
    print(
        f"{KILLS} kills ({mid_sync} during a sync, {synced} syncs finished); acked {len(acked)}, stored {len(local)},"
        f" on the platform {sum(present.values())}"
    )
    assert set(local) - set(present) == set(), case  # lost
    assert {k: n for k, n in present.items() if n > 1} == {}, case  # duplicated
    assert set(present) - set(local) == set(), case  # unexpected
    assert unequal == [], case


def run_and_kill(
    home: Path, seed: int, people: list[str], after: float, *, after_a_sync: bool = False
) -> tuple[set[str], bool, int]:
    """Start the worker, kill -9 it after a while (counted from its first finished sync with
    ``after_a_sync``); the readings it acknowledged, whether it was syncing, how many syncs finished."""
    process = subprocess.Popen(
        [sys.executable, str(WORKER), str(home), str(seed), ",".join(people)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()  # started: the kill lands during work, not during imports
        line = first
        while after_a_sync and line and line != "DONE\n":
            line = process.stdout.readline()
            first += line
        time.sleep(after)
        process.send_signal(signal.SIGKILL)
        rest, errors = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert "Traceback" not in errors, errors
    lines = (first + rest).splitlines()
    markers = [line for line in lines if line in ("SYNC", "DONE")]
    acked = {line.split()[1] for line in lines if line.startswith("ACK ")}
    return acked, bool(markers) and markers[-1] == "SYNC", markers.count("DONE")
