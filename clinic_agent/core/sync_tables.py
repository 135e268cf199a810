"""The tables whose rows go to the platform, apart from ``sync_values`` so that counting them loads no model.

Each of their rows keeps its sync state and the last-synced base copy; `clinic-agent status` counts
them by state without the record types (``clinic_agent.store.counts``).
"""

from __future__ import annotations

RESIDENTS = "residents"
ENTRIES = "entries"
READINGS = "readings"
SYNCED_TABLES = (RESIDENTS, ENTRIES, READINGS)
