"""R6: a really full disk (a small tmpfs as the data directory) is reported, harms nothing, and passes.

Ingest until the disk is full: every failure is DiskFull with a message saying so, a failed reading is
not stored (the message says "nothing was saved"), no reading is left without its audit or outbox row,
integrity_check is "ok". Then free space (a ballast file made first): ingestion resumes in the same
process on the same Store, without reopening it, and again after reopening. The CLI on the full disk
exits non-zero with one line on stderr and no traceback. Needs root for the mount; skipped loudly without.

Measured here: an 8 MiB tmpfs with a 2 MiB ballast file fills after about 1,600 readings; about 2 s.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from clinic_agent.core.errors import ClinicAgentError
from clinic_agent.core.model import Resident
from clinic_agent.runtime.home import Home, open_locked, open_vault
from clinic_agent.store import Store
from tests.reliability.harness import (
    PYTHON,
    Figures,
    Ledger,
    check_store,
    child_env,
    describe,
    inspect_store,
    make_home,
    no_core_dumps,
)
from tests.reliability.worker import make_reading
from tests.support import PASSPHRASE, resident

TMPFS_MIB = 8
BALLAST_MIB = 2
FULL_STREAK = 20  # consecutive DiskFull answers: the disk is full for good, not a slack page reused
MAX_ATTEMPTS = 100_000


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A fresh tmpfs of TMPFS_MIB mounted for this test (root only), unmounted afterwards."""
    if os.geteuid() != 0:
        pytest.skip("SKIPPED LOUDLY: mounting a tmpfs for the disk-full test needs root")
    if shutil.which("mount") is None or shutil.which("umount") is None:
        pytest.skip("SKIPPED LOUDLY: mount/umount are not installed")
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={TMPFS_MIB}m,mode=0700", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"SKIPPED LOUDLY: mount -t tmpfs was refused here: {mounted.stderr.strip()}")
    try:
        yield mount_point
    finally:
        if subprocess.run(["umount", str(mount_point)], capture_output=True, check=False).returncode != 0:
            subprocess.run(["umount", "-l", str(mount_point)], capture_output=True, check=False)


def open_store(home: Home) -> Store:
    """Open and unlock with the machine key."""
    store, keyfile = open_locked(home)
    store.unlock(open_vault(home, keyfile).keyring, actor="disk-full-test")
    return store


def ingest(
    store: Store, people: list[Resident], ledger: Ledger, rng: random.Random, *, until_full: bool, count: int = 0
) -> Counter[str]:
    """Add readings (half assigned): until FULL_STREAK DiskFull in a row, or ``count`` of them."""
    errors: Counter[str] = Counter()
    streak = attempts = 0
    while attempts < MAX_ATTEMPTS and (streak < FULL_STREAK if until_full else attempts < count):
        attempts += 1
        owner = rng.choice(people).id if rng.random() < 0.5 else None
        reading = make_reading(rng, owner)
        try:
            added = store.readings.add(reading, actor="device:test")
        except ClinicAgentError as exc:
            errors[type(exc).__name__] += 1
            ledger.failure_messages[exc.message] += 1
            ledger.failed_ids.add(reading.id)
            streak += 1
            continue
        except Exception as exc:  # noqa: BLE001  (counted: anything but DiskFull fails the test)
            errors[f"foreign {type(exc).__name__}: {exc}"] += 1
            break
        ledger.readings[added.id] = owner
        streak = 0
    return errors


def cli(home: Home, *args: str) -> subprocess.CompletedProcess[str]:
    """Run `clinic-agent --home HOME ARGS` in a child, passphrase from the environment."""
    return subprocess.run(
        [PYTHON, "-m", "clinic_agent", "--home", str(home.root), *args],
        env=child_env({"CLINIC_AGENT_PASSPHRASE": PASSPHRASE}),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        preexec_fn=no_core_dumps,
    )


def top_up(directory: Path) -> None:
    """Take the last free bytes too (tmpfs counts pages; finish with single bytes)."""
    fd = os.open(directory / "filler", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        for size in (1 << 16, 4096, 1):
            with contextlib.suppress(OSError):
                while os.write(fd, b"\0" * size):
                    pass
    finally:
        os.close(fd)


@pytest.mark.root
@pytest.mark.timeout(120)
def test_a_full_disk_is_reported_harms_nothing_and_ingestion_resumes_when_space_returns(
    small_disk: Path, seed: int, figures: Figures
) -> None:
    rng = random.Random(seed)
    home = make_home(small_disk / "home")
    (small_disk / "ballast").write_bytes(b"\0" * (BALLAST_MIB << 20))
    store = open_store(home)
    people = [store.residents.add(resident(rng), actor="test") for _ in range(3)]
    ledger = Ledger(residents={p.id for p in people})
    try:
        errors = ingest(store, people, ledger, rng, until_full=True)
        full_at = len(ledger.readings)
        assert errors["DiskFull"] >= FULL_STREAK, f"the disk never filled up: {dict(errors)}"
        assert set(errors) == {"DiskFull"}, f"a full disk raised something else than DiskFull: {dict(errors)}"
        assert all("disk is full" in m for m in ledger.failure_messages), list(ledger.failure_messages)
        check = inspect_store(store, ledger)
        assert not check.lost, describe(check.lost)
        assert not check.problems, describe(check.problems)
        assert not check.unexpected, f"{len(check.unexpected)} readings refused with 'nothing was saved' are stored"

        top_up(small_disk)
        added = cli(home, "reading", "add", "--code", "8480-6", "--value", "120", "--unit", "mm[Hg]")
        assert added.returncode != 0, added.stdout
        assert len(added.stderr.splitlines()) == 1, added.stderr
        assert "disk is full" in added.stderr, added.stderr
        assert "Traceback" not in added.stderr
        status = cli(home, "status")
        assert status.returncode == 0, f"status does not work on a full disk: {status.stderr}"

        (small_disk / "ballast").unlink()
        (small_disk / "filler").unlink()
        resumed = ingest(store, people, ledger, rng, until_full=False, count=200)
        assert not resumed, f"after space came back, the same Store still fails: {dict(resumed)}"
        check = inspect_store(store, ledger)
        assert not check.problems, describe(check.problems)
    finally:
        store.close()
    reopened = check_store(home, ledger, ledger.readings)
    assert not reopened.lost, describe(reopened.lost)
    assert not reopened.problems, describe(reopened.problems)
    store = open_store(home)
    try:
        assert not ingest(store, people, ledger, rng, until_full=False, count=50)
    finally:
        store.close()
    figures.report(
        f"tmpfs={TMPFS_MIB}MiB ballast={BALLAST_MIB}MiB readings_before_full={full_at} "
        f"disk_full_errors={errors['DiskFull']} "
        f"other_errors=0 partial_rows=0 resumed_without_reopen=200/200 after_reopen=50/50 "
        f"cli_exit={added.returncode} cli_stderr={added.stderr.strip()!r} time={figures.elapsed():.1f}s"
    )
