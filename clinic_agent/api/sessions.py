"""Sign-in sessions of the local API: random tokens that expire after an idle time."""

from __future__ import annotations

import dataclasses
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from clinic_agent.core.errors import SessionExpired
from clinic_agent.runtime.agent import Caller


@dataclass(slots=True)
class Session:
    """One signed-in user (or passphrase holder) and when they were last active."""

    token: str
    caller: Caller
    last_seen: float
    peer_uid: int
    subscribed: bool = field(default=False)


class Sessions:
    """The live sessions; idle ones expire."""

    def __init__(self, idle_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.idle_seconds = idle_seconds
        self._clock = clock
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def open(self, caller: Caller, peer_uid: int) -> Session:
        """Start a session for a caller."""
        token = secrets.token_urlsafe(32)
        caller = dataclasses.replace(caller, session=token)
        session = Session(token, caller, self._clock(), peer_uid)
        with self._lock:
            self._sessions[token] = session
        return session

    def touch(self, token: str | None, peer_uid: int) -> Session:
        """The session for a token, refreshed; SessionExpired if unknown, idle too long or another peer's."""
        now = self._clock()
        with self._lock:
            session = self._sessions.get(token or "")
            if session is None or session.peer_uid != peer_uid:
                raise SessionExpired("not signed in (or the session has ended): sign in again")
            if now - session.last_seen > self.idle_seconds:
                del self._sessions[session.token]
                raise SessionExpired("the session expired after being idle: sign in again")
            session.last_seen = now
            return session

    def close(self, token: str | None) -> None:
        """End a session."""
        with self._lock:
            self._sessions.pop(token or "", None)

    def expire_idle(self) -> list[Session]:
        """Drop idle sessions; return them."""
        now = self._clock()
        with self._lock:
            gone = [s for s in self._sessions.values() if now - s.last_seen > self.idle_seconds]
            for session in gone:
                del self._sessions[session.token]
        return gone

    def clear(self) -> None:
        """End every session (at lock)."""
        with self._lock:
            self._sessions.clear()
