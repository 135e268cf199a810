"""`clinic-agent tui`: the terminal UI for doctors, connected to the running daemon.

With ``--standalone`` (a single-user PC, or a demo) and no daemon listening, the daemon runs in this
same process and event loop: it starts before the first screen and stops when the UI quits.
"""

from __future__ import annotations

import argparse
import contextlib
import os
from typing import TYPE_CHECKING, Any

from clinic_agent.cli.commands import home_of
from clinic_agent.core.errors import ClinicAgentError, DaemonError, DaemonNotRunning

# asyncio and the client are loaded when the UI starts, not with every command's parser.
if TYPE_CHECKING:
    import asyncio

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


def _daemon_listening(home: Home) -> bool:
    from clinic_agent.api.client import ApiClient

    try:
        with ApiClient(home.load_config().api.socket, timeout=5) as client:
            client.call("ping")
        return True
    except DaemonNotRunning:
        return False


def cmd_tui(args: argparse.Namespace) -> int:
    """Run the terminal UI."""
    home = home_of(args)
    if not args.standalone and not _daemon_listening(home):
        raise DaemonNotRunning(
            f"no daemon is running for {home.root}: start it (`clinic-agent run`, or the clinic-agent service), "
            "or use `clinic-agent tui --standalone`"
        )
    import asyncio

    asyncio.run(_run(home, args.lang, args.standalone, args.sign_in_as))
    return 0


async def _run(home: Home, language: str, standalone: bool, user: str) -> None:
    import asyncio

    from tui.app import ClinicApp
    from tui.client import DaemonApi

    socket = home.load_config().api.socket
    daemon: asyncio.Task[None] | None = None
    stop = asyncio.Event()
    if standalone and not await asyncio.to_thread(_daemon_listening, home):
        daemon = asyncio.create_task(_serve(home, stop))
        await _wait_ready(home, daemon)
    try:
        await ClinicApp(DaemonApi(socket), language=language, user=user).run_async()
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


async def _wait_ready(home: Home, task: asyncio.Task[None]) -> None:
    import asyncio

    deadline = asyncio.get_running_loop().time() + READY_TIMEOUT
    while asyncio.get_running_loop().time() < deadline:
        if task.done():
            exc = task.exception()
            if isinstance(exc, ClinicAgentError):
                raise exc
            raise DaemonError(f"the daemon stopped at once; see {home.log_dir / 'daemon.log'}")
        if await asyncio.to_thread(_daemon_listening, home):
            return
        await asyncio.sleep(0.05)
    raise DaemonError(f"the daemon did not start within {READY_TIMEOUT:.0f} s")
