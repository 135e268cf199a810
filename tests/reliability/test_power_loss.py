"""R3: a power cut loses no acknowledged reading and bricks nothing (lost-writes shim, strict directory model).

The worker runs under the LD_PRELOAD shim of lostwrites.c, which
keeps a copy of each file as of its last fsync and of the directory listing as of its last directory
fsync. After SIGKILL the home directory is rebuilt from those copies alone, as after a power cut on a
disk that keeps only what was flushed; then the store is reopened and checked as in R1, and its key
file must still open it. The store is itself created under the shim, so a name that init does not
make durable (the database, its WAL, keys.json, machine.key) would vanish.

Negative control: the same harness with the worker opening the store with synchronous=NORMAL must see
acknowledged readings lost (4-19 % of them in runs here), else the harness is blind.

A second negative control compiles the shim so that directory fsyncs are lost too: the WAL a worker
creates then never gets a durable name, and acknowledged readings must be lost. So the FULL run passes
because SQLite fsyncs the directory when it creates the WAL, not because the model keeps names it should drop.

Measured here: 60 crashes with synchronous=FULL (about 3,500 acked, 0 lost, 32 s), 20 with NORMAL (about
7,500 acked, 700-1,400 lost, 12 s) and 5 without directory fsyncs (4 s).
"""

from __future__ import annotations

import random
import shutil
import subprocess
from pathlib import Path

import pytest

from clinic_agent.runtime.home import Home, open_vault, resolve
from clinic_agent.security.keys import KeyFile
from tests.reliability.harness import (
    PYTHON,
    Figures,
    Ledger,
    PowerCut,
    build_shim,
    check_store,
    child_env,
    describe,
    no_core_dumps,
    run_worker,
)
from tests.support import FAST_CONFIG, PASSPHRASE

CRASHES = 60
CONTROL_CRASHES = 20
DIR_CONTROL_CRASHES = 5
KILL_AFTER_S = (0.05, 0.4)


@pytest.fixture(scope="module")
def shim(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The lost-writes shim, compiled for this run."""
    if not Path("/proc/self/fd").is_dir():
        pytest.skip("SKIPPED LOUDLY: the power-loss shim needs Linux's /proc/self/fd")
    if shutil.which("gcc") is None:
        pytest.skip(
            "SKIPPED LOUDLY: gcc is not installed, so the power-loss shim cannot be built (apt-get install gcc)"
        )
    return build_shim(tmp_path_factory.mktemp("shim"))


def create_under_shim(tmp_path: Path, shim: Path) -> tuple[Home, PowerCut]:
    """`clinic-agent init --machine-key` under the shim, then a power cut right after it returned."""
    root = tmp_path / "home"
    root.mkdir()
    (root / "agent.toml").write_text(FAST_CONFIG, encoding="utf-8")
    power = PowerCut(root, tmp_path / "shadow", shim)
    power.seed()
    done = subprocess.run(
        [PYTHON, "-m", "clinic_agent", "--home", str(root), "init", "--machine-key"],
        env=child_env({**power.env(), "CLINIC_AGENT_PASSPHRASE": PASSPHRASE}),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        preexec_fn=no_core_dumps,
    )
    assert done.returncode == 0, done.stderr
    vanished = power.cut()
    assert not {"clinic.db", "keys.json", "machine.key"} & set(vanished), f"init left names not durable: {vanished}"
    return resolve(root), power


def crash_loop(home: Home, power: PowerCut, seed: int, crashes: int, synchronous: str) -> tuple[Ledger, set[str], int]:
    """Crash the worker ``crashes`` times; return the ledger, every acked id lost, and the most in flight."""
    rng = random.Random(seed)
    ledger = Ledger()
    lost: set[str] = set()
    in_flight = most_in_flight = 0
    for crash in range(crashes):
        power.seed()
        run = run_worker(
            home,
            seed=rng.randrange(1 << 32),
            kill_after=rng.uniform(*KILL_AFTER_S),
            args=["--synchronous", synchronous],
            env=power.env(),
        )
        fresh = ledger.take(run)
        assert run.ready, f"crash {crash}: the worker never became ready: {run.stderr[-2000:]}"
        assert not ledger.foreign, f"crash {crash}: the worker failed on its own: {ledger.foreign}"
        assert run.killed, f"crash {crash}: the worker ended before the power cut"
        power.cut()
        check = check_store(home, ledger, fresh)
        assert not check.problems, f"crash {crash} ({synchronous}): {describe(check.problems)}"
        lost.update(check.lost)
        most_in_flight = max(most_in_flight, len(check.unexpected) - in_flight)
        in_flight = len(check.unexpected)
    return ledger, lost, most_in_flight


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_power_cut_during_ingest_loses_nothing_acknowledged(
    tmp_path: Path, shim: Path, seed: int, figures: Figures
) -> None:
    home, power = create_under_shim(tmp_path, shim)
    first = check_store(home, Ledger())
    assert not first.problems, f"the store did not survive a power cut right after init: {first.problems}"
    ledger, lost, most_in_flight = crash_loop(home, power, seed, CRASHES, "FULL")
    figures.report(
        f"synchronous=FULL crashes={CRASHES} acked_readings={len(ledger.readings)} acked_edits={ledger.edits} "
        f"lost={len(lost)} corrupt=0 bricked=0 time={figures.elapsed():.1f}s"
    )
    assert not lost, f"acknowledged but lost after a power cut: {describe(sorted(lost))}"
    assert most_in_flight <= 1
    # the machine slot opened the store after every cut; the passphrase slot must still open it too
    assert open_vault(home, KeyFile.load(home.keys_path), passphrase=PASSPHRASE).opened_by == "passphrase:admin"


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_negative_control_power_cut_with_synchronous_normal_loses_acknowledged_readings(
    tmp_path: Path, shim: Path, seed: int, figures: Figures
) -> None:
    home, power = create_under_shim(tmp_path, shim)
    ledger, lost, _ = crash_loop(home, power, seed, CONTROL_CRASHES, "NORMAL")
    lost_readings = [item for item in lost if item.startswith("reading ")]
    share = len(lost_readings) / max(len(ledger.readings), 1)
    figures.report(
        f"synchronous=NORMAL crashes={CONTROL_CRASHES} acked_readings={len(ledger.readings)} "
        f"lost={len(lost_readings)} ({share:.1%}) corrupt=0 time={figures.elapsed():.1f}s"
    )
    assert lost_readings, "synchronous=NORMAL lost nothing: the power-loss harness cannot see a loss"


@pytest.mark.timeout(120)
def test_negative_control_power_cut_that_also_loses_directory_fsyncs_loses_the_wal(
    tmp_path: Path, shim: Path, seed: int, figures: Figures
) -> None:
    """With directory fsyncs ignored, the WAL a worker creates never gets a durable name: the model must see it."""
    home, _ = create_under_shim(tmp_path, shim)
    blind = PowerCut(home.root, tmp_path / "shadow", build_shim(shim.parent, "LW_IGNORE_DIR_SYNC"))
    ledger, lost, _ = crash_loop(home, blind, seed, DIR_CONTROL_CRASHES, "FULL")
    figures.report(
        f"crashes={DIR_CONTROL_CRASHES} acked_readings={len(ledger.readings)} lost={len(lost)} (must be > 0)"
    )
    assert lost, "losing the WAL's name lost nothing: the strict directory model is not applied"


TWO_WRITERS = """
import os, sys, threading, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
os.pwrite(fd, b"old " * 1024, 0)
os.fsync(fd)  # snapshot 1
checkpointer = os.open(sys.argv[1], os.O_RDWR)  # another thread's descriptor on the same file
thread = threading.Thread(target=os.fsync, args=(checkpointer,))
thread.start()  # snapshot 2: pauses between reading its first block and writing it
time.sleep(0.3)
os.pwrite(fd, b"new ", 0)  # where snapshot 2 has already read
os.fsync(fd)  # snapshot 3: this write is durable once it returns
thread.join()
"""


@pytest.mark.timeout(60)
def test_the_model_keeps_a_synced_write_when_another_thread_syncs_the_same_file(tmp_path: Path, shim: Path) -> None:
    """The model itself: another thread's snapshot of the file, begun before a write and finished after
    that write's own fsync, must not put the file back as it was. (The store's checkpoint thread fsyncs
    the WAL while the writer appends to it and fsyncs it; snapshots taken side by side once made a power
    cut in this file's first test lose acknowledged readings and break an index: a fault of the model,
    not of the store. One 60-crash run had 754 snapshots begin while another was under way.) The shim
    is built to pause its second snapshot between reading a block and writing it, so without the lock
    the stale block is certain to land over the fresh snapshot."""
    stalling = build_shim(shim.parent, "LW_STALL_SECOND_SNAPSHOT")
    directory, shadow = tmp_path / "disk", tmp_path / "shadow"
    directory.mkdir()
    shadow.mkdir()
    path = directory / "clinic.db-wal"
    env = {"LD_PRELOAD": str(stalling), "LW_DIR": str(directory.resolve()), "LW_SHADOW": str(shadow)}
    subprocess.run([PYTHON, "-c", TWO_WRITERS, str(path)], env=child_env(env), check=True, timeout=30)
    durable = (shadow / f"{path.stat().st_ino}.data").read_bytes()
    assert durable[:4] == b"new ", "a snapshot begun before the fsynced write wrote over the one taken after it"
