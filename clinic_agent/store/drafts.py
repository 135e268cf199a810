"""Forms a doctor had not finished when the terminal locked, kept encrypted until they are taken back.

A draft is one row (id, key_id, payload): whose draft it is, which form, and what was typed are all
inside the encrypted payload, so the table shows nothing but how many drafts there are. Saving and
deleting are each one transaction with their audit entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from clinic_agent.core.errors import RecordNotFound, StoreCorrupted
from clinic_agent.core.model import new_id
from clinic_agent.store.core import Core

TABLE = "drafts"


@dataclass(frozen=True, slots=True)
class Draft:
    """One unfinished form."""

    id: str
    user: str
    saved_at: str
    data: dict[str, Any]


class Drafts:
    """The drafts of every user (each user sees only their own)."""

    def __init__(self, core: Core) -> None:
        self._core = core

    def save(self, user: str, data: dict[str, Any], *, actor: str) -> str:
        """Keep a draft; returns its id."""
        core = self._core
        draft_id = new_id()
        payload = {"user": user, "saved_at": core.clock().isoformat(), "data": data}
        with core.write() as conn:
            key_id, blob = core.seal(TABLE, draft_id, payload)
            conn.execute(f"INSERT INTO {TABLE}(id, key_id, payload) VALUES (?, ?, ?)", (draft_id, key_id, blob))
            core.append_audit(conn, actor, "draft.save", "draft", draft_id)
        return draft_id

    def of_user(self, user: str) -> tuple[list[Draft], list[StoreCorrupted]]:
        """A user's drafts, oldest first (a row that fails its check is named, never returned)."""
        with self._core.read() as conn:
            rows = conn.execute(f"SELECT id, key_id, payload FROM {TABLE}").fetchall()
        found, problems = [], []
        for draft_id, key_id, blob in rows:
            try:
                payload = self._core.open(TABLE, draft_id, key_id, blob)
            except StoreCorrupted as exc:
                problems.append(exc)
                continue
            if payload.get("user") == user:
                found.append(Draft(draft_id, user, str(payload.get("saved_at")), dict(payload.get("data") or {})))
        return sorted(found, key=lambda d: d.saved_at), problems

    def delete(self, user: str, draft_id: str, *, actor: str) -> None:
        """Remove one of a user's drafts (taken back or discarded)."""
        core = self._core
        with core.write() as conn:
            row = conn.execute(f"SELECT key_id, payload FROM {TABLE} WHERE id = ?", (draft_id,)).fetchone()
            if row is None or core.open(TABLE, draft_id, row[0], row[1]).get("user") != user:
                raise RecordNotFound(f"no draft {draft_id}")
            conn.execute(f"DELETE FROM {TABLE} WHERE id = ?", (draft_id,))
            core.append_audit(conn, actor, "draft.delete", "draft", draft_id)
