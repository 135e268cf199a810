"""Soak 6: a simulated clinic day at 10x speed against one real daemon, sampled for growth.

One `clinic-agent run` (machine key, an HL7-over-TCP listener) lives through the whole day. The day
starts at 08:00; the clinic is busy 08:00-12:00 and 14:00-18:00 (a health machine sends about 120
readings an hour, the doctor does about 120 things an hour: searches, opening files, edits, new
residents), quieter at noon and in the evening, idle at night. The TUI's status refresh comes every
30 s of wall time, as the real one does. Simulated time runs ``speed`` times as fast as the clock.

Every ``sample_s`` seconds the daemon's RSS, open file descriptors and threads are read from /proc.
The tolerance: the median of the last fifth of the samples may exceed the median of the samples
between 10 % and 30 % of the run (after warm-up: caches, thread pools, the first index) by at most
16 MiB + 10 % of RSS, 4 open files and 4 threads. Beyond that the metric ``grew``.

Before the first sample the daemon is warmed up: a frame, a new resident, a search (the index is
built), a file opened, an edit. At the end the daemon is stopped with SIGTERM (it must exit 0) and
the store is checked as the kill -9 soak does: every ACKed frame stored once, every acknowledged
resident and edit kept.
"""

from __future__ import annotations

import math
import queue
import random
import signal
import sqlite3
import statistics
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from clinic_agent.runtime.home import Home, resolve
from tests.reliability.harness import Ledger, check_store
from tests.reliability.test_daemon_kill9 import Machine, compare, read_store, start_daemon
from tests.soak.common import Say, Tally, describe
from tests.soak.daemon import Doctor, Sample, daemon_home, sample, socket_of

DEFAULT_SIZE = 24  # simulated hours (issue 13: 24 h at 10x, 2.4 h of wall time)
SPEED = 10.0
DAY_STARTS_H = 8.0
STATUS_EVERY_S = 30.0
RSS_SLACK_KIB = 16 * 1024
RSS_SLACK_SHARE = 0.10
FILES_SLACK = 4
THREADS_SLACK = 4


def rates(hour: float) -> tuple[float, float]:
    """Readings and doctor's operations per simulated hour at ``hour`` of the day."""
    hour %= 24
    if 8 <= hour < 12 or 14 <= hour < 18:
        return 120.0, 120.0
    if 12 <= hour < 14 or 18 <= hour < 20:
        return 20.0, 30.0
    return 0.0, 2.0


class PacedMachine(Machine):
    """The kill -9 test's health machine, sending a new frame only when the day gives it one."""

    def __init__(self, port: int, rng: random.Random) -> None:
        super().__init__(port, rng)
        self.tokens = threading.Semaphore(0)
        self.unpaced = threading.Event()
        self._last = ""

    def _exchange(self, conn, decoder, control, message):  # type: ignore[no-untyped-def]
        if control != self._last:  # a new frame waits for its moment; a re-send goes at once
            while not self.unpaced.is_set() and not self.tokens.acquire(timeout=0.2):
                pass
            self._last = control
        return super()._exchange(conn, decoder, control, message)


@dataclass
class Growth:
    """One metric's baseline and end (medians), and whether it grew beyond its tolerance."""

    name: str
    baseline: float
    end: float
    allowed: float

    @property
    def grew(self) -> bool:
        return self.end > self.baseline + self.allowed


def growth(samples: list[Sample]) -> list[Growth]:
    """Each metric's median after warm-up against its median at the end (see the module's docstring)."""
    count = len(samples)
    early = samples[count // 10 : max(count * 3 // 10, count // 10 + 1)]
    late = samples[count - max(count // 5, 1) :]
    result = []
    for name, slack in (("rss_kib", None), ("files", FILES_SLACK), ("threads", THREADS_SLACK)):
        baseline = statistics.median(getattr(s, name) for s in early)
        end = statistics.median(getattr(s, name) for s in late)
        allowed = RSS_SLACK_KIB + RSS_SLACK_SHARE * baseline if slack is None else slack
        result.append(Growth(name, baseline, end, allowed))
    return result


def run(
    seed: int,
    size: float = DEFAULT_SIZE,
    *,
    workdir: Path,
    plant: str | None = None,
    say: Say = print,
    speed: float = SPEED,
    sample_s: float = 30.0,
) -> Tally:
    """Live through ``size`` simulated hours; ``plant`` may hold ``leak`` (connections never closed)
    and ``drop`` (a stored reading deleted before the check)."""
    tally = Tally("clinic-day", seed, size, options=f" --speed {speed:g} --sample-every {sample_s:g}")
    rng = random.Random(seed)
    root = workdir / "home"
    port = daemon_home(root)
    machine = PacedMachine(port, random.Random(rng.randrange(1 << 32)))
    doctor = Doctor(socket_of(root), random.Random(rng.randrange(1 << 32)), leak="leak" in (plant or ""))
    jobs: queue.Queue[str | None] = queue.Queue()
    stop = threading.Event()

    def doctor_works() -> None:
        while (kind := jobs.get()) is not None:
            doctor.act(None if kind == "any" else kind)
        doctor.close()

    log = workdir / "daemon.log"
    daemon = start_daemon(root, log)
    sender = threading.Thread(target=machine.run, args=(stop,), name="health-machine", daemon=True)
    worker = threading.Thread(target=doctor_works, name="doctor", daemon=True)
    sender.start()
    # Warm-up before the first sample: the first frame, the first search (the index), a file, an edit.
    machine.tokens.release()
    for kind in ("add", "search", "file", "edit", "status"):
        doctor.act(kind)
    deadline = time.monotonic() + 60
    while not machine.acked and time.monotonic() < deadline:
        time.sleep(0.05)
    worker.start()
    samples: list[Sample] = []
    wall = size * 3600 / speed
    began = time.monotonic()
    next_sample = next_status = began
    step = 0.1
    last = began
    try:
        while (now := time.monotonic()) - began < wall:
            hour = DAY_STARTS_H + (now - began) * speed / 3600
            readings_h, operations_h = rates(hour)
            elapsed, last = now - last, now  # a slow loop on a busy PC still gives the day its events
            for _ in range(_poisson(rng, readings_h * speed * elapsed / 3600)):
                machine.tokens.release()
            for _ in range(_poisson(rng, operations_h * speed * elapsed / 3600)):
                jobs.put("any")
            if now >= next_status:
                jobs.put("status")
                next_status += STATUS_EVERY_S
            if now >= next_sample:
                taken = sample(daemon.pid)
                if taken is None or daemon.poll() is not None:
                    tally.crashes += 1
                    tally.problem(f"the daemon died by itself at simulated {hour:.2f} h: {log.read_text()[-2000:]}")
                    break
                samples.append(taken)
                next_sample += sample_s
            time.sleep(step)
    finally:
        stop.set()
        machine.unpaced.set()
        jobs.put(None)
        sender.join(120)
        worker.join(120)
        if daemon.poll() is None:
            daemon.send_signal(signal.SIGTERM)
            try:
                status = daemon.wait(60)
            except subprocess.TimeoutExpired:
                daemon.kill()
                status = daemon.wait()
            if status != 0:
                tally.crashes += 1
                tally.problem(f"the daemon exited {status} on SIGTERM: {log.read_text()[-2000:]}")
    tally.runs = 1
    _check(tally, root, machine, doctor, plant)
    if len(samples) >= 5:
        for metric in growth(samples):
            if metric.grew:
                tally.grew += 1
                tally.problem(
                    f"{metric.name} grew from {metric.baseline:.0f} to {metric.end:.0f} (allowed +{metric.allowed:.0f})"
                )
    else:
        tally.problem(f"only {len(samples)} samples: too short a day to judge growth")
    tally.figures.update(
        simulated_h=size,
        speed=speed,
        frames=len(machine.sent),
        acked=len(machine.acked),
        operations=doctor.calls,
        residents=len(doctor.ledger.residents),
        edits=doctor.ledger.edits,
        samples=len(samples),
        rss_mib=_span(samples, "rss_kib", 1024),
        files=_span(samples, "files", 1),
        threads=_span(samples, "threads", 1),
    )
    if tally.problems:
        say(f"clinic-day problems {describe(tally.problems)}")
    return tally


def _span(samples: list[Sample], name: str, unit: int) -> str:
    """first/median/peak/last of one metric."""
    if not samples:
        return "-"
    values = [getattr(s, name) / unit for s in samples]
    return f"{values[0]:.0f}/{statistics.median(values):.0f}/{max(values):.0f}/{values[-1]:.0f}"


def _poisson(rng: random.Random, mean: float) -> int:
    """A Poisson draw (Knuth's method; the means here are small)."""
    if mean <= 0:
        return 0
    limit, count, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


def _check(tally: Tally, root: Path, machine: Machine, doctor: Doctor, plant: str | None) -> None:
    """Every ACKed frame stored once, every acknowledged resident and edit kept, the store sound."""
    home = resolve(root)
    if "drop" in (plant or "") and machine.acked:
        _drop_one(home, machine)
    stored = read_store(home, machine, consistency=False)
    verdict = compare(machine.sent, machine.acked, stored.by_control)
    ledger = Ledger(
        readings={rid: None for ids in stored.by_control.values() for rid in ids},
        residents=set(doctor.ledger.residents),
        versions=dict(doctor.ledger.versions),
    )
    check = check_store(home, ledger)
    tally.lost += len(verdict.lost) + len(check.lost)
    tally.duplicated += len(verdict.duplicated)
    tally.corrupt += len(verdict.foreign) + len(stored.problems) + len(check.problems) + stored.quarantined
    tally.crashes += len(doctor.errors)
    for text in [
        *(f"ACKed, not stored: {c}" for c in verdict.lost),
        *(f"lost: {item}" for item in check.lost),
        *(f"stored {n} times: {c}" for c, n in verdict.duplicated.items()),
        *(f"stored, never sent: {c}" for c in verdict.foreign),
        *stored.problems,
        *check.problems,
        *(f"the doctor was answered with an error: {e}" for e in doctor.errors),
    ]:
        tally.problem(text)
    if stored.quarantined:
        tally.problem(f"{stored.quarantined} frames quarantined")


def _drop_one(home: Home, machine: Machine) -> None:
    """The planted fault: one acknowledged frame's reading deleted, as a lost write would."""
    stored = read_store(home, machine, consistency=False)
    victim = stored.by_control[sorted(machine.acked)[0]][0]
    with sqlite3.connect(home.db_path) as conn:
        conn.execute("DELETE FROM readings WHERE id = ?", (victim,))
