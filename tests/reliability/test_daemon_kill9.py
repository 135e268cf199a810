"""R1 against the real daemon: kill -9 `clinic-agent run` while a health machine streams HL7 at it.

A throwaway home is made with ``clinic-agent init --machine-key`` (so the daemon unlocks by itself)
and an HL7-over-TCP ``[[devices]]`` listener. A sender thread in the test plays the health machine:
it keeps one MLLP connection open and sends ORU^R01 messages one after the other, each distinct
(its own MSH-10 control id and its own values), and notes every control id answered ``AA``. When
a connection breaks without an answer it sends the same message again (as a machine does after a
power cut), or now and then gives up on it. Meanwhile the test starts the daemon, waits until it
has logged ``ready``, SIGKILLs it a random moment later, and starts it again, ``KILLS`` times.

At the end the store is opened through the project's own API (machine key) and every stored
reading is traced back to the frame it came from (the archived raw bytes name the control id).
The set check: every ACKed frame is stored exactly once (0 lost, 0 duplicated), nothing is stored
that was never sent, and each reading holds the values its frame carried. A frame stored without
its ACK is allowed only if the machine gave up on it after a cut (the one in flight at the kill).
The check is run once more on copies of the store with a reading deleted and one planted twice:
it must name both.

CLINIC_AGENT_DAEMON_KILLS sets the number of kills (100 unless set; CI and scripts/test use 100);
RELIABILITY_SEED replays a run. Measured here (2 cores): 100 kills take about 2.5 minutes.
"""

from __future__ import annotations

import dataclasses
import os
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Collection
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from clinic_agent.core.model import new_id
from clinic_agent.runtime.home import Home, open_locked, open_vault, resolve
from drivers.hl7.ack import parse_ack
from drivers.hl7.compose import blood_pressure, build_oru_r01
from drivers.hl7.mllp import MllpDecoder, frame
from tests.reliability.harness import Figures, Ledger, describe, inspect_store, no_core_dumps
from tests.support import FAST_CONFIG, PASSPHRASE

KILLS = int(os.environ.get("CLINIC_AGENT_DAEMON_KILLS") or 100)
KILL_AFTER_S = (0.0, 0.5)  # after the daemon said "ready"
READY_TIMEOUT_S = 60.0
ACK_TIMEOUT_S = 30.0  # a killed daemon's connections close at once; this only guards against a hang
RESEND = 0.8  # after a cut, the machine sends the same message again; otherwise it gives up on it
CONTROL_PREFIX = "K9-"
SYSTOLIC_DIASTOLIC = ("8480-6", "8462-4")


# -- the health machine ------------------------------------------------------------------------------------


def values_of(number: int) -> tuple[str, str]:
    """Systolic and diastolic of frame ``number``: plausible, and different for neighbouring frames."""
    return str(100 + number % 60), str(60 + (number // 60) % 30)


def taken_at(number: int, base: datetime) -> datetime:
    """When frame ``number`` says it was measured: one second after the frame before."""
    return base + timedelta(seconds=number)


def message_of(number: int, base: datetime) -> tuple[str, bytes]:
    """The control id and the ORU^R01 of frame ``number`` (unassigned: it names no resident)."""
    control = f"{CONTROL_PREFIX}{number:06d}"
    at = taken_at(number, base)
    systolic, diastolic = values_of(number)
    observations = blood_pressure(systolic, diastolic, None, None, at=at)
    return control, build_oru_r01(control_id=control, timestamp=at, observations=observations)


@dataclasses.dataclass
class Machine:
    """The sender: what it sent, what was ACKed, what it heard otherwise."""

    port: int
    rng: random.Random
    # Frame n says it was measured n seconds after ``base``: 30 days back leaves room for 2.6 million
    # frames before a stamp reaches the future, which the daemon rightly replaces by the time received
    # (a device clock ahead is wrong) and the check would count as not what the frame carried.
    base: datetime = dataclasses.field(
        default_factory=lambda: datetime.now(UTC).replace(microsecond=0) - timedelta(days=30)
    )
    sent: dict[str, int] = dataclasses.field(default_factory=dict)  # control id -> frame number
    acked: set[str] = dataclasses.field(default_factory=set)
    abandoned: set[str] = dataclasses.field(default_factory=set)
    answers: Counter[str] = dataclasses.field(default_factory=Counter)  # AA, AE, AR, cut, silence
    wrong: list[str] = dataclasses.field(default_factory=list)
    transmissions: int = 0
    resent: int = 0

    def run(self, stop: threading.Event) -> None:
        """Send until ``stop`` is set, then settle the message in hand (the daemon is up by then)."""
        conn: socket.socket | None = None
        decoder = MllpDecoder()
        pending: tuple[str, bytes] | None = None
        number = 0
        try:
            while True:
                if pending is None:
                    if stop.is_set():
                        return
                    number += 1
                    pending = message_of(number, self.base)
                    self.sent[pending[0]] = number
                if conn is None:
                    try:
                        conn = socket.create_connection(("127.0.0.1", self.port), timeout=1)
                    except OSError:
                        time.sleep(0.01)  # the daemon is down or not listening yet
                        continue
                    conn.settimeout(ACK_TIMEOUT_S)
                    decoder = MllpDecoder()
                control, message = pending
                code = self._exchange(conn, decoder, control, message)
                if code == "AA":
                    self.acked.add(control)
                    pending = None
                    continue
                conn.close()
                conn = None
                if code == "AE":
                    self.wrong.append(f"{control} was answered AE (kept for review)")
                    pending = None
                elif self.rng.random() < RESEND:
                    self.resent += 1
                else:
                    self.abandoned.add(control)
                    pending = None
        finally:
            if conn is not None:
                conn.close()

    def _exchange(self, conn: socket.socket, decoder: MllpDecoder, control: str, message: bytes) -> str:
        """Send one framed message and wait for its ACK: the ACK code, or ``cut`` / ``silence``."""
        self.transmissions += 1
        try:
            conn.sendall(frame(message))
            while True:
                data = conn.recv(65536)
                if not data:
                    code = "cut"
                    break
                acks = decoder.feed(data)
                if acks:
                    ack = parse_ack(acks[0])
                    if ack.acknowledged_id != control:
                        self.wrong.append(f"the ACK for {control} names {ack.acknowledged_id}")
                    code = ack.code
                    break
        except TimeoutError:
            code = "silence"
        except OSError:
            code = "cut"
        self.answers[code] += 1
        return code


# -- the daemon --------------------------------------------------------------------------------------------


def command_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of a `clinic-agent` child on ``home`` (none of the caller's CLINIC_AGENT_*)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLINIC_AGENT")}
    env.pop("LD_PRELOAD", None)
    env.update(CLINIC_AGENT_HOME=str(home), PYTHONUNBUFFERED="1", **extra)
    return env


def clinic_agent(home: Path, *args: str) -> None:
    """Run one `clinic-agent` command; it must succeed."""
    done = subprocess.run(
        [sys.executable, "-m", "clinic_agent", *args],
        capture_output=True,
        text=True,
        env=command_env(home, CLINIC_AGENT_PASSPHRASE=PASSPHRASE),
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"clinic-agent {' '.join(args)}: {done.stderr}"


def start_daemon(home: Path, log: Path) -> subprocess.Popen[bytes]:
    """Start `clinic-agent run` (no passphrase: the machine key unlocks it) and wait until it says ready."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "clinic_agent", "run"],
            env=command_env(home),
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=no_core_dumps,
        )
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace")
        if "clinic_agent.runtime.daemon: ready" in text:
            assert "unlocked with the machine key" in text, text
            return process
        if process.poll() is not None:
            raise AssertionError(f"the daemon exited before it was ready: {text[-3000:]}")
        time.sleep(0.02)
    process.kill()
    process.wait()
    raise AssertionError(f"the daemon was not ready within {READY_TIMEOUT_S:.0f} s: {log.read_text()[-3000:]}")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# -- what the store holds, and the set check ---------------------------------------------------------------


@dataclasses.dataclass
class Stored:
    """Every stored reading, by the control id of the frame it came from."""

    by_control: dict[str, list[str]]  # control id -> reading ids
    problems: list[str]
    quarantined: int
    frames: int
    resent_after_commit: int  # frames stored from one transmission and sent again (the re-send was a duplicate)


def read_store(home: Home, machine: Machine, *, consistency: bool = True) -> Stored:
    """Open the store with the machine key, as the daemon does, and trace each reading to its frame."""
    store, keyfile = open_locked(home)
    try:
        store.unlock(open_vault(home, keyfile).keyring, actor="kill9-check")
        readings, bad = store.readings.unassigned(limit=10_000_000)
        problems = [f"a reading does not decrypt: {exc}" for exc in bad]
        with store.core.read() as conn:
            rows = int(conn.execute("SELECT count(*) FROM readings").fetchone()[0])
            frame_ids = [row[0] for row in conn.execute("SELECT id FROM frames ORDER BY received_at")]
        last_archived = {control_of(store.frames.get(frame_id)): frame_id for frame_id in frame_ids}
        if rows != len(readings) + len(bad):
            problems.append(f"{rows} reading rows, but {len(readings) + len(bad)} unassigned")
        by_control: dict[str, list[str]] = {}
        resent_after_commit = 0
        for reading in readings:
            if reading.frame_id is None:
                problems.append(f"reading {reading.id} names no frame")
                continue
            control = control_of(store.frames.get(reading.frame_id))
            by_control.setdefault(control, []).append(reading.id)
            resent_after_commit += reading.frame_id != last_archived.get(control)
            number = machine.sent.get(control)
            if number is not None:
                got = ({q.code: q.value for q in reading.components}, reading.taken_at)
                carried = (
                    dict(zip(SYSTOLIC_DIASTOLIC, values_of(number), strict=True)),
                    taken_at(number, machine.base),
                )
                if got != carried:
                    problems.append(f"reading {reading.id} of {control} holds {got}, not what the frame carried")
        if consistency:  # integrity_check, the audit chain, the outbox, one reading.create entry per reading
            ledger = Ledger(readings={rid: None for ids in by_control.values() for rid in ids})
            problems += inspect_store(store, ledger).problems
        return Stored(by_control, problems, store.counts().quarantined, len(frame_ids), resent_after_commit)
    finally:
        store.close()


def control_of(raw: bytes) -> str:
    """MSH-10 of an archived HL7 frame."""
    return raw.split(b"\r", 1)[0].split(b"|")[9].decode()


@dataclasses.dataclass
class Verdict:
    """The set check of ACKed against stored frames."""

    lost: list[str]  # ACKed, not stored
    duplicated: dict[str, int]  # stored more than once
    foreign: list[str]  # stored, never sent
    unacked_stored: set[str]  # stored without an ACK (in flight at a kill)

    @property
    def ok(self) -> bool:
        return not (self.lost or self.duplicated or self.foreign)


def compare(sent: Collection[str], acked: Collection[str], stored: dict[str, list[str]]) -> Verdict:
    """Jepsen's set check on control ids."""
    return Verdict(
        lost=sorted(set(acked) - set(stored)),
        duplicated={c: len(ids) for c, ids in sorted(stored.items()) if len(ids) > 1},
        foreign=sorted(set(stored) - set(sent)),
        unacked_stored=set(stored) - set(acked),
    )


def copy_home(home: Home, target: Path) -> Home:
    """A copy of a stopped daemon's home (its run/ directory, with any stale socket, left out)."""
    shutil.copytree(home.root, target, ignore=shutil.ignore_patterns("run"))
    return resolve(target)


# -- the test ----------------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.timeout(420)
def test_kill_9_of_the_daemon_loses_and_duplicates_no_acked_hl7_frame(
    tmp_path: Path, seed: int, figures: Figures
) -> None:
    rng = random.Random(seed)
    root = tmp_path / "home"
    root.mkdir()
    (root / "agent.toml").write_text(FAST_CONFIG, encoding="utf-8")
    clinic_agent(root, "init", "--machine-key")
    port = free_port()
    clinic_agent(
        root, "devices", "add", "machine", "--kind", "tcp", "--protocol", "hl7", "--listen", f"127.0.0.1:{port}"
    )
    logs = tmp_path / "logs"
    logs.mkdir()

    machine = Machine(port, random.Random(rng.randrange(1 << 32)))
    stop = threading.Event()
    sender = threading.Thread(target=machine.run, args=(stop,), name="health-machine", daemon=True)
    sender.start()
    acked_per_life = []
    daemon: subprocess.Popen[bytes] | None = None
    try:
        for kill in range(KILLS):
            daemon = start_daemon(root, logs / f"life-{kill:03d}.log")
            before = len(machine.acked)
            time.sleep(rng.uniform(*KILL_AFTER_S))
            assert daemon.poll() is None, (
                f"life {kill}: the daemon died by itself: {(logs / f'life-{kill:03d}.log').read_text()}"
            )
            os.kill(daemon.pid, signal.SIGKILL)
            assert daemon.wait(30) == -signal.SIGKILL
            acked_per_life.append(len(machine.acked) - before)
            assert sender.is_alive(), "the sender thread died"
        daemon = start_daemon(root, logs / "last.log")  # the machine settles the message in hand
        stop.set()
        sender.join(120)
        assert not sender.is_alive(), "the sender did not settle its last message"
        daemon.terminate()
        assert daemon.wait(30) == 0, (logs / "last.log").read_text()[-3000:]
    finally:
        stop.set()
        if daemon is not None and daemon.poll() is None:
            daemon.kill()
            daemon.wait()
        sender.join(5)

    home = resolve(root)
    stored = read_store(home, machine)
    verdict = compare(machine.sent, machine.acked, stored.by_control)
    figures.report(
        f"kills={KILLS} frames_sent={len(machine.sent)} transmissions={machine.transmissions} "
        f"resent={machine.resent} acked={len(machine.acked)} stored={sum(map(len, stored.by_control.values()))} "
        f"lost={len(verdict.lost)} duplicated={len(verdict.duplicated)} foreign={len(verdict.foreign)} "
        f"stored_without_ack={len(verdict.unacked_stored)} abandoned={len(machine.abandoned)} "
        f"answers={dict(machine.answers)} archived_frames={stored.frames} "
        f"stored_then_resent_and_recognised={stored.resent_after_commit} "
        f"lives_without_an_ack={acked_per_life.count(0)} time={figures.elapsed():.1f}s"
    )
    assert not verdict.lost, f"ACKed (AA) but not stored: {describe(verdict.lost)}"
    assert not verdict.duplicated, (
        f"stored more than once: {describe(f'{c} x{n}' for c, n in verdict.duplicated.items())}"
    )
    assert not verdict.foreign, f"stored but never sent: {describe(verdict.foreign)}"
    kept_sending = verdict.unacked_stored - machine.abandoned
    assert not kept_sending, f"stored without an ACK though the machine sent it until ACKed: {describe(kept_sending)}"
    assert not machine.wrong, describe(machine.wrong)
    assert not stored.problems, describe(stored.problems)
    assert stored.quarantined == 0
    assert machine.answers["cut"] > 0, "no kill landed while a frame was in flight: this run proves little"

    # Positive controls: the same reading of the store and the same check, on copies with a planted fault.
    some = sorted(machine.acked)
    gone = rng.choice(some)
    lost_copy = copy_home(home, tmp_path / "control-lost")
    with sqlite3.connect(lost_copy.db_path) as conn:
        assert conn.execute("DELETE FROM readings WHERE id = ?", (stored.by_control[gone][0],)).rowcount == 1
    planted = compare(machine.sent, machine.acked, read_store(lost_copy, machine, consistency=False).by_control)
    assert (planted.lost, planted.duplicated) == ([gone], {}), planted

    twice = rng.choice(some)
    double_copy = copy_home(home, tmp_path / "control-duplicate")
    store, keyfile = open_locked(double_copy)
    try:
        store.unlock(open_vault(double_copy, keyfile).keyring, actor="kill9-control")
        original = store.readings.get(stored.by_control[twice][0])
        store.readings.add(dataclasses.replace(original, id=new_id(), dedupe_key=None), actor="kill9-control")
    finally:
        store.close()
    planted = compare(machine.sent, machine.acked, read_store(double_copy, machine, consistency=False).by_control)
    assert (planted.lost, planted.duplicated) == ([], {twice: 2}), planted
    figures.report(f"positive controls: deleted {gone} -> reported lost; stored {twice} twice -> reported duplicated")
