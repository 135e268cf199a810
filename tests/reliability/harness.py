"""The reliability harness: run the worker, kill it, and check what the store kept against what it acked.

The vocabulary is Jepsen's set checker: ``acked`` is what the store returned
for, ``lost`` is acked but absent, ``unexpected`` is stored but never acked (the operation in flight when
the worker died). Every check ends with SQLite's own ``integrity_check`` and the audit chain.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from clinic_agent.core.errors import ClinicAgentError, StoreCorrupted
from clinic_agent.runtime.home import Home, open_locked, open_vault
from clinic_agent.store import Store
from tests.support import RELIABILITY_FIGURE, new_home

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
WORKER = HERE / "worker.py"
PYTHON = sys.executable
READY_TIMEOUT = 60.0


class Figures:
    """The measured figures of one test: printed at once and again in the run's summary.

    The lines also go into the test's ``user_properties``, which travel with its report from a
    pytest-xdist worker to the process that prints the summary (tests/reliability/conftest.py).
    """

    def __init__(self, name: str, properties: list[tuple[str, object]] | None = None) -> None:
        self.name = name
        self.started = time.monotonic()
        self.properties = properties if properties is not None else []

    def report(self, text: str) -> None:
        """Record one line of figures."""
        line = f"{self.name}: {text}"
        print(line)
        self.properties.append((RELIABILITY_FIGURE, line))

    def elapsed(self) -> float:
        """Seconds since the test started."""
        return time.monotonic() - self.started


def make_home(root: Path) -> Home:
    """A fresh store with the fast KDF and a machine key (so a child can unlock it unattended)."""
    return new_home(root, machine_key=True)


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a child: ours, the repository importable, plus ``extra``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    env.pop("LD_PRELOAD", None)
    env.update(extra or {})
    return env


def no_core_dumps() -> None:
    """preexec_fn of every child: a crash must not leave a core file holding decrypted data."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


@dataclass
class WorkerRun:
    """What one run of the worker said, and how it ended."""

    lines: list[str]
    returncode: int
    stderr: str
    killed: bool
    ready: bool


def run_worker(
    home: Home,
    *,
    seed: int,
    kill_after: float | None = None,
    args: Sequence[str] = (),
    env: dict[str, str] | None = None,
    prefix: Sequence[str] = (),
    stdin: str | None = None,
    timeout: float = 120.0,
) -> WorkerRun:
    """Run the worker; with ``kill_after``, SIGKILL it that many seconds after it said READY."""
    command = [*prefix, PYTHON, str(WORKER), "--home", str(home.root), "--seed", str(seed), *args]
    process = subprocess.Popen(
        command,
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=child_env(env),
        cwd=ROOT,
        preexec_fn=no_core_dumps,
    )
    lines: list[str] = []
    ready = threading.Event()
    stderr: list[bytes] = []

    def read_stdout() -> None:
        assert process.stdout is not None
        for raw in process.stdout:
            if raw.endswith(b"\n"):  # a line cut by the kill was never acknowledged
                lines.append(raw.decode().rstrip("\n"))
                if raw.startswith(b"READY"):
                    ready.set()
        ready.set()

    def read_stderr() -> None:
        assert process.stderr is not None
        stderr.append(process.stderr.read())

    readers = [threading.Thread(target=read_stdout), threading.Thread(target=read_stderr)]
    for reader in readers:
        reader.start()
    if stdin is not None:
        assert process.stdin is not None
        process.stdin.write(stdin.encode())
        process.stdin.close()
    killed = False
    try:
        if kill_after is not None:
            ready.wait(READY_TIMEOUT)
            if process.poll() is None and any(line.startswith("READY") for line in lines):
                time.sleep(kill_after)
                if process.poll() is None:
                    os.kill(process.pid, signal.SIGKILL)
                    killed = True
        process.wait(timeout)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for reader in readers:
            reader.join()
        for pipe in (process.stdout, process.stderr):
            if pipe is not None:
                pipe.close()
    return WorkerRun(
        lines=lines,
        returncode=process.returncode,
        stderr=b"".join(stderr).decode(errors="replace"),
        killed=killed,
        ready=any(line.startswith("READY") for line in lines),
    )


@dataclass
class Ledger:
    """Everything the workers acknowledged or reported, over a whole test."""

    readings: dict[str, str | None] = field(default_factory=dict)
    residents: set[str] = field(default_factory=set)
    versions: dict[str, int] = field(default_factory=dict)
    failures: Counter[str] = field(default_factory=Counter)
    failed_ids: set[str] = field(default_factory=set)
    failure_messages: Counter[str] = field(default_factory=Counter)
    failed_with: dict[str, str] = field(default_factory=dict)  # id -> what the store said about it
    foreign: list[str] = field(default_factory=list)
    edits: int = 0

    def take(self, run: WorkerRun) -> list[str]:
        """Record a run's lines; return the reading ids it acknowledged."""
        fresh = []
        for line in run.lines:
            kind, _, rest = line.partition(" ")
            words = rest.split(" ")
            if kind == "A":
                self.readings[words[0]] = None if words[1] == "-" else words[1]
                fresh.append(words[0])
            elif kind == "R":
                self.residents.add(words[0])
            elif kind == "E":
                self.versions[words[0]] = max(self.versions.get(words[0], 0), int(words[1]))
                self.edits += 1
            elif kind == "F":
                self.failures[words[0]] += 1
                self.failed_ids.add(words[1])
                self.failure_messages[f"{words[0]}: {' '.join(words[2:])}"] += 1
                self.failed_with[words[1]] = f"{words[0]}: {' '.join(words[2:])}"
            elif kind == "X":
                self.foreign.append(line)
        if run.returncode not in (0, -signal.SIGKILL) and not self.foreign:
            self.foreign.append(f"worker exited with status {run.returncode}: {run.stderr[-2000:]}")
        return fresh


@dataclass
class StoreCheck:
    """What a reopened store holds, measured against a ledger."""

    readings: int
    residents: int
    audit_entries: int
    lost: list[str]
    unexpected: set[str]
    problems: list[str]
    sealed_opened: int = 0


def check_store(home: Home, ledger: Ledger, fresh: Iterable[str] = ()) -> StoreCheck:
    """Reopen the store as the daemon would (machine key) and check every invariant of R1."""
    store, keyfile = open_locked(home)
    try:
        try:
            vault = open_vault(home, keyfile)
        except ClinicAgentError as exc:
            return StoreCheck(0, 0, 0, [], set(), [f"the key file no longer opens (bricked): {exc}"])
        report = store.unlock(vault.keyring, actor="reliability-check")
        check = inspect_store(store, ledger, fresh)
        check.sealed_opened = report.sealed_opened
        check.problems += [f"sealed reading {row} did not open at unlock" for row in report.sealed_failed]
        return check
    finally:
        store.close()


def inspect_store(store: Store, ledger: Ledger, fresh: Iterable[str] = ()) -> StoreCheck:
    """Check an open, unlocked store against a ledger without writing to it."""
    problems: list[str] = []
    integrity = store.integrity_check()
    if integrity != "ok":
        problems.append(f"integrity_check: {integrity}")
    verdict = store.audit.verify()
    if not verdict.ok:
        problems.append(f"audit chain broken at entry {verdict.first_bad_seq}: {verdict.problem}")
    with store.core.read() as conn:
        readings = dict(conn.execute("SELECT id, resident_id FROM readings").fetchall())
        residents = dict(conn.execute("SELECT id, version FROM residents").fetchall())
        entries = {row[0] for row in conn.execute("SELECT id FROM entries")}
        outbox = conn.execute("SELECT entity, entity_id FROM outbox").fetchall()
        audit = Counter(
            conn.execute(
                "SELECT action, object_id FROM audit"
                " WHERE action IN ('reading.create', 'resident.create', 'resident.update')"
            ).fetchall()
        )
        audit_entries = int(conn.execute("SELECT count(*) FROM audit").fetchone()[0])
        counted = {str(s): int(n) for s, n in conn.execute("SELECT state, count(*) FROM outbox GROUP BY state")}
    kept = store.outbox.counts()
    if kept != counted:
        problems.append(f"the outbox counts kept {kept} are not a fresh count {counted}")
    problems += _outbox_problems(outbox, readings, residents, entries)
    problems += _audit_problems(audit, readings, residents)
    lost = [f"reading {r}" for r in ledger.readings if r not in readings]
    lost += [f"resident {r}" for r in ledger.residents if r not in residents]
    lost += [
        f"edit {r} v{v} (stored v{residents.get(r)})" for r, v in ledger.versions.items() if residents.get(r, 0) < v
    ]
    problems += [
        f"reading {r} belongs to {readings[r]}, acked for {owner}"
        for r, owner in ledger.readings.items()
        if r in readings and readings[r] != owner
    ]
    problems += _decrypt_problems(store, ledger, fresh)
    unexpected = set(readings) - set(ledger.readings)
    return StoreCheck(len(readings), len(residents), audit_entries, lost, unexpected, problems)


def _outbox_problems(
    outbox: list[tuple[str, str]], readings: dict[str, str | None], residents: dict[str, int], entries: set[str]
) -> list[str]:
    tables: dict[str, object] = {"readings": readings, "residents": residents, "entries": entries}
    problems = [
        f"orphan outbox row {entity}/{entity_id}"
        for entity, entity_id in outbox
        if entity not in tables or entity_id not in tables[entity]  # type: ignore[operator]
    ]
    queued = Counter(outbox)
    problems += [
        f"assigned reading {r} has {queued[('readings', r)]} outbox rows, not 1"
        for r, owner in readings.items()
        if owner is not None and queued[("readings", r)] != 1
    ]
    problems += [
        f"unassigned reading {r} is queued for the platform"
        for r, owner in readings.items()
        if owner is None and queued[("readings", r)]
    ]
    problems += [f"resident {r} has no outbox row" for r in residents if queued[("residents", r)] != 1]
    return problems


def _audit_problems(
    audit: Counter[tuple[str, str]], readings: dict[str, str | None], residents: dict[str, int]
) -> list[str]:
    problems = [
        f"audit {action} names {object_id}, which is not stored"
        for action, object_id in audit
        if object_id not in (readings if action == "reading.create" else residents)
    ]
    problems += [
        f"reading {r} has {audit[('reading.create', r)]} reading.create audit entries, not 1"
        for r in readings
        if audit[("reading.create", r)] != 1
    ]
    problems += [
        f"resident {r} has {audit[('resident.create', r)]} resident.create entries, not 1"
        for r in residents
        if audit[("resident.create", r)] != 1
    ]
    problems += [
        f"resident {r} is at version {v} but has {audit[('resident.update', r)]} resident.update entries"
        for r, v in residents.items()
        if audit[("resident.update", r)] != v - 1
    ]
    return problems


def _decrypt_problems(store: Store, ledger: Ledger, fresh: Iterable[str]) -> list[str]:
    problems = []
    for reading_id in fresh:
        try:
            reading = store.readings.get(reading_id)
        except StoreCorrupted as exc:
            problems.append(f"acked reading {reading_id} does not decrypt: {exc}")
            continue
        except ClinicAgentError:
            continue  # absent: counted as lost
        if reading.resident_id != ledger.readings[reading_id] or not reading.components:
            problems.append(f"acked reading {reading_id} decrypts to something else")
    return problems


def decrypt_all(home: Home) -> tuple[int, list[str]]:
    """Decrypt every reading and resident; return how many readings and the rows that failed."""
    store, keyfile = open_locked(home)
    try:
        store.unlock(open_vault(home, keyfile).keyring, actor="reliability-check")
        page = store.residents.changed_since(0)
        problems = [str(p) for p in page.problems]
        count = 0
        for resident in page.residents:
            readings, bad = store.readings.for_resident(resident.id, limit=1_000_000)
            count += len(readings)
            problems += [str(p) for p in bad]
        readings, bad = store.readings.unassigned(limit=1_000_000)
        count += len(readings)
        problems += [str(p) for p in bad]
        return count, problems
    finally:
        store.close()


def describe(items: Iterable[str], limit: int = 10) -> str:
    """A short listing for an assertion message."""
    items = list(items)
    shown = "; ".join(items[:limit])
    return f"{len(items)}: {shown}" + (" ..." if len(items) > limit else "")


# -- power loss: the lost-writes shim ----------------------------------------------------------------------

SHIM_SOURCE = HERE / "lostwrites.c"


def build_shim(directory: Path, *defines: str, source: Path = SHIM_SOURCE) -> Path:
    """Compile an LD_PRELOAD shim (the lost-writes one unless ``source`` says) into ``directory`` (gcc must
    be on PATH), with ``-D`` defines."""
    library = directory / f"{source.stem}{''.join(defines)}.so"
    flags = [f"-D{name}" for name in defines]
    subprocess.run(
        ["gcc", "-O2", "-Wall", "-Werror", *flags, "-shared", "-fPIC", "-o", str(library), str(source), "-ldl"],
        check=True,
        capture_output=True,
    )
    return library


class PowerCut:
    """A directory whose un-fsynced writes are thrown away at each cut (strict directory model)."""

    def __init__(self, directory: Path, shadow: Path, library: Path) -> None:
        self.directory = directory.resolve()
        self.shadow = shadow
        self.library = library

    def env(self) -> dict[str, str]:
        """The environment that loads the shim into a child."""
        return {"LD_PRELOAD": str(self.library), "LW_DIR": str(self.directory), "LW_SHADOW": str(self.shadow)}

    def seed(self) -> None:
        """Take what is in the directory now as durable: snapshot every file and the listing."""
        if self.shadow.exists():
            for old in self.shadow.iterdir():
                old.unlink()
        self.shadow.mkdir(exist_ok=True)
        listing = []
        for path in sorted(self.directory.iterdir()):
            info = path.lstat()
            listing.append(f"{info.st_ino} {path.name}\n")
            if path.is_file() and not path.is_symlink():
                (self.shadow / f"{info.st_ino}.data").write_bytes(path.read_bytes())
        (self.shadow / "DIR").write_text("".join(listing), encoding="utf-8")

    def cut(self) -> list[str]:
        """The power goes: rebuild the directory from the last fsynced state; return the names that vanished."""
        durable = {}
        for line in (self.shadow / "DIR").read_text(encoding="utf-8").splitlines():
            inode, _, name = line.partition(" ")
            durable[name] = int(inode)
        dropped = []
        for path in list(self.directory.iterdir()):
            if path.is_dir() and not path.is_symlink():
                continue  # subdirectories are outside the model (the store keeps none)
            if path.name not in durable:
                dropped.append(path.name)
            path.unlink()
        for name, inode in durable.items():
            target = self.directory / name
            if target.is_dir():
                continue
            snapshot = self.shadow / f"{inode}.data"
            target.write_bytes(snapshot.read_bytes() if snapshot.exists() else b"")
        return dropped
