"""Memory benchmark: the daemon's memory on a full store, and unlock time and memory against store size.

    unlock + index at 1k / 10k / 50k residents (a fresh process each, the passphrase slot with the
        default Argon2id)  vs  Argon2id alone in the same process          goal: <= 1.5 s at 50,000
        (as after a restart: the index restored from its saved copy; the first unlock after the
        residents were added, which reads every one of them and saves the index, is shown apart)
    the unlocked process's RSS against store size  vs  the same for an empty store (same KDF)
    memory per 1,000 residents between the two largest sizes  vs  between the two smallest
                                                                            goal: sublinear in residents
    the daemon's RSS, ready, on 50,000 residents + 100,000 unsent readings  vs  the daemon on an empty
        store                                                               goal: <= 80 MiB (ready, and peak)

"Sublinear" is judged on the slope: each 1,000 residents more cost less memory at the large end of the
curve than at the small end (it takes three sizes or more; the first resident's cost, such as the
pinyin tables, is in every size and not in the slope). Memory is read from /proc (VmRSS, VmHWM), so
this bench needs Linux.

Run: .venv/bin/python bench/bench_memory.py [--sizes 1000,10000,50000] [--readings 100000] [--quick] [--rows FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from report import Report, arguments

from clinic_agent.core.model import Resident
from clinic_agent.runtime.agent import Agent
from clinic_agent.runtime.home import initialise, resolve
from tests.support import id_number, reading, resident

PASSPHRASE = "benchmark passphrase 1"
UNLOCK_GOAL_S, UNLOCK_GOAL_AT = 1.5, 50_000
RSS_GOAL_MIB = 80.0
CLI = Path(sys.executable).parent / "clinic-agent"

# A fresh interpreter opens the store, unlocks it with the passphrase (the index built) and says what
# that cost; then Argon2id alone with the same parameters, in the same process.
UNLOCK = """
import json, sys, time
sys.path.insert(0, {root!r})
from clinic_agent.runtime.agent import Agent
from clinic_agent.runtime.home import resolve
from clinic_agent.security import crypto

def rss(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
agent = Agent.open(resolve({home!r}))
before = rss("VmRSS")
start = time.perf_counter()
agent.unlock(actor="bench", passphrase={passphrase!r})
unlock = time.perf_counter() - start
after = rss("VmRSS")
start = time.perf_counter()
crypto.argon2id(b"x", b"0" * 16, crypto.DEFAULT_PASSPHRASE_KDF)
kdf = time.perf_counter() - start
print(json.dumps({{"unlock_s": unlock, "kdf_s": kdf, "before_mib": before, "after_mib": after,
                   "residents": len(agent.index)}}))
agent.close()
"""


def _rss(pid: int) -> dict[str, float]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0]) / 1024
    return fields


def _grow(agent: Agent, to: int, have: int, rng: random.Random, used: set[str]) -> list[Resident]:
    """Add residents until there are ``to``; ``used`` holds the ID numbers given so far (unique in a store)."""
    numbers: list[str] = []
    while len(numbers) < to - have:
        number = id_number(rng)
        if number not in used:
            used.add(number)
            numbers.append(number)
    people = [resident(rng, id_number=n) for n in numbers]
    for start in range(0, len(people), 5000):
        agent.store.residents.add_many(people[start : start + 5000], actor="bench")
    return people


def _unlock_once(home: Path) -> dict[str, Any]:
    script = UNLOCK.format(root=str(ROOT), home=str(home), passphrase=PASSPHRASE)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _daemon_rss(home: Path, env: dict[str, str], within: float = 600) -> dict[str, float]:
    """Start the daemon on ``home``, wait until it is unlocked (index built) and read its memory."""
    log = home.with_name(home.name + "-daemon.log")
    with log.open("wb") as output:
        process = subprocess.Popen([str(CLI), "--home", str(home), "run"], env=env, stdout=output, stderr=output)
    try:
        deadline = time.monotonic() + within
        while True:
            if process.poll() is not None:
                said = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
                raise SystemExit(
                    f"the daemon on {home.name} stopped ({process.returncode}) before it was ready:"
                    f" {said[-1] if said else 'no message'}"
                )
            if time.monotonic() > deadline:
                raise SystemExit(f"the daemon on {home.name} was not unlocked within {within:.0f} s")
            done = subprocess.run(
                [str(CLI), "--home", str(home), "status", "--json"], env=env, capture_output=True, check=False
            )
            if done.returncode == 0:
                status = json.loads(done.stdout)
                if status.get("daemon", {}).get("running") and status.get("locked") is False:
                    break
            time.sleep(0.5)
        time.sleep(2)  # let the start-up's work settle (the first sync poke, housekeeping)
        return _rss(process.pid)
    finally:
        process.terminate()
        process.wait(timeout=60)


def _new_home(path: Path) -> Agent:
    home = resolve(path)
    initialise(home, passphrase=PASSPHRASE, user="admin", machine_key=True)  # default Argon2id parameters
    agent = Agent.open(home)
    agent.unlock(actor="bench", passphrase=PASSPHRASE)
    return agent


def _curve_rows(out: Report, sizes: list[int], points: list[dict[str, Any]], bare: dict[str, Any]) -> None:
    """Unlock time and RSS at each size, and whether memory grows sublinearly."""
    for size, point in zip(sizes, points, strict=True):
        at_goal = size >= UNLOCK_GOAL_AT
        out.row(
            f"unlock + index, {size:,} residents (fresh process)",
            unit="s",
            baseline=point["kdf_s"],
            baseline_label="Argon2id alone",
            agent=point["unlock_s"],
            ratio=point["unlock_s"] / point["kdf_s"],
            goal=f"<= {UNLOCK_GOAL_S} s at {UNLOCK_GOAL_AT // 1000}k" if at_goal else "",
            met=point["unlock_s"] <= UNLOCK_GOAL_S if at_goal else None,
        )
        out.row(
            f"first unlock after adding {size:,} residents (no saved index yet)",
            unit="s",
            baseline=point["kdf_s"],
            baseline_label="Argon2id alone",
            agent=point["first_unlock_s"],
            ratio=point["first_unlock_s"] / point["kdf_s"],
            note="every resident read from its row and the index saved",
        )
    rss = [p["after_mib"] for p in points]
    curve = {
        "x_label": "residents",
        "y_label": "MiB over an empty store; s",
        "x": [float(s) for s in sizes],
        "RSS over empty, MiB": [r - bare["after_mib"] for r in rss],
        "unlock + index, s": [p["unlock_s"] for p in points],
        "Argon2id alone, s": [p["kdf_s"] for p in points],
    }
    for size, point in zip(sizes, points, strict=True):
        out.row(
            f"RSS unlocked, {size:,} residents (fresh process)",
            unit="MiB",
            baseline=bare["after_mib"],
            baseline_label="empty store unlocked",
            agent=point["after_mib"],
            ratio=point["after_mib"] / bare["after_mib"],
            curve=curve if size == sizes[-1] else {},
        )
    if len(sizes) >= 3:
        low = (rss[1] - rss[0]) / (sizes[1] - sizes[0]) * 1000
        high = (rss[-1] - rss[-2]) / (sizes[-1] - sizes[-2]) * 1000
        out.row(
            f"memory per 1k residents, {sizes[-2]:,}-{sizes[-1]:,}",
            unit="MiB",
            baseline=low,
            baseline_label=f"same, {sizes[0]:,}-{sizes[1]:,}",
            agent=high,
            ratio=high / low if low > 0 else None,
            goal="sublinear",
            met=high < low,
            note="the slope of RSS unlocked against residents, at the large end against the small end",
        )
    else:
        out.skip("memory against store size: sublinear is judged on three sizes or more (not in --quick)")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--sizes", default="1000,10000,50000", help="residents at each point of the curve")
    parser.add_argument("--readings", type=int, default=100_000, help="unsent readings for the daemon's RSS")
    arguments(parser)
    args = parser.parse_args()
    out = Report("memory", args.rows)
    if not Path("/proc/self/status").exists():
        out.skip("needs /proc (Linux) to read the memory of a process")
        return
    sizes = [100, 400, 1000] if args.quick else sorted(int(s) for s in args.sizes.split(","))
    readings = 2000 if args.quick else args.readings
    rng = random.Random(13)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLINIC_AGENT_")}
    points: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="clinic-bench-") as tmp:
        work = Path(tmp)
        empty = _new_home(work / "empty")
        empty.close()
        bare = _unlock_once(work / "empty")
        agent = _new_home(work / "full")
        have, used = 0, set[str]()
        for size in sizes:
            _grow(agent, size, have, rng, used)
            have = size
            # The first unlock after residents were added reads them all from their rows and saves the
            # index; the next, as after any restart, restores it (docs/architecture.md, the store).
            first = _unlock_once(work / "full")
            point = _unlock_once(work / "full")
            point["first_unlock_s"] = first["unlock_s"]
            points.append(point)
            print(
                f"{size:>8,} residents: unlock + index {point['unlock_s']:.2f} s (Argon2id alone"
                f" {point['kdf_s']:.2f} s; the first, without a saved index, {first['unlock_s']:.2f} s),"
                f" RSS {point['before_mib']:.0f} -> {point['after_mib']:.0f} MiB",
                flush=True,
            )
        someone = _grow(agent, sizes[-1] + 1, sizes[-1], rng, used)[0].id  # the readings are hers
        for start in range(0, readings, 1000):
            batch = [reading(someone, dedupe_key=f"m{i}") for i in range(start, min(readings, start + 1000))]
            agent.store.readings.add_many(batch, actor="bench")
        agent.close()
        print(f"empty store: RSS {bare['before_mib']:.0f} -> {bare['after_mib']:.0f} MiB unlocked", flush=True)
        _curve_rows(out, sizes, points, bare)
        try:
            base = _daemon_rss(work / "empty", env)
            full = _daemon_rss(work / "full", env)
        except SystemExit as exc:  # the figures so far stand; the daemon's are missing, and why
            print(exc)
            out.skip(f"daemon RSS: {exc}")
            return
    print(
        f"daemon, {sizes[-1]:,} residents + {readings:,} unsent readings: RSS {full['VmRSS']:.0f} MiB"
        f" (peak {full['VmHWM']:.0f}); on an empty store {base['VmRSS']:.0f} MiB (peak {base['VmHWM']:.0f})"
    )
    load = f"{sizes[-1] // 1000}k residents + {readings // 1000}k readings"
    out.row(
        f"daemon RSS ready, {load}",
        unit="MiB",
        baseline=base["VmRSS"],
        baseline_label="daemon, empty store",
        agent=full["VmRSS"],
        ratio=full["VmRSS"] / base["VmRSS"],
        goal=f"<= {RSS_GOAL_MIB:.0f} MiB",
        met=full["VmRSS"] <= RSS_GOAL_MIB,
    )
    out.row(
        f"daemon peak RSS to ready, {load}",
        unit="MiB",
        baseline=base["VmHWM"],
        baseline_label="daemon, empty store",
        agent=full["VmHWM"],
        ratio=full["VmHWM"] / base["VmHWM"],
        goal=f"<= {RSS_GOAL_MIB:.0f} MiB",
        met=full["VmHWM"] <= RSS_GOAL_MIB,
        note="VmHWM; after first use (a search, home's summary) is not measured here",
    )


if __name__ == "__main__":
    main()
