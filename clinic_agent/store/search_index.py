"""The name index as last saved: one encrypted row, so that an unlock need not decrypt every resident.

The index (core/search.py) holds names, ID card, health-record and phone numbers, so the saved copy
is sealed like any row: AES-256-GCM under the current data key, bound to this table, its row id,
the key id and the format version; what is sealed is the index's own bytes (a short header, then
its columns as they are held), not JSON, so that loading it makes no object per resident. It is a
cache, never the record: it says up to which change sequence number it covers, and whoever loads
it then reads the residents written after that number from their own rows (runtime/agent.py). A
copy that fails authentication, that claims more than the store has written, or that cannot be
read is ignored and the index is built from the rows. Rotation re-seals it with the other rows,
as bytes (runtime/rotation.py); a backup carries the copy of its own database, so a restore brings
back an index of the restored residents.
"""

from __future__ import annotations

from dataclasses import dataclass

from clinic_agent.core.errors import StoreCorrupted
from clinic_agent.core.search import snapshot_header
from clinic_agent.store.core import Core

TABLE = "search_index"
ROW_ID = "names"


@dataclass(frozen=True, slots=True)
class SavedIndex:
    """The saved index, or why there is none to use."""

    data: bytes | None
    problem: str = ""


class SearchIndex:
    """The saved copy of the name index."""

    def __init__(self, core: Core) -> None:
        self._core = core

    def load(self) -> SavedIndex:
        """The saved index if there is one this store can trust, else the reason (empty when none was saved)."""
        core = self._core
        with core.read() as conn:
            row = conn.execute(f"SELECT key_id, payload FROM {TABLE} WHERE id = ?", (ROW_ID,)).fetchone()
            top = conn.execute("SELECT value FROM meta WHERE key = 'change_seq'").fetchone()
        if row is None:
            return SavedIndex(None)
        try:
            data = core.open_raw(TABLE, ROW_ID, row[0], row[1])
        except StoreCorrupted as exc:
            return SavedIndex(None, str(exc))
        covered, written = _covered(data), int(top[0]) if top else 0
        if covered is not None and (not isinstance(covered, int) or covered > written):
            # A copy ahead of the store's own counter would hide the changes written up to it.
            return SavedIndex(None, f"the saved name index claims change {covered}, the store has written {written}")
        return SavedIndex(data)

    def save(self, data: bytes) -> None:
        """Replace the saved index (one transaction, no audit entry: it is a copy of what the rows say)."""
        core = self._core
        key_id, blob = core.seal_raw(TABLE, ROW_ID, data)
        with core.write() as conn:
            conn.execute(
                f"INSERT INTO {TABLE}(id, key_id, payload) VALUES (?, ?, ?) "
                "ON CONFLICT(id) DO UPDATE SET key_id = excluded.key_id, payload = excluded.payload",
                (ROW_ID, key_id, blob),
            )


def _covered(data: bytes) -> object:
    """The change number a saved index says it covers; None when it is not of the current format
    (the index then refuses it and names its format, core/search.py)."""
    try:
        return snapshot_header(data)[0].get("change_seq")
    except ValueError:
        return None
