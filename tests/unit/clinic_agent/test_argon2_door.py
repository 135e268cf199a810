"""Argon2id derivations running at once in one process: every one finishes.

cryptography hands the lanes of a derivation to OpenSSL's process-wide thread pool, capped at the
CPU count; two derivations at once used to wait for each other forever (two sign-ins froze the
daemon for good). All of them now go through one door.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable
from pathlib import Path

from clinic_agent.security import crypto

REPO = Path(__file__).resolve().parents[3]


def _run_at_once(jobs: list[Callable[[], object]], timeout: float) -> list[object]:
    """Start every job in its own (daemon) thread at the same moment; None where one did not finish."""
    results: list[object] = [None] * len(jobs)
    barrier = threading.Barrier(len(jobs))

    def worker(i: int) -> None:
        barrier.wait()
        results[i] = jobs[i]()

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(len(jobs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    return [None if thread.is_alive() else result for thread, result in zip(threads, results, strict=True)]


def test_pin_and_passphrase_checks_in_six_threads_at_once_all_finish() -> None:
    pin_hash = crypto.hash_pin("246810")
    salt = os.urandom(16)
    expected_key = crypto.argon2id(b"correct horse battery", salt, crypto.DEFAULT_PASSPHRASE_KDF)
    jobs: list[Callable[[], object]] = [
        lambda: crypto.verify_pin("246810", pin_hash),
        lambda: crypto.verify_pin("135790", pin_hash),
        lambda: crypto.verify_pin("246810", pin_hash),
        lambda: crypto.argon2id(b"correct horse battery", salt, crypto.DEFAULT_PASSPHRASE_KDF),
        lambda: crypto.argon2id(b"correct horse battery", salt, crypto.DEFAULT_PASSPHRASE_KDF),
        lambda: crypto.hash_pin("975310"),
    ]
    results = _run_at_once(jobs, timeout=120)
    assert results[:5] == [True, False, True, expected_key, expected_key]
    assert isinstance(results[5], str)
    assert crypto.verify_pin("975310", results[5])


def test_the_control_without_the_door_freezes() -> None:
    """The same derivations with the door taken out hang: the test above can see the fault."""
    script = textwrap.dedent(
        """
        import contextlib, threading
        from clinic_agent.security import crypto
        crypto.ARGON2_DOOR = contextlib.nullcontext()
        pin_hash = crypto.hash_pin("246810")
        threads = [threading.Thread(target=crypto.verify_pin, args=("246810", pin_hash)) for _ in range(4)]
        for t in threads: t.start()
        for t in threads: t.join(15)
        print("frozen" if any(t.is_alive() for t in threads) else "finished", flush=True)
        import os; os._exit(0)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120, check=True
    ).stdout
    assert out.strip() == "frozen"
