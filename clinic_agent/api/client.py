"""Clients of the local API: a blocking one for the CLI, an asyncio one for the TUI."""

from __future__ import annotations

import contextlib
import itertools
import socket
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clinic_agent.api import contract
from clinic_agent.api.framing import FrameDecoder, FramingError, Oversize, decode_body, encode
from clinic_agent.core import errors
from clinic_agent.core.errors import ClinicAgentError, DaemonError, DaemonNotRunning

if TYPE_CHECKING:
    import asyncio

EventHandler = Callable[[str, dict[str, Any]], None]


def raise_error(error: Any) -> None:
    """Re-raise an error the daemon reported, as the class the contract declares for its code."""
    if not isinstance(error, dict):
        raise DaemonError("the daemon sent a malformed error")
    code, message = str(error.get("code", "error")), str(error.get("message", "the daemon reported an error"))
    entry = contract.declared(code)
    exc: ClinicAgentError
    if entry.error is errors.InvalidIdNumber:
        exc = errors.InvalidIdNumber(str(error.get("check", "")), message)
    elif entry.error is errors.TooManyAttempts:
        retry_after = error.get("retry_after")
        exc = errors.TooManyAttempts(message, retry_after=retry_after if isinstance(retry_after, int) else 0)
    elif entry.error is errors.StoreCorrupted:
        exc = errors.StoreCorrupted(message, table=error.get("table"), row_id=error.get("row_id"))
    else:
        exc = entry.error(message)
    exc.code = entry.code  # the daemon's own code, also where the class is an ancestor (a sync error)
    raise exc


def _reason(exc: OSError) -> str:
    """An OSError in words, also one without an errno (a timeout)."""
    return exc.strerror or str(exc) or type(exc).__name__


def _result(message: dict[str, Any]) -> Any:
    if "error" in message:
        raise_error(message["error"])
    return message.get("result")


class ApiClient:
    """A blocking connection to the daemon (used by the CLI)."""

    def __init__(self, path: Path, *, timeout: float = 120.0) -> None:
        self.path = path
        self.timeout = timeout
        self.session: str | None = None
        self._sock: socket.socket | None = None
        self._decoder = FrameDecoder(max_frame=64 * 1024 * 1024)
        self._ids = itertools.count(1)
        self.events: list[tuple[str, dict[str, Any]]] = []

    def connect(self) -> ApiClient:
        """Connect; raise DaemonNotRunning when nobody listens on the socket."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(str(self.path))
        except (FileNotFoundError, ConnectionRefusedError, NotADirectoryError):
            sock.close()
            raise DaemonNotRunning(f"no daemon is listening on {self.path}") from None
        except PermissionError:
            sock.close()
            raise errors.AccessDenied(
                f"not allowed to connect to {self.path}: join the agent's group or run as its user"
            ) from None
        except OSError as exc:
            sock.close()
            raise DaemonError(f"cannot connect to {self.path}: {_reason(exc)}") from None
        self._sock = sock
        return self

    def call(self, method: str, params: dict[str, Any] | None = None) -> Any:
        """Send one request and wait for its response."""
        sock = self._sock or self.connect()._socket()
        request_id = next(self._ids)
        request: dict[str, Any] = {"id": request_id, "method": method, "params": params or {}}
        if self.session:
            request["session"] = self.session
        try:
            sock.sendall(encode(request))
            return _result(self._await(sock, request_id))
        except TimeoutError:
            raise DaemonError(f"the daemon did not answer {method} within {self.timeout:.0f} s") from None
        except OSError as exc:
            raise DaemonError(f"the connection to the daemon broke ({_reason(exc)})") from None

    def _socket(self) -> socket.socket:
        if self._sock is None:
            raise DaemonError("not connected to the daemon")
        return self._sock

    def _await(self, sock: socket.socket, request_id: int) -> dict[str, Any]:
        while True:
            data = sock.recv(65536)
            if not data:
                raise DaemonError("the daemon closed the connection")
            for body in self._decoder.feed(data):
                if isinstance(body, Oversize):
                    raise DaemonError("the daemon sent an oversize frame")
                try:
                    message = decode_body(body)
                except FramingError as exc:
                    raise DaemonError(f"the daemon sent a bad frame: {exc}") from None
                if "event" in message:
                    self.events.append((str(message["event"]), dict(message.get("data") or {})))
                elif message.get("id") == request_id:
                    return message

    def close(self) -> None:
        """Close the connection."""
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.close()
            self._sock = None

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


DECODE_IN_A_THREAD = 256 * 1024  # bytes: a larger answer (a file of 5,000 readings, 1.6 MB) is decoded beside the
# event loop, which took 130-280 ms of the TUI's thread on a loaded machine


class AsyncApiClient:
    """An asyncio connection: concurrent requests, and events handed to a callback as they come."""

    def __init__(self, path: Path, *, on_event: EventHandler | None = None, timeout: float = 60.0) -> None:
        import asyncio  # the TUI's client only: the CLI's blocking one starts faster without it

        self.path = path
        self.timeout = timeout
        self.session: str | None = None
        self._on_event = on_event
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self.closed = asyncio.Event()

    async def connect(self) -> None:
        """Connect; raise DaemonNotRunning when nobody listens."""
        import asyncio

        try:
            reader, writer = await asyncio.open_unix_connection(str(self.path), limit=1 << 20)
        except (FileNotFoundError, ConnectionRefusedError, NotADirectoryError):
            raise DaemonNotRunning(f"no daemon is listening on {self.path}") from None
        except PermissionError:
            raise errors.AccessDenied(f"not allowed to connect to {self.path}") from None
        except OSError as exc:
            raise DaemonError(f"cannot connect to {self.path}: {_reason(exc)}") from None
        self._writer = writer
        self.closed.clear()
        self._reader_task = asyncio.create_task(self._read(reader))

    async def _read(self, reader: asyncio.StreamReader) -> None:
        import asyncio

        decoder = FrameDecoder(max_frame=64 * 1024 * 1024)
        try:
            while data := await reader.read(65536):
                for body in decoder.feed(data):
                    if isinstance(body, Oversize):
                        continue
                    with contextlib.suppress(FramingError):
                        if len(body) < DECODE_IN_A_THREAD:
                            self._dispatch(decode_body(body))
                        else:  # in order still: the next frame waits for this one
                            self._dispatch(await asyncio.to_thread(decode_body, body))
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            self.closed.set()
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(DaemonError("the connection to the daemon was lost"))
            self._pending.clear()

    def _dispatch(self, message: dict[str, Any]) -> None:
        if "event" in message:
            if self._on_event is not None:
                self._on_event(str(message["event"]), dict(message.get("data") or {}))
            return
        future = self._pending.pop(message.get("id", -1), None)
        if future is not None and not future.done():
            future.set_result(message)

    async def call(self, method: str, params: dict[str, Any] | None = None) -> Any:
        """Send one request and wait for its response."""
        import asyncio

        if self._writer is None or self.closed.is_set():
            raise DaemonError("not connected to the daemon")
        request_id = next(self._ids)
        request: dict[str, Any] = {"id": request_id, "method": method, "params": params or {}}
        if self.session:
            request["session"] = self.session
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        try:
            self._writer.write(encode(request))
            await self._writer.drain()
            message = await asyncio.wait_for(future, self.timeout)
        except TimeoutError:
            raise DaemonError(f"the daemon did not answer {method} in time") from None
        except OSError as exc:
            raise DaemonError(f"the connection to the daemon broke ({_reason(exc)})") from None
        finally:
            self._pending.pop(request_id, None)
        return _result(message)

    async def close(self) -> None:
        """Close the connection."""
        import asyncio

        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()
            self._writer = None
        if self._reader_task is not None:
            self._reader_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader_task
