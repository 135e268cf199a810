"""Every operation of the local API in one table, joined here from the modules that define them.

Nothing registers itself by being imported: a method module holds its own ``METHODS`` table, and
this list of tables is the whole set. ``clinic_agent.api.contract`` declares the same names (a test
compares them). The daemon's socket server and the CLI's in-process backend both call through here.
"""

from __future__ import annotations

from typing import Any

from clinic_agent.api import backup_methods, consult_methods, doctor_methods, file_methods, methods, sync_methods
from clinic_agent.api.methods import Method
from clinic_agent.api.params import Params
from clinic_agent.core.errors import AccessDenied, UnknownMethod
from clinic_agent.runtime.agent import Agent, Caller
from clinic_agent.runtime.devices import methods as device_methods


def _join(*tables: dict[str, Method]) -> dict[str, Method]:
    joined: dict[str, Method] = {}
    for table in tables:
        twice = joined.keys() & table.keys()
        if twice:
            raise ValueError(f"methods defined twice: {', '.join(sorted(twice))}")
        joined.update(table)
    return joined


REGISTRY = _join(
    methods.METHODS,
    file_methods.METHODS,
    sync_methods.METHODS,
    backup_methods.METHODS,
    doctor_methods.METHODS,
    device_methods.METHODS,
    consult_methods.METHODS,
)

# Methods the daemon itself answers without a session (sign-in, unlocking, status).
DAEMON_PUBLIC = frozenset({"status", "unlock", "lock", "auth.passphrase", "login", "logout", "ping"})


def needs_session(name: str) -> bool:
    """Whether a caller must be signed in to call a method."""
    entry = REGISTRY.get(name)
    return name not in DAEMON_PUBLIC and (entry is None or not entry.public)


def uses_kdf(name: str) -> bool:
    """Whether a method runs Argon2id (a PIN hash or a passphrase check)."""
    entry = REGISTRY.get(name)
    return entry is not None and entry.kdf


def call(agent: Agent, caller: Caller, name: str, params: Any) -> Any:
    """Check the caller's right to an operation, then run it."""
    entry = REGISTRY.get(name)
    if entry is None:
        raise UnknownMethod(f"unknown method {name[:60]!r}")
    if not (entry.public or caller.owner or caller.role in entry.roles):
        raise AccessDenied(f"a {caller.role or 'caller without a sign-in'} may not {name}")
    if entry.needs_keys:
        agent.require_unlocked()
    return entry.handler(agent, caller, Params(params))
