"""The daemon's worker threads, one pool per kind of work, so that no kind can starve another.

    kdf      Argon2id: PIN and passphrase checks, new PIN hashes, passphrase slots. One thread:
             derivations are serialised anyway (crypto.ARGON2_DOOR), so twenty sign-ins at once
             wait in this queue and hold no other thread.
    ingest   device frames on their way to the store, and the watchdog's heartbeat, which takes
             the same road a reading takes: if a reading could not be stored now, the heartbeat
             does not arrive either and systemd restarts the daemon.
    default  asyncio's own pool, for the requests of the local API.

Threads cannot be killed. ``stuck()`` names work that has run too long, so a stopping daemon can
say what it is leaving behind before it exits without waiting for it.
"""

from __future__ import annotations

import contextvars
import functools
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


class Pool:
    """A named single-purpose thread pool that remembers what each of its threads is doing."""

    def __init__(self, name: str, threads: int = 1) -> None:
        self.name = name
        self._executor = ThreadPoolExecutor(threads, thread_name_prefix=f"clinic-agent-{name}")
        self._busy: dict[int, tuple[str, float]] = {}
        self._lock = threading.Lock()

    async def run(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``fn`` on this pool and wait for it (the caller's context variables go along)."""
        import asyncio  # loaded already under a running loop; a command without one never needs it (start-up)

        call = functools.partial(contextvars.copy_context().run, self._tracked, fn, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    def _tracked(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        ident = threading.get_ident()
        with self._lock:
            self._busy[ident] = (getattr(fn, "__qualname__", repr(fn)), time.monotonic())
        try:
            return fn(*args, **kwargs)
        finally:
            with self._lock:
                self._busy.pop(ident, None)

    def stuck(self, longer_than: float) -> list[str]:
        """What this pool's threads have been doing for more than ``longer_than`` seconds."""
        now = time.monotonic()
        with self._lock:
            return [
                f"{self.name}: {what} ({now - since:.0f} s)"
                for what, since in self._busy.values()
                if now - since > longer_than
            ]

    def shutdown(self) -> None:
        """Take no more work; drop what is queued; do not wait for what runs."""
        self._executor.shutdown(wait=False, cancel_futures=True)


class Workers:
    """The pools of one agent."""

    def __init__(self) -> None:
        self.kdf = Pool("kdf")
        self.ingest = Pool("ingest")

    def stuck(self, longer_than: float = 5.0) -> list[str]:
        """Work that has been running too long, in every pool."""
        return self.kdf.stuck(longer_than) + self.ingest.stuck(longer_than)

    def shutdown(self) -> None:
        """Stop every pool without waiting."""
        self.kdf.shutdown()
        self.ingest.shutdown()
