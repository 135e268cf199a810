"""The encrypted local store: a small typed API over SQLite (``clinic_agent.store.database``).

The package itself loads nothing: ``Store`` and its companions are imported from
``clinic_agent.store.database`` when first asked for, so that a light part of the store
(``counts``, ``connection``, ``schema_version``) can be used without the model, the keys and the
cryptography that the store as a whole needs (`clinic-agent status` without a daemon; issue 13).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from clinic_agent.store.database import AddedReading, OutboxItem, ResidentPage, Store, StoreCounts, UnlockReport

__all__ = ["AddedReading", "OutboxItem", "ResidentPage", "Store", "StoreCounts", "UnlockReport"]

if not TYPE_CHECKING:  # mypy sees the names above; an unknown name stays an error for it

    def __getattr__(name: str) -> Any:
        """The store's names, from ``clinic_agent.store.database`` imported now."""
        if name in __all__:
            return getattr(importlib.import_module("clinic_agent.store.database"), name)
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
