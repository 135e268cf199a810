"""The one error hierarchy of Clinic Agent.

    ClinicAgentError
    ├── InvalidInput            bad data from a person or a script (exit status 2)
    │   ├── InvalidIdNumber     an ID card number failed one named check
    │   ├── ImplausibleValue    a typed value outside what a body can show (kept only with a reason)
    │   └── UnknownMethod       the daemon offers no such method (an older daemon)
    ├── AccessDenied            wrong passphrase, PIN, role or peer
    │   ├── WrongPassphrase
    │   ├── SessionExpired
    │   ├── TooManyAttempts     too many wrong PINs or passphrases: wait, then try again
    │   └── LockedOut           a user's PIN is blocked until someone with the right clears it
    ├── StoreError
    │   ├── StoreMissing        no store here, or part of it is gone (never recreated)
    │   ├── StoreLocked         the data key is not loaded
    │   ├── StoreCorrupted      a row failed authentication, or the file is damaged
    │   ├── RecordNotFound
    │   ├── RecordChanged       edited from a stale copy; open it again
    │   ├── DiskFull
    │   ├── SchemaTooNew        a newer agent upgraded the database (in clinic_agent.store.schema)
    │   └── StorageFailed       any other I/O failure of the database
    │       ├── SaveUncertain   the disk failed while committing: the outcome is unknown
    │       └── UpgradeFailed   a migration failed; nothing changed (in clinic_agent.store.schema)
    ├── ConfigError             agent.toml is wrong; the message names the key
    ├── DaemonError             the local API is unreachable or answered oddly
    │   └── DaemonNotRunning
    ├── DeviceError             a device could not be reached or broke its protocol
    └── SyncError               the regional platform (in sync.errors, with its own diagram)

The drivers' errors are a tree of their own, not under ClinicAgentError: ``drivers.errors.DriverError``
(``FrameError``, ``DeviceUnavailable``, ``ProtocolViolation``). The drivers import nothing of ours, so
that they can be read, tested and reused alone; the modules that run a driver translate its errors
where they could reach a person: ingest quarantines a bad frame with its reason, and the device
service and the CLI turn the rest into a ``DeviceError`` (``clinic_agent.runtime.devices.errors``).

Foreign exceptions are translated once, where they enter: ``raise DiskFull(...) from exc``.
Every message says what happened and, where it helps, what a person can do next. Every code that
crosses the local API, with the words a client shows for it, is declared in
``clinic_agent.api.contract``.
"""

from __future__ import annotations


class ClinicAgentError(Exception):
    """Base of every error Clinic Agent raises on purpose."""

    exit_code = 1
    code = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class InvalidInput(ClinicAgentError):
    """Data from a person or a script that cannot be accepted as it is."""

    exit_code = 2
    code = "invalid_input"


class InvalidIdNumber(InvalidInput):
    """An ID card number failed a named check (length, characters, date, check digit, ...)."""

    code = "invalid_id_number"

    def __init__(self, check: str, message: str, *, expected: str = "") -> None:
        super().__init__(message)
        self.check = check
        self.expected = expected  # for a failed check digit: the character the first 17 digits call for


class ImplausibleValue(InvalidInput):
    """A hand-entered value outside the range devices are held to; a doctor may keep it with a reason."""

    code = "implausible_value"


class UnknownMethod(InvalidInput):
    """The daemon offers no method of that name (a client newer than the daemon, or a typo)."""

    code = "unknown_method"


class AccessDenied(ClinicAgentError):
    """The caller may not do this."""

    code = "access_denied"


class WrongPassphrase(AccessDenied):
    """No key slot opened with the given passphrase or recovery key."""

    code = "wrong_passphrase"


class SessionExpired(AccessDenied):
    """A login session is unknown or has been idle too long."""

    code = "session_expired"


class TooManyAttempts(AccessDenied):
    """Too many wrong PINs or passphrases just now; the next try is allowed after ``retry_after`` s."""

    code = "too_many_attempts"

    def __init__(self, message: str, *, retry_after: int = 0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class LockedOut(AccessDenied):
    """A user's PIN is blocked after too many wrong tries, until a passphrase holder or technician clears it."""

    code = "locked_out"


class StoreError(ClinicAgentError):
    """Something about the local store."""

    code = "store_error"


class StoreMissing(StoreError):
    """The store or its key file is not where it should be; nothing is created in its place."""

    code = "store_missing"


class StoreLocked(StoreError):
    """The data key is not loaded; unlock first."""

    code = "locked"


class StoreCorrupted(StoreError):
    """A row failed authentication or the database file is damaged."""

    code = "store_corrupted"

    def __init__(self, message: str, *, table: str | None = None, row_id: str | None = None) -> None:
        super().__init__(message)
        self.table = table
        self.row_id = row_id


class RecordNotFound(StoreError):
    """No such record."""

    code = "not_found"


class RecordChanged(StoreError):
    """Someone else saved a newer version of the record since it was opened."""

    code = "record_changed"


class DiskFull(StoreError):
    """The disk holding the store is full; nothing was written."""

    code = "disk_full"


class StorageFailed(StoreError):
    """The database could not be read or written."""

    code = "storage_failed"


class SaveUncertain(StorageFailed):
    """The disk failed at the very end of a save: it may or may not have been kept."""

    code = "save_uncertain"


class ConfigError(ClinicAgentError):
    """agent.toml is invalid; the message names the key."""

    code = "config_error"


class DaemonError(ClinicAgentError):
    """The daemon's local API could not be reached or broke its protocol."""

    code = "daemon_error"


class DaemonNotRunning(DaemonError):
    """No daemon answers on the local API socket."""

    code = "daemon_not_running"


class DeviceError(ClinicAgentError):
    """A device could not be reached or broke its protocol; the message names the device and what happened."""

    code = "device_error"
