"""Quick stores (no key derivation) and one-call syncs against the fake platform."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from clinic_agent.security.keys import KeyFile
from clinic_agent.store import Store
from sync.engine import EngineOptions, SyncEngine, SyncReport
from tests.unit.sync.fakeplatform import FakePlatform

OPTIONS = EngineOptions(organization_id="org-1", attempts=3, backoff_base=0.0, backoff_cap=0.0)


def quick_store(root: Path) -> Store:
    """A new unlocked store: the keyring is made directly, no passphrase slot (fast)."""
    root.mkdir(parents=True, exist_ok=True)
    keyfile, _vault_key, keyring = KeyFile.create(root / "keys.json", str(uuid.uuid4()))
    store = Store.create(root / "clinic.db", keyfile)
    store.unlock(keyring, actor="test")
    return store


async def _no_sleep(_seconds: float) -> None:
    return None


def sync(store: Store, platform: FakePlatform, options: EngineOptions = OPTIONS) -> SyncReport:
    """One sync run."""
    return asyncio.run(SyncEngine(store.sync, platform, options, sleep=_no_sleep).run())
