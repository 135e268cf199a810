"""Bundle sizes that follow the link: grow while requests are quick, halve on a slow or failed one."""

from __future__ import annotations


class LinkSizer:
    """How many records to put in the next Bundle."""

    def __init__(self, start: int, *, low: int = 1, high: int = 500, target_seconds: float = 10.0) -> None:
        self.low = max(1, low)
        self.high = max(self.low, high)
        self.size = min(max(start, self.low), self.high)
        self.target = target_seconds

    def succeeded(self, entries: int, seconds: float) -> None:
        """A Bundle of ``entries`` took ``seconds``."""
        if seconds > self.target:
            self.size = max(self.low, self.size // 2)
        elif seconds < self.target / 4 and entries >= self.size:
            self.size = min(self.high, self.size * 2)

    def failed(self) -> None:
        """A Bundle timed out or the link dropped: send less at a time."""
        self.size = max(self.low, self.size // 2)
