"""Limits on guessing PINs and passphrases: back-off after wrong tries, lock-out of a user's PIN.

    PIN, per user     3 free tries, then 2, 4, 8 ... s (at most 5 min) between tries; after 10 wrong
                      PINs in a row the user is locked out until a passphrase holder or a technician
                      clears it (`clinic-agent user unblock NAME`). A right PIN starts the count anew.
    PIN, all users    20 free wrong PINs in 15 minutes, then 2, 4, 8 ... s (at most 1 min): guessing
                      many names at once is slowed down as well.
    passphrase        5 free tries, then 2, 4, 8 ... s (at most 5 min), for every slot and the
                      recovery code together. Nobody is locked out: the passphrase is the way in.

A try that comes too early is refused before any Argon2id runs, so waiting costs the daemon
nothing. The failures live in ``auth_failures`` (written with the audit entry or, while locked,
the pending event), so a restart does not reset them.

What the limits protect: the PIN guards a session on a running, unlocked agent only; the data is
protected by the passphrase (Argon2id, 256 MiB, about 0.5 s a guess on the clinic PC) whether or not
anyone guesses a PIN. Someone holding a copy of keys.json guesses offline, where no limit applies:
only the passphrase's length protects the data there (docs/security.md).
"""

from __future__ import annotations

import math
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta

from clinic_agent.core.errors import LockedOut, TooManyAttempts
from clinic_agent.store.core import Core
from clinic_agent.store.journal import note_security_event

PIN = "pin"
PASSPHRASE = "passphrase"  # noqa: S105  (a kind of secret, not one)
ANY = "*"


@dataclass(frozen=True, slots=True)
class Limit:
    """How many wrong tries are free, and the longest wait after more."""

    free: int
    longest: float
    window: timedelta | None = None  # None: every failure since the last success counts
    lock_out_at: int | None = None

    def wait(self, failures: int) -> float:
        """Seconds between the last failure and the next try allowed."""
        return 0.0 if failures < self.free else float(min(self.longest, 2 ** (failures - self.free + 1)))


PIN_PER_USER = Limit(free=3, longest=300, lock_out_at=10)
PIN_ALL_USERS = Limit(free=20, longest=60, window=timedelta(minutes=15))
PASSPHRASE_ANY = Limit(free=5, longest=300)


class Guard:
    """Reads and writes the failure counts inside the store's transactions."""

    def __init__(self, core: Core) -> None:
        self._core = core

    # -- passphrases (each in its own transaction: no key is needed) -----------------------------

    def before_passphrase(self) -> None:
        """Raise TooManyAttempts if a passphrase or recovery code may not be tried now."""
        with self._core.read() as conn:
            self.check_passphrase(conn)

    def passphrase_failed(self, actor: str, action: str, detail: str = "") -> None:
        """A wrong passphrase or recovery code: counted, and audited (or kept for the chain while locked)."""
        core = self._core
        with core.write() as conn:
            self.failed(conn, PASSPHRASE, ANY)
            note_security_event(core, conn, actor, action, detail)

    def passphrase_right(self) -> None:
        """A passphrase or recovery code opened a slot: the count starts anew."""
        with self._core.write() as conn:
            self.succeeded(conn, PASSPHRASE, ANY)

    def clear_pin(self, name: str, user_id: str, *, actor: str) -> int:
        """Lift a user's PIN lock-out and back-off; returns how many failures were forgotten."""
        core = self._core
        with core.write() as conn:
            failures = self._failures(conn, PIN, name, PIN_PER_USER)[0]
            self.succeeded(conn, PIN, name)
            core.append_audit(conn, actor, "user.unblock", "user", user_id, f"{failures} wrong PINs forgotten")
        return failures

    # -- the checks, inside a caller's transaction ------------------------------------------------

    def check_pin(self, conn: sqlite3.Connection, name: str) -> None:
        """Raise LockedOut or TooManyAttempts if this PIN try must not run now."""
        failures, last = self._failures(conn, PIN, name, PIN_PER_USER)
        if PIN_PER_USER.lock_out_at is not None and failures >= PIN_PER_USER.lock_out_at:
            raise LockedOut(
                f"{name} is locked out after {failures} wrong PINs; a doctor with the passphrase or a technician "
                f"can clear it (clinic-agent user unblock {name})"
            )
        self._refuse_if_early(PIN_PER_USER.wait(failures), last, "wrong PINs")
        failures, last = self._failures(conn, PIN, None, PIN_ALL_USERS)
        self._refuse_if_early(PIN_ALL_USERS.wait(failures), last, "wrong PINs on this PC")

    def check_passphrase(self, conn: sqlite3.Connection) -> None:
        """Raise TooManyAttempts if a passphrase or recovery-code try must not run now."""
        failures, last = self._failures(conn, PASSPHRASE, ANY, PASSPHRASE_ANY)
        self._refuse_if_early(PASSPHRASE_ANY.wait(failures), last, "wrong passphrases")

    def failed(self, conn: sqlite3.Connection, kind: str, subject: str) -> int:
        """Count one more failure (inside the caller's transaction); returns the failures in a row now."""
        conn.execute(
            "INSERT INTO auth_failures(at, kind, subject) VALUES (?, ?, ?)",
            (self._core.clock().isoformat(), kind, subject),
        )
        return self._failures(conn, kind, subject, PIN_PER_USER if kind == PIN else PASSPHRASE_ANY)[0]

    def succeeded(self, conn: sqlite3.Connection, kind: str, subject: str) -> None:
        """A right PIN or passphrase: the count starts anew."""
        conn.execute("DELETE FROM auth_failures WHERE kind = ? AND subject = ?", (kind, subject))

    def _failures(
        self, conn: sqlite3.Connection, kind: str, subject: str | None, limit: Limit
    ) -> tuple[int, datetime | None]:
        sql, args = "SELECT count(*), max(at) FROM auth_failures WHERE kind = ?", [kind]
        if subject is not None:
            sql, args = sql + " AND subject = ?", [*args, subject]
        if limit.window is not None:
            sql, args = sql + " AND at >= ?", [*args, (self._core.clock() - limit.window).isoformat()]
        count, last = conn.execute(sql, args).fetchone()
        return int(count), datetime.fromisoformat(last) if last else None

    def _refuse_if_early(self, wait: float, last: datetime | None, what: str) -> None:
        if not wait or last is None:
            return
        left = (last + timedelta(seconds=wait) - self._core.clock()).total_seconds()
        if left > 0:
            seconds = math.ceil(left)
            raise TooManyAttempts(f"too many {what}: try again in {seconds} s", retry_after=seconds)
