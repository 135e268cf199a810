"""The schema this version writes, known without sqlite-utils: its migrations by name.

Opening a store whose migrations are exactly these needs none of the migration machinery, so
`clinic-agent status` without a daemon does not load sqlite-utils (and click, pluggy, dateutil
behind it; issue 13: start-up). ``clinic_agent.store.schema`` holds the migrations themselves;
``tests/unit/clinic_agent/test_schema_version.py`` holds the two lists equal.
"""

from __future__ import annotations

import sqlite3

MIGRATION_SET = "clinic-agent"
MIGRATIONS_TABLE = "_sqlite_migrations"  # sqlite-utils' own name for the table of applied migrations
NAMES = (
    "0001_initial",
    "0002_sync",
    "0003_audit_by_object",
    "0004_guessing_limits",
    "0005_drafts",
    "0006_outbox_counts",
    "0007_sync_parts",
    "0008_search_index",
    "0009_outbox_one_index",
    "0010_outbox_urgent",
    "0011_audit_by_object_lean",
)

# The outbox's row count per state is kept in ``meta`` under this prefix (schema 0006).
OUTBOX_COUNT_PREFIX = "outbox."

# The last column of the outbox's index by record (schema 0009): 0 for a pending row, its seq for any
# other, so the index is unique on a record's one pending row; an upsert names it as its conflict target.
ONE_PENDING_KEY = "CASE WHEN state = 'pending' THEN 0 ELSE seq END"

# The pending outbox rows that go before the rest, in an index of their own (schema 0010); the others
# (priority 0, most rows) go in seq order, the table's own, with no index to write.
URGENT = "state = 'pending' AND priority <> 0"

# The audit entries the index by object holds (schema 0011): all but a reading's creation, which nothing
# looks up by the reading's id. A query by object repeats this term, or SQLite does not use the index.
BY_OBJECT = "action <> 'reading.create'"


def is_current(conn: sqlite3.Connection) -> bool:
    """Whether the database has had exactly this version's migrations, in order: nothing to upgrade or refuse.

    Anything else (one pending, one of a newer agent, no table) is for ``schema.upgrade`` to decide."""
    try:
        rows = conn.execute(
            f"SELECT name FROM {MIGRATIONS_TABLE} WHERE migration_set = ? ORDER BY rowid",
            (MIGRATION_SET,),
        ).fetchall()
    except sqlite3.OperationalError:  # no such table: a database this agent never migrated
        return False
    return tuple(name for (name,) in rows) == NAMES
