"""Soak 1: kill -9 of the real daemon at random points after it is ready, during ingest, sync and edits.

The daemon (`clinic-agent run`, machine key) has an HL7-over-TCP listener and is enrolled with a
real FHIR server (SEKMET). While it lives, the kill -9 reliability test's health machine streams
ORU^R01 frames at it (re-sending what was cut, as a machine does) and a doctor works through the
local API (new residents, searches, files, edits); the daemon's sync loop pushes the residents and
edits. It is killed uniform(0, 4) s after it said ready, and started again, ``size`` times.

Then the daemon lives once more while the machine settles its last frame, is stopped, and the clinic
syncs in this process until nothing is pending. The checks: every ACKed frame stored exactly once
with its values (tests/reliability/test_daemon_kill9.py), every acknowledged resident and edit kept
(tests/reliability/harness.py), integrity_check and the audit chain, and on the platform every
resident of the store exactly once. Without SEKMET (``--no-platform`` or not installable) the same
runs without sync.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import threading
import time
from pathlib import Path

from clinic_agent.runtime.home import resolve
from tests.reliability.harness import Ledger, check_store
from tests.reliability.test_daemon_kill9 import Machine, compare, read_store, start_daemon
from tests.soak.common import Say, Tally, describe
from tests.soak.daemon import Doctor, daemon_home, socket_of
from tests.soak.platform import drain, enrol, ours_on_platform, platform, sync_config

DEFAULT_SIZE = 1000  # kills (issue 13)
KILL_AFTER_S = (0.0, 4.0)  # after "ready"; a doctor's sign-in (Argon2id) takes 0.1-2 s of it on a busy PC


def run(
    seed: int,
    size: int = DEFAULT_SIZE,
    *,
    workdir: Path,
    plant: str | None = None,
    say: Say = print,
    with_platform: bool = True,
) -> Tally:
    """Kill the daemon ``size`` times; ``plant="drop"`` deletes one stored reading before the check."""
    tally = Tally("kill9", seed, size, options="" if with_platform else " --no-platform")
    if not with_platform:
        _soak(tally, workdir, None, plant, say)
        return tally
    with platform(workdir / "platform") as base_url:
        _soak(tally, workdir, base_url, plant, say)
    return tally


def _soak(tally: Tally, workdir: Path, base_url: str | None, plant: str | None, say: Say) -> None:
    rng = random.Random(tally.seed)
    root = workdir / "home"
    port = daemon_home(root, sync_config() if base_url else "")
    if base_url:
        enrol(root, base_url)
    logs = workdir / "logs"
    logs.mkdir(exist_ok=True)
    machine = Machine(port, random.Random(rng.randrange(1 << 32)))
    doctor = Doctor(socket_of(root), random.Random(rng.randrange(1 << 32)))
    stop_machine, stop_doctor = threading.Event(), threading.Event()
    sender = threading.Thread(target=machine.run, args=(stop_machine,), name="health-machine", daemon=True)
    worker = threading.Thread(target=doctor.work, args=(stop_doctor, (0.0, 0.05)), name="doctor", daemon=True)
    sender.start()
    worker.start()
    daemon = None
    try:
        for kill in range(int(tally.size)):
            log = logs / f"life-{kill:05d}.log"
            try:
                daemon = start_daemon(root, log)
            except AssertionError as exc:
                tally.crashes += 1
                tally.problem(f"life {kill}: {str(exc)[-1500:]}")
                break
            errors_before = len(doctor.errors) + len(machine.wrong)
            time.sleep(rng.uniform(*KILL_AFTER_S))
            if daemon.poll() is not None:
                tally.crashes += 1
                tally.problem(f"life {kill}: the daemon died by itself: {log.read_text()[-1500:]}")
                break
            os.kill(daemon.pid, signal.SIGKILL)
            daemon.wait(30)
            tally.runs += 1
            if len(doctor.errors) + len(machine.wrong) == errors_before:
                log.unlink()  # a life that went as planned; one with an error answered is kept
            if (kill + 1) % 100 == 0:
                say(f"kill9: {kill + 1} kills, {len(machine.acked)} frames ACKed, {doctor.calls} API calls")
        daemon = None
        stop_doctor.set()
        worker.join(60)
        try:
            daemon = start_daemon(root, logs / "last.log")  # the machine settles the frame in hand
        except AssertionError as exc:
            tally.crashes += 1
            tally.problem(f"the last life: {str(exc)[-1500:]}")
        stop_machine.set()
        sender.join(120 if daemon is not None else 1)
        if daemon is not None:
            daemon.terminate()
        if daemon is not None and daemon.wait(60) != 0:
            tally.crashes += 1
            tally.problem(
                f"the last life exited {daemon.returncode} on SIGTERM: {(logs / 'last.log').read_text()[-1500:]}"
            )
    finally:
        stop_machine.set()
        stop_doctor.set()
        if daemon is not None and daemon.poll() is None:
            daemon.kill()
            daemon.wait()
    pending = drain(root) if base_url else 0
    _check(tally, root, machine, doctor, base_url, plant, pending)
    tally.figures.update(
        platform="sekmet" if base_url else "none",
        frames_sent=len(machine.sent),
        acked=len(machine.acked),
        resent=machine.resent,
        abandoned=len(machine.abandoned),
        cut_in_flight=machine.answers["cut"],
        api_calls=doctor.calls,
        api_cut=doctor.cut,
        residents=len(doctor.ledger.residents),
        edits=doctor.ledger.edits,
    )
    if tally.problems:
        say(f"kill9 problems {describe(tally.problems)}")


def _check(
    tally: Tally, root: Path, machine: Machine, doctor: Doctor, base_url: str | None, plant: str | None, pending: int
) -> None:
    home = resolve(root)
    if plant == "drop" and machine.acked:
        before = read_store(home, machine, consistency=False)
        with sqlite3.connect(home.db_path) as conn:
            conn.execute("DELETE FROM readings WHERE id = ?", (before.by_control[sorted(machine.acked)[0]][0],))
    stored = read_store(home, machine, consistency=False)
    verdict = compare(machine.sent, machine.acked, stored.by_control)
    kept_sending = verdict.unacked_stored - machine.abandoned
    ledger = Ledger(
        readings={rid: None for ids in stored.by_control.values() for rid in ids},
        residents=set(doctor.ledger.residents),
        versions=dict(doctor.ledger.versions),
    )
    check = check_store(home, ledger)
    # A resident the platform has confirmed leaves the outbox: with sync, "no outbox row" is no fault.
    problems = [p for p in check.problems if not (base_url and p.endswith("has no outbox row"))]
    problems += stored.problems + machine.wrong
    tally.lost += len(verdict.lost) + len(check.lost)
    tally.duplicated += len(verdict.duplicated)
    tally.corrupt += len(verdict.foreign) + len(kept_sending) + len(problems) + stored.quarantined
    tally.crashes += len(doctor.errors)
    texts = [
        *(f"ACKed, not stored: {c}" for c in verdict.lost),
        *(f"lost: {item}" for item in check.lost),
        *(f"stored {n} times: {c}" for c, n in verdict.duplicated.items()),
        *(f"stored, never sent: {c}" for c in verdict.foreign),
        *(f"stored without an ACK though the machine kept sending it: {c}" for c in kept_sending),
        *problems,
        *(f"the doctor was answered with an error: {e}" for e in doctor.errors),
        *([f"logs of the lives with an error answered are kept in {root.parent / 'logs'}"] if doctor.errors else []),
    ]
    if base_url:
        with sqlite3.connect(f"file:{home.db_path}?mode=ro", uri=True) as conn:
            local = {row[0] for row in conn.execute("SELECT id FROM residents")}
        present = ours_on_platform(base_url, "Patient")
        missing = local - set(present)
        twice = {r: n for r, n in present.items() if n > 1}
        tally.lost += len(missing)
        tally.duplicated += len(twice)
        tally.corrupt += len(set(present) - local)
        texts += [f"resident {r} is not on the platform" for r in sorted(missing)]
        texts += [f"resident {r} is on the platform {n} times" for r, n in twice.items()]
        texts += [f"Patient for {r} on the platform, not in the store" for r in sorted(set(present) - local)]
        if pending:
            texts.append(f"{pending} outbox entries still pending after the drain")
            tally.lost += pending
        tally.figures["on_platform"] = sum(present.values())
    for text in texts:
        tally.problem(text)
