"""Soak 4: a 30-day offline backlog drained by the daemon while it is killed every 30 s.

A clinic was offline for 30 days: ``size`` readings (50,000 by default) of 300 residents (fewer in a
smaller backlog: one per 150 readings), taken
evenly over those days, wait in its outbox. It is enrolled with a real FHIR server (SEKMET) and the
daemon (`clinic-agent run`, machine key) is started; its sync loop pushes the backlog. Every
``kill_every`` seconds the daemon is killed with SIGKILL and started again, until nothing is pending.
Then the platform is read: every reading exactly once, equal to what was stored (the set check of
tests/integration/sync/test_sync_faults.py ``final_read``), every resident exactly once.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sqlite3
import time
from datetime import timedelta
from pathlib import Path

from clinic_agent.core.model import Reading, utcnow
from tests.integration.sync.test_sync_faults import final_read
from tests.reliability.test_daemon_kill9 import start_daemon
from tests.soak.common import Say, Tally, describe
from tests.soak.platform import delete_one, drain, enrol, ours_on_platform, platform, sync_config
from tests.support import new_home, open_unlocked, reading, resident

DEFAULT_SIZE = 50_000  # readings (issue 13)
DAYS = 30
RESIDENTS = 300  # at the full size; one per 150 readings below it, at least 3
KILL_EVERY_S = 30.0
BATCH = 1000


def pending(db: Path) -> int:
    """Outbox entries waiting to be sent (the count the outbox's triggers keep), read beside the daemon."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as conn:
        row = conn.execute("SELECT value FROM meta WHERE key = 'outbox.pending'").fetchone()
    return int(row[0]) if row else 0


def residents_for(count: int) -> int:
    """How many residents the readings of a backlog of ``count`` belong to."""
    return max(3, min(RESIDENTS, count // 150))


def backlog(root: Path, rng: random.Random, count: int) -> dict[str, Reading]:
    """A clinic whose last ``DAYS`` days never reached the platform: its readings by id."""
    home = new_home(root, machine_key=True)
    with (root / "agent.toml").open("a", encoding="utf-8") as config:
        config.write(sync_config())
    store = open_unlocked(home)
    made: dict[str, Reading] = {}
    try:
        people = [store.residents.add(resident(rng), actor="soak").id for _ in range(residents_for(count))]
        start = utcnow() - timedelta(days=DAYS)
        step = timedelta(days=DAYS) / max(count, 1)
        for first in range(0, count, BATCH):
            batch = []
            for number in range(first, min(first + BATCH, count)):
                at = start + step * number
                batch.append(
                    reading(
                        rng.choice(people),
                        systolic=str(rng.randint(95, 200)),
                        diastolic=str(rng.randint(55, 110)),
                        taken_at=at,
                        received_at=at + timedelta(seconds=rng.randint(1, 30)),
                    )
                )
            store.readings.add_many(batch, actor="device:soak-cuff")
            made.update((r.id, r) for r in batch)
    finally:
        store.close()
    return made


def run(
    seed: int,
    size: int = DEFAULT_SIZE,
    *,
    workdir: Path,
    plant: str | None = None,
    say: Say = print,
    kill_every: float = KILL_EVERY_S,
) -> Tally:
    """Drain ``size`` readings, killing the daemon every ``kill_every`` s; ``plant="drop"`` deletes one
    reading from the platform before the check."""
    tally = Tally("backlog", seed, size, options=f" --kill-every {kill_every:g}")
    rng = random.Random(seed)
    root = workdir / "home"
    began = time.monotonic()
    acked = backlog(root, rng, size)
    made_s = time.monotonic() - began
    logs = workdir / "logs"
    logs.mkdir(exist_ok=True)
    db = root / "clinic.db"
    with platform(workdir / "platform") as base_url:
        enrol(root, base_url)
        waiting = pending(db)
        say(f"backlog: {len(acked)} readings made in {made_s:.0f} s, {waiting} outbox entries pending")
        began = time.monotonic()
        lives = 0
        most_lives = 20 + size // 50  # a drain that makes no progress ends here, counted as lost
        while waiting and lives < most_lives:
            log = logs / f"life-{lives:04d}.log"
            try:
                daemon = start_daemon(root, log)
            except AssertionError as exc:
                tally.crashes += 1
                tally.problem(f"life {lives}: {str(exc)[-1500:]}")
                break
            lives += 1
            deadline = time.monotonic() + kill_every
            while time.monotonic() < deadline and daemon.poll() is None and (waiting := pending(db)):
                time.sleep(min(1.0, max(deadline - time.monotonic(), 0.0)))
            if daemon.poll() is not None:
                tally.crashes += 1
                tally.problem(f"life {lives}: the daemon died by itself: {log.read_text()[-1500:]}")
                break
            os.kill(daemon.pid, signal.SIGKILL)
            daemon.wait(30)
            tally.runs += 1
            waiting = pending(db)
            log.unlink()
            say(f"backlog: life {lives} killed, {waiting} pending, {time.monotonic() - began:.0f} s")
        drained_s = time.monotonic() - began
        left = drain(root)  # what the kills left (nothing, if the daemon finished)
        if plant == "drop" and acked:
            delete_one(base_url, "Observation", sorted(acked)[0])
        present, unequal = asyncio_run_final_read(base_url, acked)
        patients = ours_on_platform(base_url, "Patient")
    lost = set(acked) - set(present)
    twice = {r: n for r, n in present.items() if n > 1}
    unexpected = set(present) - set(acked)
    tally.lost += len(lost) + left
    tally.duplicated += len(twice) + sum(1 for n in patients.values() if n > 1)
    tally.corrupt += len(unexpected) + len(unequal)
    if len(patients) != residents_for(size):
        tally.lost += max(residents_for(size) - len(patients), 0)
        tally.problem(f"{len(patients)} residents on the platform, not {residents_for(size)}")
    for text in [
        *(f"reading {r} is not on the platform" for r in sorted(lost)),
        *(f"reading {r} is on the platform {n} times" for r, n in twice.items()),
        *(f"reading {r} on the platform was never stored here" for r in sorted(unexpected)),
        *(f"reading {r} differs on the platform" for r in unequal),
        *([f"{left} entries still pending after the kills and a drain"] if left else []),
    ]:
        tally.problem(text)
    tally.figures.update(
        days=DAYS,
        residents=residents_for(size),
        kill_every_s=kill_every,
        drain_s=round(drained_s),
        readings_per_s=round(len(acked) / max(drained_s, 0.001), 1),
        on_platform=sum(present.values()),
    )
    if tally.problems:
        say(f"backlog problems {describe(tally.problems)}")
    return tally


def asyncio_run_final_read(base_url: str, acked: dict[str, Reading]) -> tuple[dict[str, int], list[str]]:
    """The sync fault test's read of the platform: our Observations by record id, and the unequal ones."""
    present, unequal = asyncio.run(final_read(base_url, acked))
    return dict(present), unequal
