"""Errors of the sync package, named after what happened.

    SyncError
    ├── PlatformUnavailable     the platform could not be reached or answered 5xx/408/429: retry later
    ├── PlatformRejected        the platform refused one resource (4xx): park it with the server's reason
    ├── SyncConflict            the platform holds a newer version (409/412): pull, merge, ask a doctor
    ├── AuthenticationFailed    the platform refused our credentials (401): refresh the token once
    ├── PlatformProtocolError   the answer was malformed, truncated or of the wrong content type
    └── MappingError            a local record cannot be expressed as a FHIR resource

Foreign exceptions (httpx, json) are translated once, in ``sync.platform``; the sans-I/O modules
raise only these.
"""

from __future__ import annotations

from clinic_agent.core.errors import ClinicAgentError


class SyncError(ClinicAgentError):
    """Something about talking to the regional platform."""

    code = "sync_error"


class PlatformUnavailable(SyncError):
    """The platform is unreachable or overloaded for now; the outbox keeps the work and retries."""

    code = "platform_unavailable"

    def __init__(self, message: str, *, retry_after: float | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.status = status


class PlatformRejected(SyncError):
    """The platform refused a request for good; the resource is parked with the server's reason."""

    code = "platform_rejected"

    def __init__(self, message: str, *, status: int | None = None, reason: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


class SyncConflict(SyncError):
    """The platform's copy changed since our last sync (409/412); pull and merge before sending again."""

    code = "sync_conflict"

    def __init__(self, message: str, *, status: int | None = None, reason: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


class AuthenticationFailed(SyncError):
    """The platform refused our credentials (401)."""

    code = "authentication_failed"


class PlatformProtocolError(SyncError):
    """The platform's answer could not be understood: malformed, truncated or of the wrong type."""

    code = "platform_protocol_error"


class MappingError(SyncError):
    """A local record cannot be expressed as a valid FHIR resource; fix the record, then sync again."""

    code = "mapping_error"
