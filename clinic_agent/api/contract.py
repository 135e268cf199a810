"""The contract between the daemon and its clients: every method by name, every error code with its words.

The daemon answers exactly the methods of ``METHODS`` (a test compares them with what the daemon
registers), each with the parameters and reply declared in ``clinic_agent.api.shapes`` (``shape``),
and every error it can send carries one of the codes of ``ERRORS``. A client raises the
code's exception class (``declared``) and shows a person the catalogue message named by
``message_key``: it never reads the daemon's English text to find out what happened. The TUI's
catalogues hold every one of those keys in Chinese and English (a test says so).

``check_params`` and ``check_reply`` hold a real request or reply against its shape: the daemon
calls them on every request under ``CLINIC_AGENT_CONTRACT=strict`` (the test suite sets it), and
the TUI tests' fake daemon always does. They check the keys, nested records and lists, not the
types of plain values.

This module imports only ``clinic_agent.core.errors``, so a client knows every code whatever else it
imported; the shapes are loaded when first asked for.
"""

from __future__ import annotations

import os
import types
import typing
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from clinic_agent.core import errors

if TYPE_CHECKING:
    from clinic_agent.api.shapes import Shape

# -- methods -------------------------------------------------------------------------------------------

# Answered by the daemon's socket server itself (sign-in, unlocking, status, events).
SERVER_METHODS = frozenset(
    {"status", "unlock", "lock", "auth.passphrase", "login", "logout", "whoami", "events.subscribe", "ping"}
)
# Answered by the operations of the store (``clinic_agent.api.registry``), through the daemon or the CLI alike.
OPERATIONS = frozenset(
    {
        # the store as a whole, keys, users
        "status",
        "audit.verify",
        "key.rotate",
        "passphrase.change",
        "passphrase.add",
        "user.add",
        "user.list",
        "user.unblock",
        # residents and their files
        "resident.add",
        "resident.update",
        "resident.get",
        "resident.list",
        "resident.search",
        "resident.lookup",
        "resident.file",
        "resident.history",
        "entry.add",
        "entry.update",
        "entry.delete",
        "draft.save",
        "draft.list",
        "draft.delete",
        "followup.prefill",
        "home.summary",
        # remote consultation
        "consult.targets",
        "consult.attachments",
        "consult.request",
        "consult.list",
        "consult.show",
        "consult.withdraw",
        "consult.add",
        "consult.outcome",
        "consult.awaiting",
        # readings
        "reading.add",
        "reading.get",
        "reading.unassigned",
        "reading.assign",
        "reading.acknowledge",
        "reading.suggest",
        # devices
        "device.list",
        "device.ingest",
        "device.reload",
        # the regional platform
        "sync.status",
        "sync.now",
        "sync.enroll",
        "conflict.list",
        "conflict.get",
        "conflict.resolve",
        "parked.list",
        "parked.retry",
        "record.sync_state",
        # backups and the technician's checks
        "backup.create",
        "backup.list",
        "backup.read",
        "doctor.files",
        "doctor.sync",
    }
)
METHODS = SERVER_METHODS | OPERATIONS

# -- errors --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ErrorCode:
    """One code the daemon may send: the exception a client raises for it, and the words to show."""

    code: str
    error: type[errors.ClinicAgentError]  # the daemon's own class, or its nearest ancestor in clinic_agent.core.errors
    message_key: str  # the catalogue key of what a person is told
    # Whether the daemon's own words name what the headline cannot (which field, which value, what the
    # platform said). Only then does an English screen show them after the headline; for the rest (a
    # wrong PIN, the daemon down, a full disk) they would only say the headline again, in English.
    detail: bool = False


DETAILED = frozenset(
    {
        "error",
        "invalid_input",
        "invalid_id_number",
        "implausible_value",
        "store_error",
        "config_error",
        "device_error",
        "sync_error",
        "platform_unavailable",
        "platform_rejected",
        "sync_conflict",
        "platform_protocol_error",
        "mapping_error",
        "internal",
    }
)


def _codes(*entries: tuple[str, type[errors.ClinicAgentError], str]) -> dict[str, ErrorCode]:
    return {code: ErrorCode(code, error, key, code in DETAILED) for code, error, key in entries}


ERRORS: dict[str, ErrorCode] = _codes(
    ("error", errors.ClinicAgentError, "banner.error"),
    ("invalid_input", errors.InvalidInput, "banner.invalid"),
    ("invalid_id_number", errors.InvalidIdNumber, "banner.invalid"),
    ("implausible_value", errors.ImplausibleValue, "banner.invalid"),
    ("unknown_method", errors.UnknownMethod, "banner.unknown_method"),
    ("access_denied", errors.AccessDenied, "banner.denied"),
    ("wrong_passphrase", errors.WrongPassphrase, "banner.denied"),
    ("session_expired", errors.SessionExpired, "banner.expired"),
    ("too_many_attempts", errors.TooManyAttempts, "banner.too_many"),
    ("locked_out", errors.LockedOut, "banner.locked_out"),
    ("store_error", errors.StoreError, "banner.store_error"),
    ("store_missing", errors.StoreMissing, "banner.store_missing"),
    ("locked", errors.StoreLocked, "banner.locked"),
    ("store_corrupted", errors.StoreCorrupted, "banner.tamper"),
    ("not_found", errors.RecordNotFound, "banner.not_found"),
    ("record_changed", errors.RecordChanged, "banner.changed"),
    ("disk_full", errors.DiskFull, "banner.disk_full"),
    ("schema_too_new", errors.StoreError, "banner.schema_too_new"),
    ("storage_failed", errors.StorageFailed, "banner.storage_failed"),
    ("save_uncertain", errors.SaveUncertain, "banner.save_uncertain"),
    ("upgrade_failed", errors.StorageFailed, "banner.storage_failed"),
    ("config_error", errors.ConfigError, "banner.config_error"),
    ("daemon_error", errors.DaemonError, "banner.offline"),
    ("daemon_not_running", errors.DaemonNotRunning, "banner.offline"),
    ("device_error", errors.DeviceError, "banner.device"),
    # sync.errors: the TUI never imports sync, so a client raises their common ancestor here
    ("sync_error", errors.ClinicAgentError, "banner.sync_failing"),
    ("platform_unavailable", errors.ClinicAgentError, "banner.sync_failing"),
    ("platform_rejected", errors.ClinicAgentError, "banner.platform_rejected"),
    ("sync_conflict", errors.ClinicAgentError, "banner.sync_conflict"),
    ("authentication_failed", errors.ClinicAgentError, "banner.platform_auth"),
    ("platform_protocol_error", errors.ClinicAgentError, "banner.sync_failing"),
    ("mapping_error", errors.ClinicAgentError, "banner.mapping_error"),
    # the socket server's own answers to a request it could not read or run
    ("bad_frame", errors.DaemonError, "banner.error"),
    ("frame_too_large", errors.DaemonError, "banner.error"),
    ("internal", errors.DaemonError, "banner.error"),
)
UNKNOWN_CODE = ERRORS["daemon_error"]  # what a code no version of this contract declares is taken for


def declared(code: str) -> ErrorCode:
    """The entry of a code; a code this contract does not know is taken for an odd answer of the daemon."""
    return ERRORS.get(code, UNKNOWN_CODE)


# -- the shapes of parameters and replies -----------------------------------------------------------------------


class ContractViolation(Exception):
    """A method, parameter or reply field the contract does not declare: a bug of the daemon or of a client."""


STRICT = "CLINIC_AGENT_CONTRACT"  # set to "strict" to check every request and reply against its shape


def strict() -> bool:
    """Whether this process checks what it sends and answers against the contract (the tests do)."""
    return os.environ.get(STRICT) == "strict"


def shape(method: str) -> Shape:
    """The declared parameters and reply of a method; a method the contract does not declare is a violation."""
    from clinic_agent.api.shapes import SHAPES  # TypedDicts for some sixty methods: not on a command's start-up path

    found = SHAPES.get(method)
    if found is None:
        raise ContractViolation(f"{method[:60]!r} is not a method of the contract")
    return found


def check_params(method: str, params: Any, *, complete: bool = True) -> None:
    """Raise ContractViolation naming the method and the field when params do not fit the method's shape.

    ``complete=False`` looks only for undeclared fields: the daemon itself tells a caller which
    required parameter is missing, and tests ask it to.
    """
    problems = _problems(params if params is not None else {}, shape(method).params, "params", complete=complete)
    if problems:
        raise ContractViolation(f"{method}: {'; '.join(problems)}")


def check_reply(method: str, reply: Any, *, complete: bool = True) -> None:
    """Raise ContractViolation naming the method and the field when a reply does not fit the method's shape.

    ``complete=False`` looks only for undeclared fields: a test's fake daemon may answer less than
    the daemon does, never something else.
    """
    problems = _problems(reply, shape(method).reply, "reply", complete=complete)
    if problems:
        raise ContractViolation(f"{method}: {'; '.join(problems)}")


_HINTS: dict[type, dict[str, Any]] = {}


def _fields(typed: type) -> dict[str, Any]:
    hints = _HINTS.get(typed)
    if hints is None:
        hints = _HINTS[typed] = typing.get_type_hints(typed)
    return hints


def _problems(value: Any, hint: Any, path: str, *, complete: bool) -> list[str]:
    """What in a value does not fit a declared type: undeclared and missing fields, objects where lists belong."""
    if hint is Any:
        return []
    origin = typing.get_origin(hint)
    if origin in (types.UnionType, typing.Union):
        return _union_problems(value, typing.get_args(hint), path, complete=complete)
    if typing.is_typeddict(hint):
        return _record_problems(value, hint, path, complete=complete)
    if origin is list:
        if not isinstance(value, list):
            return [f"{path} is {_kind(value)}, not a list"]
        (item,) = typing.get_args(hint)
        return [p for i, v in enumerate(value) for p in _problems(v, item, f"{path}[{i}]", complete=complete)]
    if origin is dict:
        if not isinstance(value, dict):
            return [f"{path} is {_kind(value)}, not an object"]
        item = typing.get_args(hint)[1]
        return [p for k, v in value.items() for p in _problems(v, item, f"{path}.{k}", complete=complete)]
    return []  # a plain value: its type is not checked here


def _record_problems(value: Any, typed: type, path: str, *, complete: bool) -> list[str]:
    if not isinstance(value, dict):
        return [f"{path} is {_kind(value)}, not an object"]
    fields = _fields(typed)
    found = [f"{path}.{key} is not declared" for key in value if key not in fields]
    if complete:
        found += [f"{path}.{key} is missing" for key in sorted(typed.__required_keys__ - value.keys())]  # type: ignore[attr-defined]
    for key, item in value.items():
        if key in fields:
            found += _problems(item, fields[key], f"{path}.{key}", complete=complete)
    return found


def _union_problems(value: Any, choices: tuple[Any, ...], path: str, *, complete: bool) -> list[str]:
    """A value fits a union when it fits one of its members; else the problems of the member it came closest to."""
    if value is None and type(None) in choices:
        return []
    best: list[str] | None = None
    for choice in choices:
        if choice is type(None):
            continue
        found = _problems(value, choice, path, complete=complete)
        if not found:
            return []
        if best is None or len(found) < len(best):
            best = found
    return best or []


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__
