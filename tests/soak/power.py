"""Soak 2: power cuts with the LD_PRELOAD lost-writes shim (tests/reliability/lostwrites.c).

The store is made by `clinic-agent init --machine-key` under the shim and cut once (as the power-loss
test does); then, ``size`` times: the reliability worker ingests readings and edits under the shim,
is SIGKILLed uniform(0.05, 0.4) s after it said READY, and the home is rebuilt from what was fsynced
alone (the strict directory model). After every cut the store is reopened with its machine key and
checked against everything acknowledged so far (tests/reliability/harness.py ``check_store``): none
lost, integrity_check, the audit chain, the outbox, each reading decrypts; at most the operation
in flight at the cut stored without its acknowledgement.
"""

from __future__ import annotations

import random
import sqlite3
import tempfile
from pathlib import Path

from tests.reliability.harness import Ledger, build_shim, check_store, run_worker
from tests.reliability.test_power_loss import KILL_AFTER_S, create_under_shim
from tests.soak.common import Say, Tally, describe

DEFAULT_SIZE = 500  # power cuts (issue 13)


def run(seed: int, size: int = DEFAULT_SIZE, *, workdir: Path, plant: str | None = None, say: Say = print) -> Tally:
    """Cut the power ``size`` times; ``plant="drop"`` deletes one acknowledged reading after the last cut."""
    tally = Tally("power", seed, size)
    rng = random.Random(seed)
    shim = build_shim(Path(tempfile.mkdtemp(dir=workdir)))
    home, power = create_under_shim(workdir, shim)
    ledger = Ledger()
    lost: set[str] = set()
    in_flight = most_in_flight = 0
    for cut in range(size):
        power.seed()
        done = run_worker(home, seed=rng.randrange(1 << 32), kill_after=rng.uniform(*KILL_AFTER_S), env=power.env())
        fresh = ledger.take(done)
        if ledger.foreign or not done.ready or not done.killed:
            tally.crashes += 1
            tally.problem(f"cut {cut}: the worker failed on its own: {ledger.foreign or done.stderr[-1500:]}")
            ledger.foreign.clear()
            continue
        power.cut()
        if plant == "drop" and cut == size - 1 and ledger.readings:
            with sqlite3.connect(home.db_path) as conn:
                conn.execute("DELETE FROM readings WHERE id = ?", (sorted(ledger.readings)[0],))
        check = check_store(home, ledger, fresh)
        tally.runs += 1
        new_lost = set(check.lost) - lost
        lost |= new_lost
        tally.lost += len(new_lost)
        tally.corrupt += len(check.problems)
        for text in [
            *(f"cut {cut}: lost {item}" for item in sorted(new_lost)),
            *(f"cut {cut}: {p}" for p in check.problems),
        ]:
            tally.problem(text)
        most_in_flight = max(most_in_flight, len(check.unexpected) - in_flight)
        in_flight = len(check.unexpected)
        if (cut + 1) % 100 == 0:
            say(f"power: {cut + 1} cuts, {len(ledger.readings)} readings acknowledged, lost {len(lost)}")
    if most_in_flight > 1:
        tally.corrupt += 1
        tally.problem(f"{most_in_flight} operations stored without acknowledgement at one cut (at most 1 is in flight)")
    tally.figures.update(
        acked_readings=len(ledger.readings),
        acked_edits=ledger.edits,
        residents=len(ledger.residents),
        stored_unacked=in_flight,
    )
    if tally.problems:
        say(f"power problems {describe(tally.problems)}")
    return tally
