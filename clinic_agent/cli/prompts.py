"""Where the CLI gets passphrases and PINs: a file, the environment, or a prompt on a terminal."""

from __future__ import annotations

import getpass
import os
import sys

from clinic_agent.core.errors import InvalidInput
from clinic_agent.core.fsutil import KIB, read_bounded

# A passphrase file holds one line; anything much longer is the wrong file (or /dev/zero).
PASSPHRASE_FILE_LIMIT = 4 * KIB
PIN_LIMIT = 64


def _read_file(path: str, what: str = "the passphrase file") -> str:
    data = read_bounded(path, PASSPHRASE_FILE_LIMIT, what)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput(f"{what} {path} is not UTF-8 text") from None
    return text.splitlines()[0] if text else ""


def _interactive() -> bool:
    return sys.stdin.isatty()


def passphrase(file: str | None, *, env: str = "CLINIC_AGENT_PASSPHRASE", prompt: str = "Passphrase: ") -> str | None:
    """The passphrase from --passphrase-file, the environment, or a terminal prompt; None if there is none."""
    if file:
        return _read_file(file)
    if os.environ.get(env):
        return os.environ[env]
    if _interactive():
        return getpass.getpass(prompt)
    return None


def new_passphrase(file: str | None, *, env: str, what: str = "new passphrase") -> str:
    """A new passphrase: from a file or the environment, or typed twice on a terminal."""
    if file:
        return _read_file(file, f"the {what} file")
    if os.environ.get(env):
        return os.environ[env]
    if not _interactive():
        raise InvalidInput(f"no {what}: give --passphrase-file or set {env}")
    first = getpass.getpass(f"Choose a {what} (at least 10 characters): ")
    if getpass.getpass(f"Type the {what} again: ") != first:
        raise InvalidInput(f"the two {what}s differ; nothing was changed")
    return first


def pin() -> str:
    """A PIN: asked twice on a terminal, otherwise the first line of standard input."""
    if _interactive():
        first = getpass.getpass("PIN (4-12 digits): ")
        if getpass.getpass("PIN again: ") != first:
            raise InvalidInput("the two PINs differ; nothing was changed")
        return first
    line = sys.stdin.readline(PIN_LIMIT + 1)
    if not line:
        raise InvalidInput("no PIN on standard input")
    pin = line.rstrip("\r\n")
    if len(pin) > PIN_LIMIT:
        raise InvalidInput(f"the first line of standard input is longer than {PIN_LIMIT} characters; it is not a PIN")
    return pin
