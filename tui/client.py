"""The screens' view of the daemon: one connection, the session, reconnection, and pushed events.

Screens call ``await api.call(method, params)`` and get plain JSON or one of the errors of
``clinic_agent.core.errors``. Events the daemon pushes (``reading.received``, ``sync.state``, ...) are
handed to a callback, which the App turns into Textual messages.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from clinic_agent.core.errors import ClinicAgentError, DaemonError

if TYPE_CHECKING:  # the client (and its JSON framing) is loaded at the first call, after the first screen is drawn
    from clinic_agent.api.client import AsyncApiClient

EventSink = Callable[[str, dict[str, Any]], None]


@dataclass(frozen=True, slots=True)
class SignedIn:
    """Who is signed in, as the daemon said at login."""

    user: str
    role: str
    display_name: str
    idle_seconds: float


class Api(Protocol):
    """What the screens need of the daemon (the real client, or a fake in tests)."""

    async def connect(self) -> None:
        """Open the connection (raise DaemonNotRunning if nobody listens)."""

    async def call(self, method: str, params: dict[str, Any] | None = None) -> Any:
        """Run one method."""

    async def login(self, user: str, pin: str) -> SignedIn:
        """Sign in; raise StoreLocked while the daemon is locked."""

    async def logout(self) -> None:
        """End the session (never raises)."""

    async def close(self) -> None:
        """Close the connection."""


class DaemonApi:
    """The daemon's local API over its Unix socket, reconnecting when the connection drops."""

    def __init__(self, socket: Path, *, timeout: float = 30.0) -> None:
        self.socket = socket
        self.timeout = timeout
        self.on_event: EventSink = lambda name, data: None
        self._client: AsyncApiClient | None = None
        self._session: str | None = None
        self._subscribed = False
        self._lock = asyncio.Lock()

    def _event(self, name: str, data: dict[str, Any]) -> None:
        self.on_event(name, data)

    async def connect(self) -> None:
        """Connect (again), keeping the session: the daemon ties it to our user id, not to the connection."""
        async with self._lock:
            if self._client is not None and not self._client.closed.is_set():
                return
            from clinic_agent.api.client import AsyncApiClient

            client = AsyncApiClient(self.socket, on_event=self._event, timeout=self.timeout)
            await client.connect()
            client.session = self._session
            self._client = client
            if self._session and self._subscribed:
                await client.call("events.subscribe")

    async def call(self, method: str, params: dict[str, Any] | None = None) -> Any:
        """Run a method; a dropped connection is re-opened first (a request is never sent twice)."""
        if self._client is None or self._client.closed.is_set():
            await self.connect()
        assert self._client is not None  # noqa: S101  (connect sets it or raises)
        try:
            return await self._client.call(method, params)
        except DaemonError:
            if self._client.closed.is_set():
                self._client = None
            raise

    async def login(self, user: str, pin: str) -> SignedIn:
        """Sign in and subscribe to events."""
        reply = await self.call("login", {"user": user, "pin": pin})
        self._session = str(reply["session"])
        if self._client is not None:
            self._client.session = self._session
        await self.call("events.subscribe")
        self._subscribed = True
        return SignedIn(
            user=str(reply["user"]),
            role=str(reply["role"]),
            display_name=str(reply.get("display_name") or reply["user"]),
            idle_seconds=float(reply.get("idle_seconds") or 600),
        )

    async def logout(self) -> None:
        """End the session on the daemon too."""
        if self._session is None:
            return
        with contextlib.suppress(ClinicAgentError):
            await self.call("logout")
        self._session = None
        self._subscribed = False
        if self._client is not None:
            self._client.session = None

    async def close(self) -> None:
        """Close the connection."""
        if self._client is not None:
            await self._client.close()
            self._client = None
