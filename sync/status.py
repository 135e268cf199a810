"""The sync.status shape, read from the store's sync rows alone.

Apart from ``sync.service`` so that `clinic-agent status` without a daemon shows the sync state
without loading the HTTP client, the FHIR mapping or the engine (issue 13: start-up).
"""

from __future__ import annotations

from typing import Any, Protocol


class SyncCounts(Protocol):
    """What status reads of the store's sync rows: the store's ``SyncState`` (``sync.host.SyncRecords``), or
    the same queries on a connection of their own (`clinic-agent status` without a daemon)."""

    def settings(self) -> dict[str, str]:
        """The ``sync.*`` settings (platform, organization id, last sync, last error ...)."""
        ...

    def queue_counts(self) -> dict[str, int]:
        """Outbox rows pending and parked, open conflicts."""
        ...

    def state_counts(self) -> dict[str, int]:
        """Records only here, sent, and confirmed by the platform."""
        ...


def status(store: SyncCounts, live: dict[str, Any] | None = None, *, records: bool = False) -> dict[str, Any]:
    """State, link, platform, last sync and error, queue counts; ``live``: the running loop's own state."""
    found = store.settings()
    queue = store.queue_counts()
    live = live or {}
    state = live.get("state") or ("idle" if found.get("platform") else "not enrolled")
    if not found.get("platform"):
        state = "not enrolled"
    data: dict[str, Any] = {
        "state": state,
        "online": bool(live.get("online", False)),
        "platform": found.get("platform"),
        "last_sync": found.get("last_sync"),
        "last_error": live.get("last_error", found.get("last_error")),
        "pending": queue["pending"],
        "parked": queue["parked"],
        "conflicts": queue["conflicts"],
    }
    if state == "syncing" and live.get("progress"):
        data["progress"] = live["progress"]  # the pull's latest page: type, records, total, seconds left
    if records:
        data["records"] = store.state_counts()
    return data
