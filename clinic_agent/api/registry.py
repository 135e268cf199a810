"""Every operation of the local API in one table, joined here from the modules that define them.

Nothing registers itself by being imported: a method module holds its own ``METHODS`` table, and
the list of tables in ``_tables`` is the whole set. They are imported at the first dispatch, not
with this module, so a command loads the operations only when it runs one in its own process.
``clinic_agent.api.contract`` declares the same names (a test compares them). The daemon's socket
server and the CLI's in-process backend both call through here.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from clinic_agent.api import contract
from clinic_agent.core.errors import AccessDenied, UnknownMethod

if TYPE_CHECKING:
    from clinic_agent.api.methods import Method
    from clinic_agent.runtime.agent import Agent, Caller


def _tables() -> tuple[dict[str, Method], ...]:
    """Every method module's table: the whole list, imported at the first dispatch, not with the registry.

    A command that calls no operation in this process (``--version``, ``status`` through the
    daemon) never loads the agent, the store or sync behind them.
    """
    from clinic_agent.api import backup_methods, consult_methods, doctor_methods, file_methods, methods, sync_methods
    from clinic_agent.runtime.devices import methods as device_methods

    return (
        methods.METHODS,
        file_methods.METHODS,
        sync_methods.METHODS,
        backup_methods.METHODS,
        doctor_methods.METHODS,
        device_methods.METHODS,
        consult_methods.METHODS,
    )


# Which module defines each method, so that one call imports only the module of that method (`status`
# without a daemon loads neither sync nor the devices). A test holds it to the modules' own tables.
DEFINED_IN: dict[str, frozenset[str]] = {
    "clinic_agent.api.methods": frozenset(
        {
            "status",
            "audit.verify",
            "key.rotate",
            "passphrase.add",
            "passphrase.change",
            "user.add",
            "user.list",
            "user.unblock",
            "resident.add",
            "resident.file",
            "resident.get",
            "resident.list",
            "resident.search",
            "resident.update",
            "entry.add",
            "entry.delete",
            "entry.update",
            "reading.add",
            "reading.assign",
            "reading.get",
            "reading.unassigned",
        }
    ),
    "clinic_agent.api.file_methods": frozenset(
        {
            "draft.delete",
            "draft.list",
            "draft.save",
            "followup.prefill",
            "home.summary",
            "reading.acknowledge",
            "reading.suggest",
            "resident.history",
            "resident.lookup",
        }
    ),
    "clinic_agent.api.sync_methods": frozenset(
        {
            "sync.status",
            "sync.now",
            "sync.enroll",
            "conflict.get",
            "conflict.list",
            "conflict.resolve",
            "parked.list",
            "parked.retry",
            "record.sync_state",
        }
    ),
    "clinic_agent.api.backup_methods": frozenset({"backup.create", "backup.list", "backup.read"}),
    "clinic_agent.api.doctor_methods": frozenset({"doctor.files", "doctor.sync"}),
    "clinic_agent.runtime.devices.methods": frozenset({"device.ingest", "device.list", "device.reload"}),
    "clinic_agent.api.consult_methods": frozenset(
        {
            "consult.add",
            "consult.attachments",
            "consult.awaiting",
            "consult.list",
            "consult.outcome",
            "consult.request",
            "consult.show",
            "consult.targets",
            "consult.withdraw",
        }
    ),
}
_MODULE_OF = {name: module for module, names in DEFINED_IN.items() for name in names}


def operation(name: str) -> Method | None:
    """One operation, importing only the module that defines it (every module once all are joined)."""
    if _joined is None and name in _MODULE_OF:
        table: dict[str, Method] = importlib.import_module(_MODULE_OF[name]).METHODS
        return table.get(name)
    return operations().get(name)


def _join(*tables: dict[str, Method]) -> dict[str, Method]:
    joined: dict[str, Method] = {}
    for table in tables:
        twice = joined.keys() & table.keys()
        if twice:
            raise ValueError(f"methods defined twice: {', '.join(sorted(twice))}")
        joined.update(table)
    return joined


_joined: dict[str, Method] | None = None


def operations() -> dict[str, Method]:
    """Every operation by name (the method modules are imported on the first call)."""
    global _joined
    if _joined is None:
        _joined = _join(*_tables())
    return _joined


def __getattr__(name: str) -> Any:
    """``REGISTRY``: the joined table, built when first asked for."""
    if name == "REGISTRY":
        return operations()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# Methods the daemon itself answers without a session (sign-in, unlocking, status).
DAEMON_PUBLIC = frozenset({"status", "unlock", "lock", "auth.passphrase", "login", "logout", "ping"})


def needs_session(name: str) -> bool:
    """Whether a caller must be signed in to call a method."""
    if name in DAEMON_PUBLIC:
        return False  # known without loading the method modules: `status` through the daemon stays light
    entry = operation(name)
    return entry is None or not entry.public


def uses_kdf(name: str) -> bool:
    """Whether a method runs Argon2id (a PIN hash or a passphrase check)."""
    entry = operation(name)
    return entry is not None and entry.kdf


def call(agent: Agent, caller: Caller, name: str, params: Any) -> Any:
    """Check the caller's right to an operation, then run it (held against the contract when strict)."""
    entry = operation(name)
    if entry is None:
        raise UnknownMethod(f"unknown method {name[:60]!r}")
    if not (entry.public or caller.owner or caller.role in entry.roles):
        raise AccessDenied(f"a {caller.role or 'caller without a sign-in'} may not {name}")
    if entry.needs_keys:
        agent.require_unlocked()
    from clinic_agent.api.params import Params  # with the operations, not the registry (validation is heavy)

    if not contract.strict():
        return entry.handler(agent, caller, Params(params))
    contract.check_params(name, params, complete=False)  # a missing parameter is the method's to report
    reply = entry.handler(agent, caller, Params(params))
    contract.check_reply(name, reply)
    return reply
