"""`clinic-agent tui`: the terminal UI for doctors, connected to the running daemon.

With ``--standalone`` (a single-user PC, or a demo) and no daemon listening, the daemon runs in this
same process and event loop: it starts before the first screen and stops when the UI quits.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
from typing import TYPE_CHECKING, Any

from clinic_agent.api.framing import FrameDecoder, FramingError, Oversize, decode_body, encode
from clinic_agent.core.errors import AccessDenied, ClinicAgentError, DaemonError, DaemonNotRunning
from clinic_agent.runtime import home as home_module

# asyncio and the client are loaded when the UI starts, not with every command's parser. The check that
# a daemon listens is a ping on a plain socket: the client (its contract and errors) and the other
# commands' plumbing would be loaded before the first frame for one small question.
if TYPE_CHECKING:
    import asyncio
    from pathlib import Path

    from clinic_agent.runtime.home import Home

READY_TIMEOUT = 30.0


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add the commands tui (listed in ``clinic_agent.cli.COMMANDS``)."""
    help_text = "the terminal UI for doctors (sign in, residents' files, readings, follow-ups)"
    p: argparse.ArgumentParser = sub.add_parser("tui", parents=[common], help=help_text, description=help_text)
    p.add_argument(
        "--lang", choices=["zh", "en"], default=os.environ.get("CLINIC_AGENT_LANG", "zh"), help="language (default zh)"
    )
    p.add_argument(
        "--standalone",
        action="store_true",
        help="if no daemon is running, run one inside this process until the UI quits",
    )
    p.add_argument("--sign-in-as", metavar="NAME", default="", help="put this user name in the sign-in form")
    p.set_defaults(handler=cmd_tui)


def _daemon_listening(path: Path, timeout: float = 5.0) -> bool:
    """Whether a daemon answers a ping on the socket at ``path``: False when nobody listens there."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(str(path))
        except (FileNotFoundError, ConnectionRefusedError, NotADirectoryError):
            return False
        except PermissionError:
            raise AccessDenied(f"not allowed to connect to {path}: join the agent's group or run as its user") from None
        try:
            sock.sendall(encode({"id": 1, "method": "ping", "params": {}}))
            reply = _reply(sock)
        except TimeoutError:
            raise DaemonError(f"the daemon did not answer ping within {timeout:.0f} s") from None
        except OSError as exc:
            raise DaemonError(f"the connection to the daemon broke ({exc.strerror or exc})") from None
    if "error" in reply:
        raise DaemonError(f"the daemon refused ping: {reply['error'].get('message', reply['error'])}")
    return True


def _reply(sock: socket.socket) -> dict[str, Any]:
    """The daemon's answer to the ping (request 1); events sent before it are skipped."""
    decoder = FrameDecoder()
    while data := sock.recv(65536):
        for body in decoder.feed(data):
            try:
                message = None if isinstance(body, Oversize) else decode_body(body)
            except FramingError:
                message = None
            if message is None:
                raise DaemonError("the daemon sent a bad frame")
            if message.get("id") == 1:
                return message
    raise DaemonError("the daemon closed the connection")


def cmd_tui(args: argparse.Namespace) -> int:
    """Run the terminal UI."""
    home = home_module.resolve(getattr(args, "home", None))
    # Only [api] is read: a running daemon checked the whole agent.toml; --standalone's daemon loads it.
    socket_path = home.load_api_config().socket
    if not args.standalone and not _daemon_listening(socket_path):
        raise DaemonNotRunning(
            f"no daemon is running for {home.root}: start it (`clinic-agent run`, or the clinic-agent service), "
            "or use `clinic-agent tui --standalone`"
        )
    import asyncio

    asyncio.run(_run(home, socket_path, args.lang, args.standalone, args.sign_in_as))
    return 0


async def _run(home: Home, socket_path: Path, language: str, standalone: bool, user: str) -> None:
    import asyncio

    from tui.app import ClinicApp
    from tui.client import DaemonApi

    daemon: asyncio.Task[None] | None = None
    stop = asyncio.Event()
    if standalone and not await asyncio.to_thread(_daemon_listening, socket_path):
        daemon = asyncio.create_task(_serve(home, stop))
        await _wait_ready(home, socket_path, daemon)
    try:
        await ClinicApp(DaemonApi(socket_path), language=language, user=user).run_async()
    finally:
        if daemon is not None:
            stop.set()
            with contextlib.suppress(asyncio.CancelledError):
                await daemon


async def _serve(home: Home, stop: asyncio.Event) -> None:
    import logging

    from clinic_agent.runtime import daemon

    home.log_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    # The screen is the UI's: the in-process daemon logs to its file only.
    handler = logging.FileHandler(home.log_dir / "daemon.log", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(home.load_config().log_level.upper())
    await daemon.serve(home, stop=stop)


async def _wait_ready(home: Home, socket_path: Path, task: asyncio.Task[None]) -> None:
    import asyncio

    deadline = asyncio.get_running_loop().time() + READY_TIMEOUT
    while asyncio.get_running_loop().time() < deadline:
        if task.done():
            exc = task.exception()
            if isinstance(exc, ClinicAgentError):
                raise exc
            raise DaemonError(f"the daemon stopped at once; see {home.log_dir / 'daemon.log'}")
        if await asyncio.to_thread(_daemon_listening, socket_path):
            return
        await asyncio.sleep(0.05)
    raise DaemonError(f"the daemon did not start within {READY_TIMEOUT:.0f} s")
