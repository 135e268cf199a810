"""The `clinic-agent` command: one entry point, `--help` on everything, `--json` for scripts.

Exit status 0 only on success; 2 for bad input; 1 for anything else that went wrong. Errors are one
line on standard error; a traceback is never shown (set CLINIC_AGENT_DEBUG=1 to see one).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
import traceback
from collections.abc import Callable
from typing import Any, NoReturn

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


Registrar = Callable[[Any, argparse.ArgumentParser], None]

# Every function that adds commands to the parser ("module:function" in clinic_agent.cli), with the
# commands it adds and their one-line help, in the order ``--help`` lists them: the whole list. A
# command module registers nothing by being imported; a new one joins here. A command's module is
# imported only when that command runs (or the whole tree is built): ``--help`` and a mistyped
# name need only the names and the help below, which a test holds equal to what the modules add.
COMMANDS: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    (
        "commands:add_store_commands",
        (
            ("init", "create a new encrypted store (prints the recovery code once)"),
            ("demo", "a throwaway demo clinic: the daemon, a simulated health machine, the UI"),
            (
                "doctor",
                "check this installation: files, keys, database, service, unsent records, platform, disk, clock,"
                " devices",
            ),
            ("run", "run the daemon in the foreground (the service runs this)"),
            ("status", "show the state of the store and the daemon (no personal data)"),
            ("lock", "make the running daemon forget its keys"),
            ("unlock", "unlock the store with a passphrase (or --recovery with the recovery code)"),
        ),
    ),
    ("commands:add_user_commands", (("user", "people who sign in to the terminal UI"),)),
    ("commands:add_resident_commands", (("resident", "residents and their health files"),)),
    ("commands:add_reading_commands", (("reading", "readings"),)),
    (
        "commands:add_audit_and_key_commands",
        (
            ("audit", "the tamper-evident audit log"),
            ("passphrase", "passphrase key slots"),
            ("key", "the data key"),
        ),
    ),
    (
        "tui_command:add_commands",
        (("tui", "the terminal UI for doctors (sign in, residents' files, readings, follow-ups)"),),
    ),
    (
        "backup_commands:add_commands",
        (
            (
                "backup",
                "take a verified backup of the store (still encrypted, with its key file) while the agent keeps"
                " working",
            ),
            ("backups", "list the backups kept in the data directory"),
            (
                "restore",
                "replace the store with a backup (verified first; the replaced files are kept); the agent must be"
                " stopped",
            ),
        ),
    ),
    (
        "consult_commands:add_commands",
        (("consult", "remote consultation: ask a specialist about a resident (doctors)"),),
    ),
    (
        "device_commands:add_commands",
        (
            ("decode", "decode one device frame and print every field as JSON (no store needed)"),
            ("ingest", "feed one frame through the same path as a live device"),
            ("devices", "health machines and their links"),
            ("simulate", "play a health machine for demos and tests"),
        ),
    ),
    (
        "setup_command:add_commands",
        (("setup", "commission this PC: clinic, store and keys, first doctor, ports, enrolment"),),
    ),
    (
        "sync_commands:add_commands",
        (
            ("enroll", "register this clinic with the regional platform (technicians)"),
            ("sync", "send what waits and fetch what changed on the platform"),
            ("conflicts", "records changed both here and on the platform (doctors)"),
            ("parked", "records the platform refused, with its reason"),
        ),
    ),
)


def _registrar(name: str) -> Registrar:
    """The function ``name`` ("module:function") names, its module imported now."""
    module, function = name.split(":")
    registrar: Registrar = getattr(importlib.import_module(f"clinic_agent.cli.{module}"), function)
    return registrar


def registrars() -> tuple[Registrar, ...]:
    """Every function that adds commands to the parser, in the order ``--help`` lists them (``COMMANDS``).

    Importing them loads every command module: for the whole tree, not for running one command.
    """
    return tuple(_registrar(name) for name, _ in COMMANDS)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The command tree: every command, or with ``command`` only the commands its module adds.

    The other commands are then bare entries with their one-line help, enough for ``--help`` and
    for argparse to name the choices when a name is mistyped; their modules are not imported.
    """
    common = _common()
    parser, sub = _top(common)
    for name, listed in COMMANDS:
        if command is None or any(command == listed_name for listed_name, _ in listed):
            _registrar(name)(sub, common)
        else:
            for listed_name, help_text in listed:
                sub.add_parser(listed_name, help=help_text)
    return parser


def _top(common: argparse.ArgumentParser) -> tuple[argparse.ArgumentParser, Any]:
    """The parser of `clinic-agent` itself, and the place its commands are added to."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        parents=[common],
        description="Clinic Agent: readings from the health machine, encrypted health files, sync with the platform.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    return parser, parser.add_subparsers(dest="command", metavar="COMMAND", required=True)


class _NotUnderstood(Exception):
    """The first look at a command line found it wrong: the whole parser reads it again and says why."""


class _FirstLook(argparse.ArgumentParser):
    """A parser that raises rather than printing an error and exiting."""

    def error(self, message: str) -> NoReturn:
        raise _NotUnderstood(message)


def _command_named(argv: list[str] | None) -> str | None:
    """The command a command line names, read past the common options; None when it names none we know."""
    first = _FirstLook(parents=[_common()], add_help=False)
    first.add_argument("command", nargs="?")
    try:
        named, _ = first.parse_known_args(argv)
    except _NotUnderstood:
        return None  # the whole parser will say what is wrong
    command = getattr(named, "command", None)
    known = any(command == listed_name for _, listed in COMMANDS for listed_name, _ in listed)
    return command if known else None


# The options every command takes that are followed by a value (``_common``): skipped to find the command's name.
_VALUED = ("--home", "--passphrase-file", "--user")


def runs_tui(line: list[str]) -> bool:
    """Whether ``line`` runs `tui`: its first word past the common options (spelt in full) is ``tui``."""
    at = 0
    while at < len(line):
        word = line[at]
        if word in _VALUED:
            at += 2
        elif word == "--json" or word.startswith(tuple(f"{option}=" for option in _VALUED)):
            at += 1
        else:
            return word == "tui"
    return False


def tui_parser() -> argparse.ArgumentParser:
    """The command line with `tui` alone: what a doctor runs many times a day, its first screen waiting on it.

    The whole tree's parser (the first look, then every other command listed) and its imports took a
    few milliseconds each, before the UI had started to load (issue 13, cold start). ``tui --help``
    and a wrong option say what they said with the whole tree; ``clinic-agent --help`` still lists
    every command, as it never reaches here (its first word is not ``tui``).
    """
    from clinic_agent.cli import tui_command

    common = _common()
    parser, sub = _top(common)
    tui_command.add_commands(sub, common)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    line = sys.argv[1:] if argv is None else argv
    if line == ["--version"]:
        print(f"{PROG} {__version__}")  # as argparse would, without loading a single command
        return 0
    if runs_tui(line):
        args = tui_parser().parse_args(line)
    else:
        args = build_parser(_command_named(argv)).parse_args(argv)
        if not hasattr(args, "handler"):  # not the command the first look saw: read the line with every command
            args = build_parser().parse_args(argv)
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
