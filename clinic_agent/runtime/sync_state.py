"""sync.status without loading sync's HTTP client and engine (`clinic-agent status` without a daemon).

``clinic_agent.runtime.syncing`` runs sync; this reads only the store's sync rows and, in the daemon,
the running loop's own state.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sync import status as sync_status

if TYPE_CHECKING:
    from clinic_agent.runtime.agent import Agent


def status(agent: Agent) -> dict[str, Any]:
    """The sync.status shape with the record counts; the daemon's loop adds its live state."""
    loop = agent.services.get("sync")  # a SyncService in the daemon (runtime/syncing.py), else None
    live = getattr(loop, "live", None)
    return sync_status.status(agent.store.sync, live if isinstance(live, dict) else None, records=True)
