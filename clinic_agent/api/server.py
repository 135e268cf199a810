"""The daemon's local API: a Unix socket, length-prefixed JSON, sessions, and pushed events.

The socket lives in a directory of mode 0750 and is itself 0660; on top of the file modes every
peer's credentials (SO_PEERCRED) are checked: root, the agent's own user, or a member of the
configured group. A refused peer is told so and logged in the audit trail. Blocking store and
crypto work runs in worker threads, so one slow request does not stall the others.

One connection may have several requests in flight (the TUI's search keystroke should not wait
behind its own 30-second status refresh): requests that only read run side by side and answer in
the order they finish, each carrying its id; anything that changes state waits for every request
sent before it, and every later request waits for it, so a client sees its own writes in the order
it sent them.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import grp
import logging
import os
import pwd
import socket
import stat
import struct
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from clinic_agent.api import contract, registry
from clinic_agent.api.framing import FrameDecoder, FramingError, Oversize, decode_body, encode
from clinic_agent.api.params import Params
from clinic_agent.api.sessions import Session, Sessions
from clinic_agent.core.errors import (
    ClinicAgentError,
    DaemonError,
    InvalidInput,
    StoreCorrupted,
    TooManyAttempts,
)
from clinic_agent.runtime.agent import Agent, Caller
from clinic_agent.runtime.api_config import ApiConfig

_LOGGER = logging.getLogger(__name__)
_UCRED = struct.Struct("3i")
MAX_CONNECTIONS = 64
_QUEUE = 1000
IN_FLIGHT = 4  # requests of one connection running at once; the next one is not read off the socket before

# The methods that change nothing a later request of the same client could see (an audit entry aside):
# they may run beside each other. Everything else is a write and runs alone, in the order it was sent.
READS = frozenset(
    {
        "status",
        "whoami",
        "ping",
        "audit.verify",
        "backup.list",
        "conflict.get",
        "conflict.list",
        "consult.attachments",
        "consult.awaiting",
        "consult.list",
        "consult.show",
        "consult.targets",
        "device.list",
        "doctor.files",
        "doctor.sync",
        "draft.list",
        "followup.prefill",
        "home.summary",
        "parked.list",
        "reading.get",
        "reading.suggest",
        "reading.unassigned",
        "record.sync_state",
        "resident.file",
        "resident.get",
        "resident.history",
        "resident.list",
        "resident.lookup",
        "resident.search",
        "sync.status",
        "user.list",
    }
)


def peer_credentials(sock: socket.socket) -> tuple[int, int, int]:
    """The (pid, uid, gid) of the process at the other end, as the kernel saw it at connect."""
    pid, uid, gid = _UCRED.unpack(sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size))
    return pid, uid, gid


def peer_allowed(uid: int, gid: int, allowed_gid: int | None) -> bool:
    """Root, our own user, or a member of the allowed group."""
    if uid in (0, os.geteuid()):
        return True
    if allowed_gid is None:
        return False
    if gid == allowed_gid:
        return True
    try:
        return allowed_gid in os.getgrouplist(pwd.getpwuid(uid).pw_name, gid)
    except KeyError:
        return False


def error_json(exc: ClinicAgentError) -> dict[str, Any]:
    """An error as it goes on the wire."""
    data: dict[str, Any] = {"code": exc.code, "message": exc.message}
    if isinstance(exc, StoreCorrupted):
        data.update(table=exc.table, row_id=exc.row_id)
    if isinstance(exc, TooManyAttempts):
        data["retry_after"] = exc.retry_after
    check = getattr(exc, "check", None)
    if check:
        data["check"] = check
    return data


class _Connection:
    """One client: its credentials, session, and an ordered outgoing queue."""

    def __init__(self, writer: asyncio.StreamWriter, pid: int, uid: int) -> None:
        self.writer = writer
        self.pid = pid
        self.uid = uid
        self.subscribed = False
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue(_QUEUE)
        self.task = asyncio.create_task(self._drain())

    def send(self, message: dict[str, Any]) -> None:
        """Queue a frame; a client too slow to take its events is disconnected."""
        try:
            self.queue.put_nowait(encode(message))
        except asyncio.QueueFull:
            self.writer.close()

    async def _drain(self) -> None:
        with contextlib.suppress(OSError, ConnectionError):
            while (frame := await self.queue.get()) is not None:
                self.writer.write(frame)
                await self.writer.drain()

    async def close(self) -> None:
        """Flush what is queued, then close."""
        with contextlib.suppress(asyncio.QueueFull):
            self.queue.put_nowait(None)
        with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(self.task, 2)
        self.writer.close()
        with contextlib.suppress(OSError, ConnectionError):
            await self.writer.wait_closed()


class _Lanes:
    """The order one connection's requests run in: reads side by side, each write alone and in turn.

    A request waits for what it must not overtake: a read for the last write sent before it, a write
    for every request sent before it. At most ``IN_FLIGHT`` run at once; past that the connection is
    not read from until one finishes, so a flooding client holds back only itself.
    """

    def __init__(self) -> None:
        self._running: set[asyncio.Task[None]] = set()
        self._last_write: asyncio.Task[None] | None = None
        self._room = asyncio.Semaphore(IN_FLIGHT)

    async def start(self, write: bool, work: Callable[[], Awaitable[None]]) -> None:
        """Start one request's work once there is room for it (returns before the work is done)."""
        await self._room.acquire()
        before = list(self._running) if write else [self._last_write] if self._last_write else []
        task = asyncio.create_task(self._after(before, work))
        self._running.add(task)
        task.add_done_callback(self._finished)
        if write:
            self._last_write = task

    async def _after(self, before: list[asyncio.Task[None]], work: Callable[[], Awaitable[None]]) -> None:
        if before:
            await asyncio.wait(before)
        await work()

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        if self._last_write is task:
            self._last_write = None
        self._room.release()

    async def finish(self) -> None:
        """Let the requests already read run to their end (their answers go nowhere if the client left)."""
        if self._running:
            await asyncio.wait(list(self._running))


class ApiServer:
    """The local API service."""

    name = "local API"

    def __init__(self, agent: Agent, config: ApiConfig) -> None:
        self.agent = agent
        self.config = config
        self.sessions = Sessions(config.session_idle_minutes * 60)
        self._server: asyncio.Server | None = None
        self._connections: set[_Connection] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._gid = _group_id(config.group)
        self.started = time.monotonic()

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        """Prepare the socket directory, replace a stale socket, and listen."""
        self._loop = asyncio.get_running_loop()
        self.agent.store.audit.flush_when_full = False  # _answer commits them, once the answer is sent
        path = self.config.socket
        _prepare_directory(path.parent, self._gid)
        _remove_stale_socket(path)
        self._server = await asyncio.start_unix_server(self._client, path=str(path), limit=1 << 16)
        os.chmod(path, 0o660)
        if self._gid is not None:
            with contextlib.suppress(PermissionError):
                os.chown(path, -1, self._gid)
        _LOGGER.info("local API listening on %s", path)

    async def stop(self) -> None:
        """Stop listening and close every connection."""
        if self._server is not None:
            self._server.close()
        for connection in list(self._connections):
            await connection.close()
        self.agent.store.audit.flush_when_full = True
        if self._server is not None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 5)
        with contextlib.suppress(FileNotFoundError):
            self.config.socket.unlink()

    # -- events ------------------------------------------------------------------------------------

    def publish(self, event: str, data: dict[str, Any]) -> None:
        """Push an event to every subscribed client; callable from any thread."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        if _on_loop(loop):
            self._broadcast(event, data)
        else:
            loop.call_soon_threadsafe(self._broadcast, event, data)

    def _broadcast(self, event: str, data: dict[str, Any]) -> None:
        for connection in list(self._connections):
            if connection.subscribed:
                connection.send({"event": event, "data": data})

    # -- connections -------------------------------------------------------------------------------

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        pid, uid, gid = peer_credentials(writer.get_extra_info("socket"))
        connection = _Connection(writer, pid, uid)
        if not peer_allowed(uid, gid, self._gid):
            await self._refuse(connection, f"uid {uid} is not allowed to use the agent", uid)
            return
        if len(self._connections) >= MAX_CONNECTIONS:
            await self._refuse(connection, "too many connections; try again shortly", None)
            return
        self._connections.add(connection)
        try:
            await self._serve(reader, connection)
        except (OSError, ConnectionError):
            pass
        finally:
            self._connections.discard(connection)
            await connection.close()

    async def _refuse(self, connection: _Connection, reason: str, uid: int | None) -> None:
        connection.send({"id": None, "error": {"code": "access_denied", "message": reason}})
        await connection.close()
        if uid is not None:
            _LOGGER.warning("refused a local API client: %s", reason)
            await asyncio.to_thread(self._note, f"uid:{uid}", "api.refused", reason)

    def _note(self, actor: str, action: str, detail: str) -> None:
        with contextlib.suppress(ClinicAgentError):
            if self.agent.locked:
                self.agent.store.audit.note_while_locked(actor, action, detail)
            else:
                self.agent.store.audit.record(actor, action, "api", "", detail)

    async def _serve(self, reader: asyncio.StreamReader, connection: _Connection) -> None:
        decoder = FrameDecoder(self.config.max_frame_bytes)
        lanes = _Lanes()
        try:
            while data := await reader.read(65536):
                for body in decoder.feed(data):
                    if isinstance(body, Oversize):
                        message = f"a frame of {body.length} bytes is over the {decoder.max_frame}-byte limit; dropped"
                        connection.send({"id": None, "error": {"code": "frame_too_large", "message": message}})
                        continue
                    try:
                        request = decode_body(body)
                    except FramingError as exc:
                        connection.send({"id": None, "error": {"code": "bad_frame", "message": str(exc)}})
                        continue
                    write = request.get("method") not in READS
                    await lanes.start(write, functools.partial(self._answer, connection, request))
        finally:
            await lanes.finish()

    async def _answer(self, connection: _Connection, request: dict[str, Any]) -> None:
        connection.send(await self._request(connection, request))
        if self.agent.store.audit.deferred_full:  # the searches' audit entries, committed after the answer
            await asyncio.to_thread(self._flush_audit)

    def _flush_audit(self) -> None:
        """Commit the audit entries waiting (the 64th search's answer is already sent: it did not wait for this)."""
        try:
            self.agent.store.audit.flush_deferred()
        except ClinicAgentError as exc:  # they keep waiting for the next write, the housekeeping, the lock
            _LOGGER.warning("the searches' audit entries could not be committed yet: %s", exc)

    async def _request(self, connection: _Connection, request: dict[str, Any]) -> dict[str, Any]:
        request_id = request.get("id")
        try:
            method = request.get("method")
            if not isinstance(method, str):
                raise InvalidInput("a request needs a method")
            result = await self._dispatch(connection, method, request.get("params"), request.get("session"))
            return {"id": request_id, "result": result}
        except contract.ContractViolation as exc:  # only under CLINIC_AGENT_CONTRACT=strict: say what broke it
            _LOGGER.exception("a request or reply outside the contract")
            return {"id": request_id, "error": {"code": "internal", "message": f"outside the contract: {exc}"}}
        except ClinicAgentError as exc:
            return {"id": request_id, "error": error_json(exc)}
        except Exception:
            _LOGGER.exception("internal error while serving a request")
            return {"id": request_id, "error": {"code": "internal", "message": "internal error; see the daemon log"}}

    async def _dispatch(self, connection: _Connection, method: str, raw: Any, token: Any) -> Any:
        params = raw if isinstance(raw, dict) else {}
        handler = SERVER_METHODS.get(method)
        if handler is not None:
            if not contract.strict():
                return await handler(self, connection, params, token if isinstance(token, str) else None)
            contract.check_params(method, params, complete=False)
            reply = await handler(self, connection, params, token if isinstance(token, str) else None)
            contract.check_reply(method, reply)
            return reply
        caller = Caller(actor=f"uid:{connection.uid}", peer=f"uid:{connection.uid}")
        if registry.needs_session(method):
            caller = self.sessions.touch(token if isinstance(token, str) else None, connection.uid).caller
        if registry.uses_kdf(method):
            return await self.agent.workers.kdf.run(registry.call, self.agent, caller, method, params)
        return await asyncio.to_thread(registry.call, self.agent, caller, method, params)

    # -- methods only the daemon has -------------------------------------------------------------------

    async def _status(self, connection: _Connection, params: dict[str, Any], token: str | None) -> Any:
        status = await asyncio.to_thread(self.agent.status)
        status["daemon"] = {
            "running": True,
            "pid": os.getpid(),
            "uptime_s": round(time.monotonic() - self.started, 1),
            "sessions": len(self.sessions._sessions),
        }
        return status

    async def _unlock(self, connection: _Connection, params: dict[str, Any], token: str | None) -> Any:
        p = Params(params)
        actor = f"{p.optional_text('os_user', max_length=64) or 'uid'}:{connection.uid}"
        if not self.agent.locked:
            return {"unlocked": True, "slot": "already unlocked", "sealed_opened": 0, "sealed_failed": []}
        recovery = p.secret("recovery_code") if "recovery_code" in p else None
        passphrase = None if recovery else p.secret("passphrase")
        user = p.optional_text("user", max_length=40)
        report = await self.agent.workers.kdf.run(
            self.agent.unlock, actor=actor, passphrase=passphrase, recovery_code=recovery, user=user
        )
        slot = self.agent.vault.opened_by if self.agent.vault else "?"
        return {
            "unlocked": True,
            "slot": slot,
            "sealed_opened": report.sealed_opened,
            "sealed_failed": report.sealed_failed,
        }

    async def _lock(self, connection: _Connection, params: dict[str, Any], token: str | None) -> Any:
        actor = f"uid:{connection.uid}"
        if connection.uid not in (0, os.geteuid()):  # the agent's own user and root may always lock
            actor = self.sessions.touch(token, connection.uid).caller.actor
        await asyncio.to_thread(self.agent.lock, actor=actor)
        self.sessions.clear()
        return {"locked": True}

    async def _auth_passphrase(self, connection: _Connection, params: dict[str, Any], token: str | None) -> Any:
        p = Params(params)
        os_user = p.optional_text("os_user", max_length=64) or f"uid{connection.uid}"
        slot_user = await self.agent.workers.kdf.run(
            self.agent.verify_passphrase,
            p.secret("passphrase"),
            p.optional_text("user", max_length=40),
            actor=f"{os_user}:{connection.uid}",
        )
        session = self.sessions.open(
            Caller(actor=f"cli:{slot_user}@{os_user}", owner=True, peer=f"uid:{connection.uid}"), connection.uid
        )
        return {"session": session.token, "actor": session.caller.actor}

    async def _login(self, connection: _Connection, params: dict[str, Any], token: str | None) -> Any:
        p = Params(params)
        self.agent.require_unlocked()
        name, pin = p.text("user", max_length=40), p.secret("pin")
        user = await self.agent.workers.kdf.run(self.agent.store.users.sign_in, name, pin, peer=f"uid:{connection.uid}")
        session = self.sessions.open(
            Caller(actor=f"user:{user.name}", role=user.role.value, peer=f"uid:{connection.uid}"), connection.uid
        )
        return {
            "session": session.token,
            "user": user.name,
            "role": user.role.value,
            "display_name": user.display_name,
            "idle_seconds": self.sessions.idle_seconds,
        }

    async def _logout(self, connection: _Connection, params: dict[str, Any], token: str | None) -> Any:
        self.sessions.close(token)
        return {"signed_out": True}

    async def _whoami(self, connection: _Connection, params: dict[str, Any], token: str | None) -> Any:
        session: Session = self.sessions.touch(token, connection.uid)
        return {"actor": session.caller.actor, "role": session.caller.role, "owner": session.caller.owner}

    async def _subscribe(self, connection: _Connection, params: dict[str, Any], token: str | None) -> Any:
        self.sessions.touch(token, connection.uid)
        connection.subscribed = True
        return {"subscribed": True}

    async def _ping(self, connection: _Connection, params: dict[str, Any], token: str | None) -> Any:
        return "pong"


# The methods the socket server answers itself; the operations of the store go through the registry.
SERVER_METHODS = {
    "status": ApiServer._status,
    "unlock": ApiServer._unlock,
    "lock": ApiServer._lock,
    "auth.passphrase": ApiServer._auth_passphrase,
    "login": ApiServer._login,
    "logout": ApiServer._logout,
    "whoami": ApiServer._whoami,
    "events.subscribe": ApiServer._subscribe,
    "ping": ApiServer._ping,
}


def _on_loop(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


def _group_id(name: str | None) -> int | None:
    if not name:
        return None
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        raise DaemonError(f"api.group names the group {name!r}, which does not exist on this PC") from None


def _prepare_directory(directory: Path, gid: int | None) -> None:
    """The socket directory: ours, a real directory (not a link), mode 0750."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o750)
    info = directory.lstat()
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        raise DaemonError(f"{directory} is not a plain directory (a symlink?); refusing to put the socket there")
    if info.st_uid != os.geteuid():
        raise DaemonError(f"{directory} belongs to uid {info.st_uid}, not to this agent; refusing to use it")
    os.chmod(directory, 0o750)  # noqa: S103  (group members may reach the socket; others may not)
    if gid is not None:
        with contextlib.suppress(PermissionError):
            os.chown(directory, -1, gid)


def _remove_stale_socket(path: Path) -> None:
    """A socket left by a crashed daemon is replaced; a live daemon or anything else there is refused."""
    try:
        info = path.lstat()
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(info.st_mode):
        raise DaemonError(f"{path} exists and is not a socket (a symlink or file?); refusing to replace it")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(str(path))
    except OSError:
        path.unlink()
        return
    finally:
        probe.close()
    raise DaemonError(f"another daemon is already listening on {path}")
