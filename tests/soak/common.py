"""What every soak reports: runs, lost, duplicated, corrupt, crashes and the seed that replays it.

A soak is a function ``run(seed, size, *, workdir, plant=None, say=print) -> Tally``; ``bench/soak``
calls it with the long sizes of issue 13 and the CI tests in ``tests/soak/`` with small ones. ``plant``
names a fault planted on purpose (a dropped record, a parser that lets a foreign exception out, a
leak): only the tests use it, to show that the soak sees what it claims to see.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

Say = Callable[[str], None]


@dataclass
class Tally:
    """The figures of one soak; any lost, duplicated, corrupt, crash or growth fails it."""

    name: str
    seed: int
    size: float
    runs: int = 0
    lost: int = 0
    duplicated: int = 0
    corrupt: int = 0
    crashes: int = 0
    grew: int = 0  # samples of the daemon (RSS, open files, threads) beyond the tolerance
    figures: dict[str, object] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)  # what went wrong, for a person to read
    options: str = ""  # the soak's own options, for the replay command
    started: float = field(default_factory=time.monotonic)

    @property
    def failed(self) -> bool:
        """Whether anything was lost, duplicated, corrupted, crashed or grew."""
        return bool(self.lost or self.duplicated or self.corrupt or self.crashes or self.grew)

    def problem(self, text: str) -> None:
        """Note one problem (the first hundred are kept)."""
        if len(self.problems) < 100:
            self.problems.append(text)

    def line(self) -> str:
        """The summary line: the counts, the other figures, the time and how to replay the run."""
        extra = " ".join(f"{key}={value}" for key, value in self.figures.items())
        verdict = "FAILED" if self.failed else "ok"
        return (
            f"{self.name}: {verdict} runs={self.runs} lost={self.lost} duplicated={self.duplicated} "
            f"corrupt={self.corrupt} crashes={self.crashes} grew={self.grew} {extra} "
            f"time={time.monotonic() - self.started:.0f}s seed={self.seed} "
            f"(replay: bench/soak --only {self.name} --seed {self.seed} --size {self.size:.10g}{self.options})"
        )


def describe(items: list[str], limit: int = 5) -> str:
    """A few of ``items`` for a line of output."""
    shown = "; ".join(items[:limit])
    return f"{len(items)}: {shown}" + (" ..." if len(items) > limit else "")
