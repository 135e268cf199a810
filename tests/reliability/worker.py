"""A child process for the reliability tests: ingest in a loop, acknowledge only after the store returned.

Run with the project's venv python: ``python tests/reliability/worker.py --home DIR [options]``. It opens
the store unlocked with the machine key, makes sure a few residents exist, then loops: readings for a
resident, unassigned readings, and resident edits. Each line on stdout is one ``os.write`` of a short line,
so a line is either delivered whole or not at all, even when the worker is killed:

    READY <pid>                          the store is open (and unlocked); the loop starts now
    R <resident id>                      a resident was registered (add returned)
    A <reading id> <resident id or ->    a reading was stored (add returned): the acknowledgement
    E <resident id> <version>            a resident edit was stored (update returned)
    F <error class> <object id> <cause> <text>
                                         an operation failed with one of the store's own errors;
                                         <cause> names the SQLite error behind it
    X <exception class> <text>           anything else escaped (a bug); the worker exits with status 3
    DONE <operations>

With ``--locked`` the worker never unlocks: like a daemon after a reboot without a machine key, it seals
each reading to the store's public key; the readings become rows at the next unlock. With
``--ack-before-commit`` (the kill -9 test's negative control only) it acknowledges before add() returns.
With ``--unlock-on-stdin`` it only unlocks, when told, and reports ``U <sealed opened> <sealed failed>``.

With ``--fiu`` the worker, once started, enables a libfiu failure point (the same command syntax as
``fiu-run -c``) through libfiu itself; it must run under ``fiu-run -x`` so the POSIX wrappers are loaded.
Failures are enabled only around store calls: Python's own imports and the acknowledgement pipe are
not what is under test.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import dataclasses
import json
import logging
import os
import random
import resource
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from clinic_agent.core.errors import ClinicAgentError, RecordChanged  # noqa: E402
from clinic_agent.core.model import DeviceInfo, Quantity, Reading, Resident, new_id, utcnow  # noqa: E402
from clinic_agent.runtime.home import open_locked, open_vault, resolve  # noqa: E402
from clinic_agent.security.keys import Keyring  # noqa: E402
from clinic_agent.store import Store  # noqa: E402
from tests.support import resident as make_resident  # noqa: E402

NAMES = ("张秀英", "李桂兰", "王建国", "刘德明", "陈淑珍", "杨志强", "赵玉梅", "黄永福")
VILLAGES = ("坝盘村", "龙井村", "石门村", "青山村")


class Faults:
    """A libfiu failure point, switched on only while the store works."""

    def __init__(self, command: str | None) -> None:
        self.name = b""
        self._lib: ctypes.CDLL | None = None
        if not command:
            return
        verb, _, rest = command.partition(" ")
        params = dict(item.split("=", 1) for item in rest.split(",") if item)
        if verb != "enable_random" or "name" not in params:
            raise SystemExit(f"unsupported fiu command {command!r}")
        self.name = params["name"].encode()
        self.probability = float(params.get("probability", "1"))
        self.failinfo = int(params["failinfo"]) if "failinfo" in params else None
        self._lib = ctypes.CDLL("libfiu.so.0")
        self._lib.fiu_enable_random.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.c_void_p, ctypes.c_float]
        self._lib.fiu_disable.argtypes = [ctypes.c_char_p]

    @property
    def enabled(self) -> bool:
        """Whether a failure point was asked for."""
        return self._lib is not None

    def on(self) -> None:
        """Enable the failure point."""
        if self._lib is not None:
            self._lib.fiu_enable_random(self.name, 1, self.failinfo, self.probability)

    def off(self) -> None:
        """Disable the failure point."""
        if self._lib is not None:
            self._lib.fiu_disable(self.name)

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        """Faults on for the duration of one store call."""
        self.on()
        try:
            yield
        finally:
            self.off()


def say(*words: object) -> None:
    """One whole line on stdout."""
    data = (" ".join(str(w) for w in words).replace("\n", " ") + "\n").encode()
    while data:
        data = data[os.write(1, data) :]


def cause_of(exc: BaseException) -> str:
    """The SQLite error behind a store error, e.g. SQLITE_IOERR_SHORT_READ (``-`` when there is none)."""
    cause = exc.__cause__
    return str(getattr(cause, "sqlite_errorname", None) or (type(cause).__name__ if cause else "-"))


def make_reading(rng: random.Random, resident_id: str | None) -> Reading:
    """A blood-pressure reading; about one in ten is critical (systolic at or above 180)."""
    now = utcnow()
    systolic = str(rng.randint(180, 200) if rng.random() < 0.1 else rng.randint(95, 165))
    return Reading(
        id=new_id(),
        resident_id=resident_id,
        code="85354-9",
        display="Blood pressure panel",
        components=(
            Quantity(code="8480-6", value=systolic, unit="mm[Hg]", display="Systolic"),
            Quantity(code="8462-4", value=str(rng.randint(55, 105)), unit="mm[Hg]", display="Diastolic"),
        ),
        taken_at=now - timedelta(seconds=rng.randint(0, 600)),
        received_at=now,
        device=DeviceInfo(id="reliability-cuff", model="BP-1"),
        source="reliability",
    )


class Workload:
    """The loop of operations, with what it knows about the residents."""

    def __init__(
        self, store: Store, rng: random.Random, faults: Faults, edit_share: float, *, ack_before_commit: bool = False
    ) -> None:
        self.store = store
        self.ack_before_commit = ack_before_commit
        self.rng = rng
        self.faults = faults
        self.edit_share = edit_share
        self.residents: dict[str, Resident | None] = {}

    def load_residents(self) -> None:
        """The residents already stored (read before any fault is enabled); only their ids while locked."""
        if self.store.locked:
            with self.store.core.read() as conn:
                self.residents = {row[0]: None for row in conn.execute("SELECT id FROM residents WHERE deleted = 0")}
            return
        page = self.store.residents.changed_since(0)
        self.residents = {r.id: r for r in page.residents if not r.deleted}

    def register(self, person: Resident) -> None:
        """Register one resident and acknowledge it (before any fault is enabled)."""
        stored = self.store.residents.add(person, actor="worker")
        self.residents[stored.id] = stored
        say("R", stored.id)

    def step(self) -> None:
        """One operation: an edit, a reading for a resident, or an unassigned reading."""
        roll = self.rng.random()
        if roll < self.edit_share and self.residents and not self.store.locked:
            self.edit(self.rng.choice(sorted(self.residents)))
        elif roll < 0.7 and self.residents:
            self.add_reading(self.rng.choice(sorted(self.residents)))
        else:
            self.add_reading(None)

    def add_reading(self, resident_id: str | None) -> None:
        """Store one reading, then acknowledge it."""
        reading = make_reading(self.rng, resident_id)
        if self.ack_before_commit:  # the deliberately broken ordering of the negative control
            say("A", reading.id, resident_id or "-")
        try:
            with self.faults.active():
                added = self.store.readings.add(reading, actor="device:reliability-cuff")
        except ClinicAgentError as exc:
            say("F", type(exc).__name__, reading.id, cause_of(exc), exc.message)
            return
        if added.sealed != self.store.locked or added.duplicate:
            raise RuntimeError(f"add() returned {added} with the store {'locked' if self.store.locked else 'open'}")
        if not self.ack_before_commit:
            say("A", added.id, resident_id or "-")

    def edit(self, resident_id: str) -> None:
        """Change a resident's phone and village (the name stays), then acknowledge the new version."""
        try:
            with self.faults.active():
                current = self.residents[resident_id] or self.store.residents.get(resident_id)
                edited = dataclasses.replace(
                    current,
                    phone=f"139{self.rng.randint(10**7, 10**8 - 1)}",
                    village=self.rng.choice(VILLAGES),
                )
                stored = self.store.residents.update(edited, actor="worker")
        except RecordChanged:
            if not self.faults.enabled:
                raise  # without faults every edit starts from the version this worker last saved
            self.residents[resident_id] = None  # an edit reported failed did commit: read it again
            return
        except ClinicAgentError as exc:
            self.residents[resident_id] = None
            say("F", type(exc).__name__, resident_id, cause_of(exc), exc.message)
            return
        self.residents[resident_id] = stored
        say("E", stored.id, stored.version)


def ensure_residents(work: Workload, args: argparse.Namespace, rng: random.Random) -> None:
    """Register the canary residents from stdin, or random ones up to --residents."""
    if args.canaries_stdin:
        for item in json.loads(sys.stdin.read()):
            if work.store.residents.by_id_number(item["id_number"]) is None:
                work.register(make_resident(rng, id_number=item["id_number"], name=item["name"]))
        return
    while len(work.residents) < args.residents:
        work.register(make_resident(rng, name=rng.choice(NAMES), village=rng.choice(VILLAGES)))


def unlock_when_told(store: Store, keyring: Keyring) -> int:
    """Say READY, wait for a line on stdin, unlock (moving what was sealed), and report: U <opened> <failed>."""
    say("READY", os.getpid())
    sys.stdin.readline()
    try:
        report = store.unlock(keyring, actor="worker")
    except Exception as exc:  # noqa: BLE001  (reported to the parent, which fails the test)
        say("X", type(exc).__name__, str(exc)[:300])
        return 3
    finally:
        store.close()
    say("U", report.sealed_opened, len(report.sealed_failed))
    return 0


def main() -> int:
    """Open, unlock, ingest; report every outcome on stdout."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--home", required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--count", type=int, default=0, help="operations to run (0: until killed)")
    parser.add_argument("--residents", type=int, default=5)
    parser.add_argument("--edit-share", type=float, default=0.1)
    parser.add_argument("--synchronous", default="FULL", choices=["FULL", "NORMAL"])
    parser.add_argument("--fiu", help="a fiu-run -c command, e.g. 'enable_random name=posix/io/rw/*,probability=0.01'")
    parser.add_argument("--locked", action="store_true", help="stay locked: readings are sealed (HPKE) as they come")
    parser.add_argument(
        "--ack-before-commit", action="store_true", help="negative control only: acknowledge before add() returns"
    )
    parser.add_argument("--unlock-on-stdin", action="store_true", help="only unlock, when a line comes on stdin")
    parser.add_argument("--canaries-stdin", action="store_true", help="register the residents given as JSON on stdin")
    args = parser.parse_args()
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if args.fiu:
        # libfiu fails any write of the process while it is on, the log's own writes to stderr among them
        # (the store's checkpoint thread warns as it retries), and logging then prints a traceback of its
        # own. That is the injected fault hitting stderr, not an error escaping the store: drop the line.
        logging.raiseExceptions = False
    rng = random.Random(args.seed)
    home = resolve(args.home)
    store, keyfile = open_locked(home, synchronous=args.synchronous)
    if args.unlock_on_stdin:
        return unlock_when_told(store, open_vault(home, keyfile).keyring)
    if not args.locked:
        store.unlock(open_vault(home, keyfile).keyring, actor="worker")
    work = Workload(store, rng, Faults(args.fiu), args.edit_share, ack_before_commit=args.ack_before_commit)
    work.load_residents()
    say("READY", os.getpid())
    done = 0
    try:
        if not args.locked:
            ensure_residents(work, args, rng)
        while not args.count or done < args.count:
            work.step()
            done += 1
    except Exception as exc:  # noqa: BLE001  (reported to the parent, which fails the test)
        work.faults.off()
        say("X", type(exc).__name__, str(exc)[:300])
        return 3
    work.faults.off()
    store.close()
    say("DONE", done)
    return 0


if __name__ == "__main__":
    sys.exit(main())
