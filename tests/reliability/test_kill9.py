"""R1: a process crash (kill -9) at a random moment never loses an acknowledged reading.

A worker ingests readings (for residents and unassigned) and resident edits, printing each id only
after the store returned. It is killed with SIGKILL uniform(50, 400) ms after it started; the same
store is reopened after every kill and checked: nothing acked is lost, integrity_check is "ok", no
outbox row is orphaned and every assigned reading is queued, every reading has exactly one
reading.create audit entry naming it, and the audit chain verifies.

Measured here (2 cores, ext4): 100 kills take about 75 s, with 30-35 thousand acked readings and 3-4
thousand acked edits. The same loop runs with the store locked (readings sealed to the store's public
key, opened at the next unlock): 25 kills, about 17 s. The negative control acknowledges before add()
returns and must be caught losing readings (20 kills, about 10 s).
"""

from __future__ import annotations

import random
import subprocess
from pathlib import Path

import pytest

from tests.reliability.harness import (
    PYTHON,
    ROOT,
    WORKER,
    Figures,
    Ledger,
    check_store,
    child_env,
    decrypt_all,
    describe,
    make_home,
    run_worker,
)

KILLS = 100
KILL_AFTER_S = (0.05, 0.4)


@pytest.mark.slow
@pytest.mark.timeout(280)
def test_kill_9_during_ingest_loses_nothing_acknowledged(tmp_path: Path, seed: int, figures: Figures) -> None:
    rng = random.Random(seed)
    home = make_home(tmp_path / "home")
    ledger = Ledger()
    in_flight = 0
    for kill in range(KILLS):
        run = run_worker(home, seed=rng.randrange(1 << 32), kill_after=rng.uniform(*KILL_AFTER_S))
        fresh = ledger.take(run)
        assert run.ready, f"kill {kill}: the worker never became ready: {run.stderr[-2000:]}"
        assert not ledger.foreign, f"kill {kill}: the worker failed on its own: {ledger.foreign}"
        assert run.killed, f"kill {kill}: the worker ended before it was killed (status {run.returncode})"
        check = check_store(home, ledger, fresh)
        assert not check.lost, f"kill {kill}: acknowledged but lost {describe(check.lost)}"
        assert not check.problems, f"kill {kill}: {describe(check.problems)}"
        # At most the one operation in flight at the kill may be stored without its acknowledgement.
        assert len(check.unexpected) - in_flight <= 1, f"kill {kill}: {len(check.unexpected) - in_flight} unacked"
        in_flight = len(check.unexpected)
    count, problems = decrypt_all(home)
    assert not problems, describe(problems)
    assert count == len(ledger.readings) + in_flight
    figures.report(
        f"kills={KILLS} acked_readings={len(ledger.readings)} residents={len(ledger.residents)} "
        f"acked_edits={ledger.edits} stored={count} in_flight_stored={in_flight} lost=0 "
        f"integrity_failures=0 orphans=0 time={figures.elapsed():.1f}s"
    )


LOCKED_KILLS = 25


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_kill_9_while_locked_loses_no_sealed_reading(tmp_path: Path, seed: int, figures: Figures) -> None:
    """Locked (no key after a reboot), readings are sealed to the store's public key; a crash loses none."""
    rng = random.Random(seed)
    home = make_home(tmp_path / "home")
    ledger = Ledger()
    ledger.take(run_worker(home, seed=rng.randrange(1 << 32), args=["--count", "20"]))
    in_flight = opened = 0
    for kill in range(LOCKED_KILLS):
        run = run_worker(home, seed=rng.randrange(1 << 32), kill_after=rng.uniform(*KILL_AFTER_S), args=["--locked"])
        fresh = ledger.take(run)
        assert run.killed, f"kill {kill}: the worker ended before it was killed: {run.stderr[-2000:]}"
        assert not ledger.foreign, f"kill {kill}: {ledger.foreign}"
        check = check_store(home, ledger, fresh)  # unlocks: every sealed reading becomes a row
        opened += check.sealed_opened
        assert not check.lost, f"kill {kill}: sealed and acknowledged but lost {describe(check.lost)}"
        assert not check.problems, f"kill {kill}: {describe(check.problems)}"
        assert len(check.unexpected) - in_flight <= 1
        in_flight = len(check.unexpected)
    figures.report(
        f"kills={LOCKED_KILLS} acked_readings={len(ledger.readings)} sealed_opened_at_unlock={opened} lost=0 "
        f"in_flight_stored={in_flight} time={figures.elapsed():.1f}s"
    )
    assert opened >= len(ledger.readings) - 20, "the readings were not sealed while locked"


CONTROL_KILLS = 20


@pytest.mark.timeout(120)
def test_negative_control_kill_9_harness_sees_an_ack_sent_before_commit(
    tmp_path: Path, seed: int, figures: Figures
) -> None:
    """The same harness with acknowledgements sent before add() returns must report a loss."""
    rng = random.Random(seed)
    home = make_home(tmp_path / "home")
    ledger = Ledger()
    lost: set[str] = set()
    for _ in range(CONTROL_KILLS):
        run = run_worker(
            home, seed=rng.randrange(1 << 32), kill_after=rng.uniform(*KILL_AFTER_S), args=["--ack-before-commit"]
        )
        ledger.take(run)
        assert run.killed, f"the worker ended before it was killed: {run.stderr[-2000:]}"
        check = check_store(home, ledger)
        lost.update(check.lost)
        assert not check.problems, describe(check.problems)
    figures.report(f"kills={CONTROL_KILLS} acked={len(ledger.readings)} lost={len(lost)} (must be > 0)")
    assert lost, "acks sent before COMMIT were never caught lost: the kill -9 harness is blind"


@pytest.mark.timeout(120)
def test_two_processes_unlocking_at_once_both_succeed(tmp_path: Path, seed: int) -> None:
    """After a crash while locked, the daemon and a CLI command may both unlock; both must succeed."""
    home = make_home(tmp_path / "home")
    rng = random.Random(seed)
    ledger = Ledger()
    ledger.take(run_worker(home, seed=rng.randrange(1 << 32), args=["--count", "20"]))
    ledger.take(run_worker(home, seed=rng.randrange(1 << 32), args=["--count", "2000", "--locked"]))
    if ledger.foreign or len(ledger.readings) < 2000:
        pytest.fail(f"the sealed readings were not made: {ledger.foreign}")
    command = [PYTHON, str(WORKER), "--home", str(home.root), "--seed", "0", "--unlock-on-stdin"]
    children = [
        subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=child_env(), cwd=ROOT)
        for _ in range(2)
    ]
    for child in children:
        assert child.stdout is not None
        if not child.stdout.readline().startswith("READY"):
            pytest.fail("an unlocking child did not start")
    for child in children:
        assert child.stdin is not None
        child.stdin.write("go\n")
        child.stdin.flush()
    said = [child.communicate(timeout=60)[0].strip() for child in children]
    check = check_store(home, ledger)
    if check.lost or check.problems:
        pytest.fail(f"lost {describe(check.lost)}; {describe(check.problems)}")
    assert all(line.startswith("U ") for line in said), said
