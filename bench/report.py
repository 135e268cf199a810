"""How every benchmark reports its figures to the runner (bench/run): one JSON line per row.

A bench still prints its own text for a person. With ``--rows FILE`` it also appends each figure as
a row to FILE, and the runner builds its table and JSON from those rows instead of reading the text.

A row compares the agent with a baseline measured in the same run:

    metric    what is measured, with its statistic ("HL7 frame -> ACK p99")
    unit      the unit of baseline, agent, median and spread ("ms", "frames/s", "MiB")
    baseline  the baseline's figure, and baseline_label what the baseline is
    agent     the agent's figure (the statistic the metric names)
    median    the agent's median: the median over rounds, or the p50 of its samples for a tail metric
    spread    [low, high] of the agent's figure over the rounds (or chunks of the run) it was measured in
    ratio     the ratio the goal is stated in (agent/baseline for a cost, baseline/agent where the goal is
              "at least n x" the baseline's speed)
    goal      the issue's goal as text; "" when the issue sets none (the row is for information)
    met       whether the goal is met; None when there is no goal or it cannot be judged in this run

A bench that cannot run here writes one ``skip`` row with the reason, and exits 0.
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Row:
    """One figure of a benchmark beside its baseline."""

    bench: str
    metric: str
    unit: str = ""
    baseline: float | None = None
    baseline_label: str = ""
    agent: float | None = None
    median: float | None = None
    spread: tuple[float, float] | None = None
    ratio: float | None = None
    goal: str = ""
    met: bool | None = None
    note: str = ""
    curve: dict[str, list[float]] = field(default_factory=dict)  # optional points for a plot


class Report:
    """Collects a bench's rows and, given a path, appends each as a JSON line the moment it is known."""

    def __init__(self, bench: str, path: Path | None) -> None:
        self.bench = bench
        self.path = path
        self.rows: list[Row] = []

    def row(self, metric: str, **fields: Any) -> Row:
        """Record one row (the fields of Row but bench and metric)."""
        row = Row(bench=self.bench, metric=metric, **fields)
        self.rows.append(row)
        self._write(asdict(row))
        return row

    def skip(self, reason: str) -> None:
        """Say in one line why this bench (or part of it) did not run here."""
        self._write({"bench": self.bench, "skip": reason})

    def _write(self, record: dict[str, Any]) -> None:
        if self.path is not None:
            with self.path.open("a", encoding="utf-8") as out:
                out.write(json.dumps(record, ensure_ascii=False) + "\n")


def arguments(parser: argparse.ArgumentParser) -> None:
    """The options every bench takes from the runner: --quick and --rows."""
    parser.add_argument("--quick", action="store_true", help="short runs on small data, a smoke check")
    parser.add_argument("--rows", type=Path, help="append the figures as JSON lines to this file (bench/run)")


def percentile(samples: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile of the samples (fraction 0.95 for p95)."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def spread(samples: Sequence[float], stat: Callable[[Sequence[float]], float], chunks: int = 5) -> tuple[float, float]:
    """[low, high] of ``stat`` over consecutive chunks of the samples: how steady the figure was in the run."""
    size = max(1, len(samples) // chunks)
    values = [stat(samples[i : i + size]) for i in range(0, len(samples) - size + 1, size)]
    return (min(values), max(values))


def median(samples: Sequence[float]) -> float:
    """The median, as a float."""
    return float(statistics.median(samples))


def scaled(samples: Sequence[float], factor: float) -> list[float]:
    """The samples times ``factor`` (seconds to milliseconds: 1000)."""
    return [s * factor for s in samples]
