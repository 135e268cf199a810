"""The contract between the daemon and its clients: every method by name, every error code with its words.

The daemon answers exactly the methods of ``METHODS`` (a test compares them with what the daemon
registers), and every error it can send carries one of the codes of ``ERRORS``. A client raises the
code's exception class (``declared``) and shows a person the catalogue message named by
``message_key``: it never reads the daemon's English text to find out what happened. The TUI's
catalogues hold every one of those keys in Chinese and English (a test says so).

This module imports only ``clinic_agent.core.errors``, so a client knows every code whatever else it
imported.
"""

from __future__ import annotations

from dataclasses import dataclass

from clinic_agent.core import errors

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


def _codes(*entries: tuple[str, type[errors.ClinicAgentError], str]) -> dict[str, ErrorCode]:
    return {code: ErrorCode(code, error, key) for code, error, key in entries}


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
