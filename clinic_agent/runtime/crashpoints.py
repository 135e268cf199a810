"""Named points where a test can make the process die on the spot, as kill -9 or a power cut would.

Set ``CLINIC_AGENT_CRASHPOINT=<name>[:<n>]`` to exit (status 137, no cleanup) the n-th time the
point is reached, or ``CLINIC_AGENT_STALLPOINT=<name>`` to hang there for good. Unset, a point
costs one dictionary lookup.
"""

from __future__ import annotations

import os
import threading
from collections import Counter

ENV = "CLINIC_AGENT_CRASHPOINT"
_hits: Counter[str] = Counter()


def reached(name: str) -> None:
    """Die here if a test asked for it."""
    spec = os.environ.get(ENV)
    if not spec:
        return
    point, _, nth = spec.partition(":")
    if point != name:
        return
    _hits[name] += 1
    if _hits[name] == int(nth or "1"):
        os._exit(137)


STALL_ENV = "CLINIC_AGENT_STALLPOINT"


def stalled(name: str) -> None:
    """Hang here for good if a test asked for it (a worker stuck in a system call, a dead disk)."""
    if os.environ.get(STALL_ENV) == name:
        threading.Event().wait()
