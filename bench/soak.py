"""Long reliability soaks (issue 13): kill -9, power loss, the fault proxy, a 30-day backlog, fuzzing and a
clinic day. Run through ``bench/soak``; each soak lives in ``tests/soak/`` beside the CI versions.

    bench/soak                      every soak at its full size (hours)
    bench/soak --quick              a few minutes of each
    bench/soak --only fuzz --size 2000000 --seed 42

Each soak prints one line: runs, lost, duplicated, corrupt, crashes (and grew, for the clinic day),
its figures and the command that replays it; the exit status is 1 if any soak lost, duplicated,
corrupted, crashed, grew or could not run. A failed soak's working directory is kept and named.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.soak import backlog, clinic_day, fuzz, kill9, power, proxy
from tests.soak.common import Tally


@dataclass(frozen=True)
class Soak:
    """One soak: its full and quick sizes, what the size counts, and how to run it."""

    name: str
    full: float
    quick: float
    counts: str
    run: Callable[..., Tally]


def _kill9(args: argparse.Namespace, seed: int, size: float, workdir: Path) -> Tally:
    return kill9.run(seed, int(size), workdir=workdir, plant=args.plant, with_platform=not args.no_platform)


def _power(args: argparse.Namespace, seed: int, size: float, workdir: Path) -> Tally:
    return power.run(seed, int(size), workdir=workdir, plant=args.plant)


def _proxy(args: argparse.Namespace, seed: int, size: float, workdir: Path) -> Tally:
    readings = args.readings or (150 if args.quick else proxy.DEFAULT_READINGS)
    return proxy.run(seed, int(size), workdir=workdir, plant=args.plant, readings=readings)


def _backlog(args: argparse.Namespace, seed: int, size: float, workdir: Path) -> Tally:
    every = args.kill_every or (10.0 if args.quick else backlog.KILL_EVERY_S)
    return backlog.run(seed, int(size), workdir=workdir, plant=args.plant, kill_every=every)


def _fuzz(args: argparse.Namespace, seed: int, size: float, workdir: Path) -> Tally:
    return fuzz.run(seed, int(size), workdir=workdir, plant=args.plant, only=args.parsers)


def _clinic_day(args: argparse.Namespace, seed: int, size: float, workdir: Path) -> Tally:
    every = args.sample_every or (5.0 if args.quick else 30.0)
    return clinic_day.run(seed, size, workdir=workdir, plant=args.plant, speed=args.speed, sample_s=every)


SOAKS = (
    Soak("kill9", kill9.DEFAULT_SIZE, 20, "kills of the daemon", _kill9),
    Soak("power", power.DEFAULT_SIZE, 40, "power cuts", _power),
    Soak("proxy", proxy.DEFAULT_SIZE, 2, "seeds (x --readings each)", _proxy),
    Soak("backlog", backlog.DEFAULT_SIZE, 2000, "readings in the backlog", _backlog),
    Soak("fuzz", fuzz.DEFAULT_SIZE, 20_000, "inputs per parser", _fuzz),
    Soak("clinic-day", clinic_day.DEFAULT_SIZE, 0.5, "simulated hours", _clinic_day),
)


def parse(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    sizes = "; ".join(f"{s.name}: {s.counts}, {s.full:,.10g} ({s.quick:,.10g} with --quick)" for s in SOAKS)
    parser = argparse.ArgumentParser(prog="bench/soak", description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", help=f"comma-separated soaks among {', '.join(s.name for s in SOAKS)}")
    parser.add_argument("--seed", type=int, help="replay a run (default: a fresh seed, printed)")
    parser.add_argument("--size", type=float, help=f"the size of each soak run: {sizes}")
    parser.add_argument("--quick", action="store_true", help="a few minutes of each soak")
    parser.add_argument("--readings", type=int, help="proxy: readings per seed (1000; 150 with --quick)")
    parser.add_argument("--kill-every", type=float, help="backlog: seconds between kills (30; 10 with --quick)")
    parser.add_argument("--parsers", help="fuzz: comma-separated parsers to fuzz (default: all of them)")
    parser.add_argument("--speed", type=float, default=clinic_day.SPEED, help="clinic-day: simulated time per second")
    parser.add_argument("--sample-every", type=float, help="clinic-day: seconds between samples (30; 5 with --quick)")
    parser.add_argument("--no-platform", action="store_true", help="kill9: without the FHIR server (no sync)")
    parser.add_argument("--workdir", type=Path, help="where the soaks' homes go (default: a temporary directory)")
    parser.add_argument("--keep", action="store_true", help="keep the working directories of soaks that passed")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON to this file")
    # A fault planted on purpose (tests/soak/test_soak.py): drop, leak, escape, plain_post.
    parser.add_argument("--plant", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    known = {s.name for s in SOAKS}
    args.chosen = [s for s in SOAKS if not args.only or s.name in args.only.split(",")]
    unknown = set((args.only or "").split(",")) - known - {""}
    if unknown:
        parser.error(f"no soak named {', '.join(sorted(unknown))}; known: {', '.join(sorted(known))}")
    args.parsers = _parsers(parser, args.parsers)
    return args


def _parsers(parser: argparse.ArgumentParser, given: str | None) -> list[str] | None:
    """The parsers ``--parsers`` names, in the fuzzer's order; an unknown name is a usage error."""
    if not given:
        return None
    names = [name for name in given.split(",") if name]
    known = list(fuzz.parsers())
    unknown = sorted(set(names) - set(known))
    if unknown:
        parser.error(f"no parser named {', '.join(unknown)}; known: {', '.join(known)}")
    return [name for name in known if name in names]


def main(argv: list[str] | None = None) -> int:
    """Run the chosen soaks; 1 if any of them failed or could not run."""
    args = parse(argv)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 32)
    print(f"soak seed={seed} ({'quick' if args.quick else 'full'})", flush=True)
    lines: list[str] = []
    results: list[dict[str, Any]] = []
    failed = False
    for soak in args.chosen:
        size = args.size or (soak.quick if args.quick else soak.full)
        workdir = Path(tempfile.mkdtemp(prefix=f"soak-{soak.name}-", dir=args.workdir))
        print(f"== {soak.name}: {size:,.10g} {soak.counts} (in {workdir})", flush=True)
        began = time.monotonic()
        try:
            tally = soak.run(args, seed, size, workdir)
        except Exception as exc:  # noqa: BLE001  (a soak that cannot run fails the run, with the reason)
            line = f"{soak.name}: NOT RUN ({type(exc).__name__}: {str(exc)[:500]}) seed={seed}"
            results.append({"name": soak.name, "seed": seed, "size": size, "not_run": str(exc)})
            failed = True
        else:
            line = tally.line()
            results.append(
                {
                    "name": tally.name,
                    "seed": tally.seed,
                    "size": tally.size,
                    "failed": tally.failed,
                    **{k: getattr(tally, k) for k in ("runs", "lost", "duplicated", "corrupt", "crashes", "grew")},
                    "figures": tally.figures,
                    "problems": tally.problems,
                    "seconds": round(time.monotonic() - began, 1),
                }
            )
            failed |= tally.failed
            for problem in tally.problems[:20]:
                print(f"   {problem}", flush=True)
            if not tally.failed and not args.keep:
                shutil.rmtree(workdir, ignore_errors=True)
            elif tally.failed:
                line += f" kept: {workdir}"
        print(line, flush=True)
        lines.append(line)
    print("\n".join(["== summary", *lines]), flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
