"""C5: no canary name or ID number reaches the disk in clear, whatever the workload and however it ends.

Twenty canary residents (names, and ID numbers with valid check digits) go through: the worker under
kill -9 (registrations, readings, edits), then the daemon (`clinic-agent run`, debug logging, its log
file in HOME/logs) driven by CLI commands over its socket, including failing ones that echo the input,
a wrong passphrase, a kill -9 of the daemon mid-command and a restart on its stale socket, and a clean
stop. Then every byte under the test's directory (the home: database, -wal, -shm, keys.json, logs, the
socket directory; and the TMPDIR the children used) is searched for every canary: names in UTF-8,
GB18030 and UTF-16LE, ID numbers in UTF-8 and UTF-16LE. A positive control shows the search finds a
canary in a plain file and in plain SQLite databases, and the store is shown to hold all twenty.

Measured here: about 30 s.
"""

from __future__ import annotations

import json
import random
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterable
from datetime import date
from pathlib import Path

import pytest

from clinic_agent.core.idnumber import check_character
from clinic_agent.runtime.home import Home, open_locked, open_vault
from tests.reliability.harness import (
    PYTHON,
    Figures,
    Ledger,
    check_store,
    child_env,
    make_home,
    no_core_dumps,
    run_worker,
)
from tests.support import PASSPHRASE

CANARIES = 20
WORKER_CRASHES = 3
VIA_DAEMON = 6  # the last canaries are registered through the daemon, the others by the worker
SURNAMES = ("欧阳", "司马", "诸葛", "上官", "皇甫", "东方", "慕容", "令狐", "宇文", "长孙")
GIVEN = "翎翊翕翥翦翰翱翳翷翹耀耄耋聃聆聿肆胤臻舜"


def canaries(rng: random.Random) -> list[tuple[str, str]]:
    """Distinct (name, ID number) pairs; the numbers carry valid ISO 7064 MOD 11-2 check characters."""
    names: set[str] = set()
    while len(names) < CANARIES:
        names.add(rng.choice(SURNAMES) + "".join(rng.sample(GIVEN, 2)))
    pairs = []
    for name in sorted(names):
        born = date(rng.randint(1935, 2010), rng.randint(1, 12), rng.randint(1, 28))
        first17 = f"{rng.choice(('522201', '522222', '520102'))}{born:%Y%m%d}{rng.randint(0, 999):03d}"
        pairs.append((name, first17 + check_character(first17)))
    return pairs


def needles(pairs: Iterable[tuple[str, str]]) -> dict[bytes, str]:
    """Every byte string to search for, with a label."""
    found: dict[bytes, str] = {}
    for name, number in pairs:
        for encoding in ("utf-8", "gb18030", "utf-16-le"):
            found[name.encode(encoding)] = f"name {name} ({encoding})"
        for encoding in ("utf-8", "utf-16-le"):
            found[number.encode(encoding)] = f"ID number {number} ({encoding})"
    return found


class Scan:
    """Every (file, canary) hit under a directory (regular files only; a socket has no bytes)."""

    def __init__(self, root: Path, wanted: dict[bytes, str]) -> None:
        self.hits: list[str] = []
        self.files: list[str] = []
        self.bytes = 0
        for path in sorted(root.rglob("*")):
            if not path.is_file() or path.is_symlink():
                continue
            data = path.read_bytes()
            self.files.append(str(path.relative_to(root)))
            self.bytes += len(data)
            self.hits += [f"{path.relative_to(root)}: {label}" for needle, label in wanted.items() if needle in data]


class Daemon:
    """`clinic-agent run` in a child, its output going to HOME/logs/daemon.log like a service's log."""

    def __init__(self, home: Home, env: dict[str, str]) -> None:
        self.home = home
        self.env = env
        log_dir = home.root / "logs"
        log_dir.mkdir(exist_ok=True)
        with (log_dir / "daemon.log").open("ab") as log:
            self.process = subprocess.Popen(
                [PYTHON, "-m", "clinic_agent", "--home", str(home.root), "run"],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                preexec_fn=no_core_dumps,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            status = cli(home, env, "--json", "status")
            if status.returncode == 0 and json.loads(status.stdout).get("daemon", {}).get("running"):
                return
            assert self.process.poll() is None, (home.root / "logs" / "daemon.log").read_text()
            time.sleep(0.2)
        pytest.fail("the daemon did not come up within 30 s")

    def kill(self) -> None:
        """A crash: SIGKILL, no cleanup."""
        self.process.kill()
        self.process.wait(10)

    def stop(self) -> int:
        """A clean stop: SIGTERM, then the exit status."""
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(30)


def cli(home: Home, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """One CLI command; its output stays in memory (it is the user's screen, not the disk)."""
    return subprocess.run(
        [PYTHON, "-m", "clinic_agent", "--home", str(home.root), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        preexec_fn=no_core_dumps,
    )


def drive_worker(home: Home, pairs: list[tuple[str, str]], rng: random.Random, env: dict[str, str]) -> Ledger:
    """The worker registers the first canaries and ingests for them, killed WORKER_CRASHES times."""
    ledger = Ledger()
    given = json.dumps([{"name": n, "id_number": i} for n, i in pairs[: CANARIES - VIA_DAEMON]])
    for _ in range(WORKER_CRASHES):
        run = run_worker(
            home,
            seed=rng.randrange(1 << 32),
            kill_after=rng.uniform(0.15, 0.4),
            args=["--canaries-stdin"],
            env=env,
            stdin=given,
        )
        ledger.take(run)
        assert run.killed, f"the worker ended before it was killed: {run.stderr[-2000:]}"
        assert not ledger.foreign, ledger.foreign
    return ledger


def drive_daemon(
    home: Home, pairs: list[tuple[str, str]], env: dict[str, str], after_crash: Callable[[], object]
) -> list[str]:
    """CLI commands through the daemon, a daemon crash and restart, and a clean stop; returns failures."""
    wrong: list[str] = []

    def expect(ok: bool, *args: str) -> None:
        done = cli(home, env, *args)
        if (done.returncode == 0) != ok or "Traceback" in done.stderr:
            wrong.append(f"{args[:2]} exited {done.returncode}: {done.stderr.strip()[:300]}")

    daemon = Daemon(home, env)
    for name, number in pairs[CANARIES - VIA_DAEMON :]:
        expect(True, "resident", "add", "--id-number", number, "--name", name, "--phone", "13912345678")
    for _, number in pairs[::2]:
        expect(True, "reading", "add", "--resident", number, "--code", "8480-6", "--value", "186", "--unit", "mm[Hg]")
    expect(True, "resident", "search", pairs[0][0])
    expect(True, "resident", "show", pairs[1][1])
    expect(True, "resident", "list")
    expect(False, "resident", "add", "--id-number", pairs[2][1], "--name", pairs[2][0])  # already registered
    bad_check = pairs[3][1][:17] + ("0" if pairs[3][1][17] != "0" else "1")
    expect(False, "reading", "add", "--resident", bad_check, "--code", "8480-6", "--value", "1", "--unit", "mm[Hg]")
    expect(False, "resident", "show", pairs[4][1][:6] + "19000101" + pairs[4][1][14:])  # implausible birth date
    wrong_env = {**env, "CLINIC_AGENT_PASSPHRASE": "not the passphrase at all"}
    if cli(home, wrong_env, "resident", "show", pairs[5][1]).returncode == 0:
        wrong.append("a wrong passphrase was accepted")
    pending = subprocess.Popen(
        [PYTHON, "-m", "clinic_agent", "--home", str(home.root), "resident", "show", pairs[6][1]],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=no_core_dumps,
    )
    time.sleep(0.3)
    daemon.kill()  # a crash while a command may be in flight
    _, said = pending.communicate(timeout=60)
    if "Traceback" in said or len(said.splitlines()) > 1:
        wrong.append(f"a command whose daemon died printed more than one line: {said[-1000:]}")
    after_crash()
    daemon = Daemon(home, env)  # replaces the stale socket
    for _, number in pairs[1::2]:
        expect(True, "reading", "add", "--resident", number, "--code", "8867-4", "--value", "72", "--unit", "/min")
    expect(True, "audit", "verify")
    if daemon.stop() != 0:
        wrong.append(f"the daemon did not stop cleanly: {(home.root / 'logs' / 'daemon.log').read_text()[-2000:]}")
    return wrong


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_canary_names_and_id_numbers_never_reach_the_disk_in_clear(tmp_path: Path, seed: int, figures: Figures) -> None:
    rng = random.Random(seed)
    pairs = canaries(rng)
    home = make_home(tmp_path / "home")
    with home.config_path.open("a", encoding="utf-8") as config:
        config.write('\n[log]\nlevel = "debug"\n')
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = child_env({"TMPDIR": str(temp), "CLINIC_AGENT_PASSPHRASE": PASSPHRASE})
    wanted = needles(pairs)

    scans = [Scan(tmp_path, wanted)]  # before anything ran: the control of the scan's own inputs
    ledger = drive_worker(home, pairs, rng, env)
    scans.append(Scan(tmp_path, wanted))  # the -wal and -shm of a killed worker included
    wrong = drive_daemon(home, pairs, env, lambda: scans.append(Scan(tmp_path, wanted)))
    assert not wrong, wrong
    scans.append(Scan(tmp_path, wanted))  # after a clean stop

    check = check_store(home, ledger)
    assert not check.lost, check.lost
    assert not check.problems, check.problems
    store, keyfile = open_locked(home)
    try:
        store.unlock(open_vault(home, keyfile).keyring, actor="leak-test")
        stored = {(r.name, r.id_number) for r in store.residents.changed_since(0).residents}
    finally:
        store.close()
    hits = [hit for scan in scans for hit in scan.hits]
    scanned = sorted({name for scan in scans for name in scan.files})
    figures.report(
        f"canaries={CANARIES} names+ID numbers, needles={len(wanted)}, worker_kills={WORKER_CRASHES}, "
        f"daemon_kills=1, acked_readings={len(ledger.readings)}, scans={len(scans)}, "
        f"bytes_scanned={sum(scan.bytes for scan in scans)}, files={scanned}, hits={len(hits)} "
        f"time={figures.elapsed():.1f}s"
    )
    assert set(pairs) <= stored, "not every canary went through the store: the search below would prove nothing"
    expected = {"clinic.db", "clinic.db-wal", "clinic.db-shm", "keys.json", "machine.key", "logs/daemon.log"}
    assert {f"home/{name}" for name in expected} <= set(scanned), f"a file of the store was not searched: {scanned}"
    assert not hits, hits


def test_positive_control_the_canary_search_finds_clear_text(tmp_path: Path) -> None:
    """The search must see a canary left in clear in a file or in a plain SQLite database of either encoding."""
    (name, number), *_ = canaries(random.Random(1))
    (tmp_path / "log.txt").write_bytes(b"\x00junk " + name.encode("gb18030") + b" junk")
    for encoding in ("UTF-8", "UTF-16le"):
        conn = sqlite3.connect(tmp_path / f"plain-{encoding}.db")
        conn.execute(f"PRAGMA encoding = '{encoding}'")
        conn.execute("CREATE TABLE residents(name TEXT, id_number TEXT)")
        conn.execute("INSERT INTO residents VALUES (?, ?)", (name, number))
        conn.commit()
        conn.close()
    hits = Scan(tmp_path, needles([(name, number)])).hits
    assert f"log.txt: name {name} (gb18030)" in hits
    for encoding, codec in (("UTF-8", "utf-8"), ("UTF-16le", "utf-16-le")):
        assert f"plain-{encoding}.db: name {name} ({codec})" in hits
        assert f"plain-{encoding}.db: ID number {number} ({codec})" in hits
