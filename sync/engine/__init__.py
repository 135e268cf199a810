"""The sync engine: push the outbox, pull what changed upstream, merge, and park what the platform refuses.

``SyncEngine(store, platform, options).run()`` does one sync and returns a ``SyncReport``. The
store is any ``ports.SyncStore``; the platform any ``sync.platform.Platform``.
"""

from sync.engine.engine import EngineOptions, SyncEngine, SyncReport

__all__ = ["EngineOptions", "SyncEngine", "SyncReport"]
