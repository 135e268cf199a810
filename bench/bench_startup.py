"""Start-up benchmark: `clinic-agent --version` and `clinic-agent status` against `python -c pass`.

Each command is a fresh process of the venv's interpreter, run in turns with `python -c pass` (the
interpreter's own start, site and the editable install included), so both see the same machine
load; the ratio is the median of the per-round ratios. The bytecode is compiled once, by the
warm-up run (as an install does), not at every start. `status` runs on a fresh store, once with no
daemon (the command opens the store itself) and once through a running daemon.

    goal: each <= 5x `python -c pass`

Run: .venv/bin/python bench/bench_startup.py [--rounds 15] [--json] [--no-daemon] [--quick] [--rows FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support import new_home

sys.path.insert(0, str(ROOT / "bench"))
from report import Report, arguments

GOAL = 5.0
PYTHON = Path(sys.executable)
CLI = PYTHON.parent / "clinic-agent"


def _elapsed(command: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, env=env, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    took = time.perf_counter() - start
    if done.returncode != 0:
        said = done.stderr.decode(errors="replace").strip().splitlines()
        raise SystemExit(f"{' '.join(command[-1:])} failed ({done.returncode}): {said[-1] if said else 'no message'}")
    return took


def _measure(commands: dict[str, list[str]], env: dict[str, str], rounds: int) -> dict[str, dict[str, Any]]:
    baseline = [str(PYTHON), "-c", "pass"]
    for command in commands.values():  # warm the page cache and the .pyc files
        _elapsed(command, env)
    times: dict[str, list[float]] = {name: [] for name in commands}
    ratios: dict[str, list[float]] = {name: [] for name in commands}
    passes: list[float] = []
    for _ in range(rounds):
        for name, command in commands.items():
            base = _elapsed(baseline, env)
            took = _elapsed(command, env)
            passes.append(base)
            times[name].append(took)
            ratios[name].append(took / base)
    results = {}
    for name in commands:
        ratio = statistics.median(ratios[name])
        results[name] = {
            "ms": statistics.median(times[name]) * 1000,
            "ms_min": min(times[name]) * 1000,
            "ms_max": max(times[name]) * 1000,
            "python_pass_ms": statistics.median(passes) * 1000,
            "ratio": ratio,
            "ratio_min": min(ratios[name]),
            "ratio_max": max(ratios[name]),
            "goal": f"<= {GOAL:g}x",
            "met": ratio <= GOAL,
        }
    return results


def _wait_for_daemon(home: Path, env: dict[str, str], process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("the daemon stopped before it was ready")
        done = subprocess.run(
            [str(CLI), "--home", str(home), "status", "--json"], env=env, capture_output=True, check=False
        )
        if done.returncode == 0 and json.loads(done.stdout).get("daemon", {}).get("running"):
            return
        time.sleep(0.2)
    raise SystemExit("the daemon was not ready within 60 s")


def bench(rounds: int, daemon: bool) -> dict[str, dict[str, Any]]:
    """Median times and ratios to `python -c pass` of each command."""
    with tempfile.TemporaryDirectory(prefix="clinic-bench-") as tmp:
        # As installed (the package's .pyc files are compiled at install): the warm-up run writes the
        # bytecode, here rather than in the source tree, even where PYTHONDONTWRITEBYTECODE is set;
        # `python -c pass` runs with the same environment.
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("CLINIC_AGENT_") and k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")
        }
        env["PYTHONPYCACHEPREFIX"] = str(Path(tmp) / "pycache")
        home = Path(tmp) / "home"
        new_home(home, machine_key=True)
        status = [str(CLI), "--home", str(home), "status"]
        results = _measure({"--version": [str(CLI), "--version"], "status (no daemon)": status}, env, rounds)
        if daemon:
            run = subprocess.Popen(
                [str(CLI), "--home", str(home), "run"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            try:
                _wait_for_daemon(home, env, run)
                results.update(_measure({"status (daemon)": status}, env, rounds))
            finally:
                run.terminate()
                run.wait(timeout=30)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--no-daemon", action="store_true", help="skip status through a running daemon")
    arguments(parser)
    args = parser.parse_args()
    results = bench(3 if args.quick else args.rounds, daemon=not args.no_daemon)
    out = Report("startup", args.rows)
    for name, r in results.items():
        out.row(
            f"clinic-agent {name}",
            unit="ms",
            baseline=r["python_pass_ms"],
            baseline_label="python -c pass",
            agent=r["ms"],
            median=r["ms"],
            spread=(r["ms_min"], r["ms_max"]),
            ratio=r["ratio"],
            goal=r["goal"],
            met=r["met"],
        )
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print("Start-up benchmark (each command beside `python -c pass`, same run)")
    print(f"  {'command':20s} {'ms':>7s} {'pass ms':>8s} {'ratio':>6s} {'[min-max]':>13s}  goal")
    for name, r in results.items():
        print(
            f"  {name:20s} {r['ms']:7.0f} {r['python_pass_ms']:8.0f} {r['ratio']:6.1f}"
            f" [{r['ratio_min']:.1f}-{r['ratio_max']:.1f}]  {r['goal']}: {'met' if r['met'] else 'NOT met'}"
        )


if __name__ == "__main__":
    main()
