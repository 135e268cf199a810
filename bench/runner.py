"""Runs every benchmark of bench/, each beside its baseline in the same run, and prints one table.

Each bench runs in its own process (``bench_NAME.py --rows FILE [--quick]``) and reports its figures
as rows (bench/report.py); its own text goes to a log beside the results. A bench that cannot run
here (no FHIR server, no terminal) is skipped with its one-line reason; one that fails is reported
with the last line it wrote, never a traceback. The table and the JSON hold the same rows.

Run: bench/run [--quick] [--only NAME ...] [--json PATH] [--plot DIR] [--markdown]
     bench/run --show PATH [--markdown] [--plot DIR]     (a saved run's table, nothing run)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

# name: what it measures. In this order: the cheap ones first, so a smoke run says something early.
BENCHES = {
    "decode": "the decoders against tight decoders of the same protocols",
    "startup": "clinic-agent --version and status against a bare interpreter",
    "store": "durable commits, a frame through ingest, a search keypress, unlock, against raw SQLite and the KDF",
    "memory": "the daemon's memory, and unlock time and memory against store size",
    "drivers": "HL7 frame to durable commit to ACK over TCP against a minimal listener",
    "tui": "cold start in a terminal, search as you type, opening a large file, forms and screen transitions",
    "sync": "push and pull against the real FHIR server (SEKMET) against plain httpx",
}
TIMEOUT = {"quick": 600.0, "full": 5400.0}
COLUMNS = ("metric", "baseline", "agent", "median", "spread", "ratio", "goal", "met")


def _figure(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    magnitude = abs(value)
    if magnitude >= 1000:
        text = f"{value:,.0f}"
    elif magnitude >= 100:
        text = f"{value:.0f}"
    elif magnitude >= 10:
        text = f"{value:.1f}"
    else:
        text = f"{value:.2f}"
    return f"{text} {unit}".strip()


def cells(row: dict[str, Any]) -> list[str]:
    """A row as the table's cells."""
    unit = row.get("unit", "")
    baseline = _figure(row.get("baseline"), unit)
    if row.get("baseline_label"):
        baseline = f"{baseline} ({row['baseline_label']})" if row.get("baseline") is not None else row["baseline_label"]
    low_high = row.get("spread")
    spread = f"{_figure(low_high[0])}-{_figure(low_high[1])}" if low_high else "-"
    ratio = f"{row['ratio']:.2f}x" if row.get("ratio") is not None else "-"
    met = {True: "yes", False: "NO", None: "-"}[row.get("met")]
    return [
        row["metric"],
        baseline,
        _figure(row.get("agent"), unit),
        _figure(row.get("median"), unit),
        spread,
        ratio,
        row.get("goal") or "-",
        met,
    ]


def table(rows: list[dict[str, Any]], skipped: list[dict[str, str]]) -> str:
    """The rows as a plain-text table, bench by bench, then what was skipped and why."""
    body = [cells(r) for r in rows]
    widths = [max([len(c)] + [len(line[i]) for line in body]) for i, c in enumerate(COLUMNS)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(COLUMNS, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    bench = None
    for row, line in zip(rows, body, strict=True):
        if row["bench"] != bench:
            bench = row["bench"]
            lines.append(f"[{bench}]")
        lines.append("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())
    lines.extend(f"[{s['bench']}] skipped: {s['skip']}" for s in skipped)
    return "\n".join(lines)


def markdown(rows: list[dict[str, Any]], skipped: list[dict[str, str]]) -> str:
    """The same table in Markdown (for the README)."""
    lines = ["| bench | " + " | ".join(COLUMNS) + " |", "|" + "---|" * (len(COLUMNS) + 1)]
    lines += [f"| {r['bench']} | " + " | ".join(c.replace("|", "/") for c in cells(r)) + " |" for r in rows]
    lines += [f"\n{s['bench']}: skipped, {s['skip']}" for s in skipped]
    return "\n".join(lines)


def _reason(log: str, returncode: int) -> str:
    """The last line a failed bench wrote: its SystemExit message or the exception's line."""
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    return f"failed (exit {returncode}): {lines[-1] if lines else 'no output'}"[:300]


def run_bench(name: str, *, quick: bool, logs: Path) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """Run one bench in its own process; its rows, and its skips (a failure becomes one)."""
    script = HERE / f"bench_{name}.py"
    with tempfile.TemporaryDirectory(prefix="clinic-bench-rows-") as tmp:
        rows_path = Path(tmp) / "rows.jsonl"
        command = [sys.executable, str(script), "--rows", str(rows_path)] + (["--quick"] if quick else [])
        env = {k: v for k, v in os.environ.items() if not k.startswith("CLINIC_AGENT_")}
        log_path = logs / f"{name}.log"
        with log_path.open("w", encoding="utf-8") as log:
            try:
                done = subprocess.run(
                    command,
                    cwd=ROOT,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    timeout=TIMEOUT["quick" if quick else "full"],
                    check=False,
                )
                failure = None if done.returncode == 0 else done.returncode
            except subprocess.TimeoutExpired:
                failure = -1
        records = [json.loads(line) for line in rows_path.read_text().splitlines()] if rows_path.exists() else []
    rows = [r for r in records if "skip" not in r]
    skips = [r for r in records if "skip" in r]
    if failure == -1:
        skips.append({"bench": name, "skip": f"did not finish within {TIMEOUT['quick' if quick else 'full']:.0f} s"})
    elif failure is not None:
        skips.append({"bench": name, "skip": _reason(log_path.read_text(errors="replace"), failure)})
    return rows, skips


def main(argv: list[str] | None = None) -> int:
    """Run the chosen benches, print the table, write the JSON (and the plots)."""
    parser = argparse.ArgumentParser(
        prog="bench/run",
        description=(__doc__ or "").split("\n")[0],
        epilog="benches: " + "; ".join(f"{n}: {d}" for n, d in BENCHES.items()),
    )
    parser.add_argument("--quick", action="store_true", help="short runs on small stores: a smoke check")
    parser.add_argument(
        "--only", action="append", choices=sorted(BENCHES), metavar="NAME", help="run only this bench (repeatable)"
    )
    parser.add_argument(
        "--json",
        type=Path,
        default=HERE / "results" / "latest.json",
        help="where the JSON goes (bench/results/latest.json)",
    )
    parser.add_argument("--plot", type=Path, metavar="DIR", help="also draw the curves as SVG files in DIR")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    parser.add_argument("--show", type=Path, metavar="PATH", help="print the table of a saved run's JSON, run nothing")
    args = parser.parse_args(argv)
    if args.show:
        saved = json.loads(args.show.read_text(encoding="utf-8"))
        print(f"Clinic Agent benchmarks, {saved['date']}{' (--quick)' if saved['quick'] else ''}")
        print(markdown(saved["rows"], saved["skipped"]) if args.markdown else table(saved["rows"], saved["skipped"]))
        _plot(saved["rows"], args.plot)
        return 0
    chosen = [name for name in BENCHES if not args.only or name in args.only]
    args.json.parent.mkdir(parents=True, exist_ok=True)
    logs = args.json.parent / "logs"
    logs.mkdir(exist_ok=True)
    started = datetime.now(UTC)
    rows: list[dict[str, Any]] = []
    skipped: list[dict[str, str]] = []
    failed = False
    for name in chosen:
        print(f"bench {name}: {BENCHES[name]} ...", file=sys.stderr, flush=True)
        begin = time.monotonic()
        got, skips = run_bench(name, quick=args.quick, logs=logs)
        failed = failed or any(s["skip"].startswith(("failed", "did not finish")) for s in skips)
        rows += got
        skipped += skips
        print(f"bench {name}: {len(got)} rows in {time.monotonic() - begin:.0f} s", file=sys.stderr, flush=True)
    print(f"Clinic Agent benchmarks, {started:%Y-%m-%d %H:%M} UTC{' (--quick)' if args.quick else ''}")
    print(markdown(rows, skipped) if args.markdown else table(rows, skipped))
    result = {
        "date": started.isoformat(timespec="seconds"),
        "quick": args.quick,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "system": platform.system()},
        "rows": rows,
        "skipped": skipped,
    }
    args.json.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"(JSON: {args.json}; each bench's own output: {logs})")
    _plot(rows, args.plot)
    return 1 if failed else 0


def _plot(rows: list[dict[str, Any]], directory: Path | None) -> None:
    if directory is not None:
        from plot import plot_rows

        for path in plot_rows(rows, directory):
            print(f"(plot: {path})")


if __name__ == "__main__":
    sys.exit(main())
