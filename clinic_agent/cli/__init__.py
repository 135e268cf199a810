"""The `clinic-agent` command: one entry point, `--help` on everything, `--json` for scripts.

Exit status 0 only on success; 2 for bad input; 1 for anything else that went wrong. Errors are one
line on standard error; a traceback is never shown (set CLINIC_AGENT_DEBUG=1 to see one).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from collections.abc import Callable
from typing import Any

from clinic_agent import __version__
from clinic_agent.core.errors import ClinicAgentError
from drivers.errors import DriverError

PROG = "clinic-agent"


def _common() -> argparse.ArgumentParser:
    """Options every command takes, before or after its name."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--home",
        default=argparse.SUPPRESS,
        metavar="DIR",
        help="the agent's home directory (default: $CLINIC_AGENT_HOME or the system/user location)",
    )
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print the result as JSON")
    common.add_argument(
        "--passphrase-file",
        default=argparse.SUPPRESS,
        metavar="FILE",
        help="read the passphrase from the first line of FILE (or set CLINIC_AGENT_PASSPHRASE)",
    )
    common.add_argument(
        "--user",
        default=argparse.SUPPRESS,
        metavar="NAME",
        help="whose passphrase slot to try first (or set CLINIC_AGENT_USER)",
    )
    return common


def build_parser() -> argparse.ArgumentParser:
    """The whole command tree."""
    common = _common()
    parser = argparse.ArgumentParser(
        prog=PROG,
        parents=[common],
        description="Clinic Agent: readings from the health machine, encrypted health files, sync with the platform.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add_commands in registrars():
        add_commands(sub, common)
    return parser


Registrar = Callable[[Any, argparse.ArgumentParser], None]


def registrars() -> tuple[Registrar, ...]:
    """Every function that adds commands to the parser, in the order ``--help`` lists them: the whole list.

    A command module registers nothing by being imported; a new one joins here. They are imported
    when a parser is built, not with this package, so that ``--version`` answers without them.
    """
    from clinic_agent.cli import (
        backup_commands,
        commands,
        consult_commands,
        device_commands,
        setup_command,
        sync_commands,
        tui_command,
    )

    return (
        commands.add_store_commands,
        commands.add_user_commands,
        commands.add_resident_commands,
        commands.add_reading_commands,
        commands.add_audit_and_key_commands,
        tui_command.add_commands,
        backup_commands.add_commands,
        consult_commands.add_commands,
        device_commands.add_commands,
        setup_command.add_commands,
        sync_commands.add_commands,
    )


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    if (sys.argv[1:] if argv is None else argv) == ["--version"]:
        print(f"{PROG} {__version__}")  # as argparse would, without loading a single command
        return 0
    parser = build_parser()
    args = parser.parse_args(argv)
    # Problems reach a person through the command's own output; the log is for the daemon.
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.handler(args))
    except ClinicAgentError as exc:
        print(f"{PROG}: {exc.message}", file=sys.stderr)
        return exc.exit_code
    except DriverError as exc:  # a device command met the device itself: say what happened to it
        from clinic_agent.runtime.devices.errors import device_error  # the devices package is heavy: only on this path

        print(f"{PROG}: {device_error(exc).message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 1
    except Exception as exc:  # noqa: BLE001  (a bug: one line, never a traceback unless asked)
        if os.environ.get("CLINIC_AGENT_DEBUG"):
            traceback.print_exc()
        print(
            f"{PROG}: internal error ({type(exc).__name__}); please report it. "
            "Set CLINIC_AGENT_DEBUG=1 to see details.",
            file=sys.stderr,
        )
        return 1
