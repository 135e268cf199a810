"""Everything the store checks about itself beyond one row: changes it did not make.

- every row of the bound tables decrypts, and its clear columns agree with the copy inside
  (store/binding.py);
- every record the audit log names is still there, and every record there is named by the log (a
  row deleted or slipped in behind the agent's back is found, by id);
- the audit chain is as long as its anchor says (store/anchor.py), and any cut found at an unlock
  or a write is kept in the chain itself as an ``audit.cut`` entry, so it is reported ever after.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from clinic_agent.core.errors import StoreCorrupted
from clinic_agent.core.model import EntryKind
from clinic_agent.store.binding import BOUND_COLUMNS, ROW_KEY
from clinic_agent.store.core import Core

_BATCH = 500
# Which audit object types name rows of which table (entries are named by their kind).
_NAMED_BY = {
    "residents": ("resident",),
    "readings": ("reading",),
    "entries": tuple(kind.value for kind in EntryKind),
    "users": ("user",),
    "quarantine": ("quarantine",),
}
FINDINGS = ("audit.cut", "audit.anchor_missing", "audit.anchor_unreadable")
RESTORES = ("store.restored", "audit.behind_restored")  # known, audited cuts: said, not alarms
_SHOWN = 20


@dataclass(slots=True)
class IntegrityReport:
    """What a full check found; empty lists mean nothing was wrong."""

    rows_checked: int = 0
    bad_rows: list[StoreCorrupted] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # "readings 3f2a…: named by audit entry 17, not in the table"
    unaccounted: list[str] = field(default_factory=list)  # "readings 9c1b…: in the table, named by no audit entry"
    anchor: str = ""  # why the chain is not the one anchored ('' when it is)
    findings: list[str] = field(default_factory=list)  # cuts found earlier and kept in the chain
    restores: list[str] = field(default_factory=list)  # backups restored, and the platform's anchors they explain

    @property
    def ok(self) -> bool:
        """True when nothing was found."""
        return not (self.bad_rows or self.missing or self.unaccounted or self.anchor or self.findings)


Row = tuple[Any, ...]  # rowid, id, key_id, payload, then the table's bound columns


def _bound_rows(core: Core, table: str) -> list[list[Row]]:
    columns = ", ".join(("id", "key_id", "payload", *BOUND_COLUMNS[table]))
    batches: list[list[Row]] = []
    after = 0
    while True:
        with core.read() as conn:
            rows = conn.execute(
                f"SELECT rowid, {columns} FROM {table} WHERE rowid > ? ORDER BY rowid LIMIT ?", (after, _BATCH)
            ).fetchall()
        if not rows:
            return batches
        batches.append([tuple(r) for r in rows])
        after = int(rows[-1][0])


def _clear(table: str, row: Row) -> dict[str, object]:
    return dict(zip(BOUND_COLUMNS[table], row[4:], strict=True))


def scan_rows(core: Core, report: IntegrityReport) -> None:
    """Open every row of the bound tables, comparing its clear columns with the copy inside."""
    for table in BOUND_COLUMNS:
        for batch in _bound_rows(core, table):
            for row in batch:
                report.rows_checked += 1
                try:
                    core.open(table, row[1], row[2], row[3], row=_clear(table, row))
                except StoreCorrupted as exc:
                    report.bad_rows.append(exc)


def bind_legacy_rows(core: Core) -> int:
    """Give every row written before rows were bound its copy of the clear columns (once, at unlock)."""
    bound = 0
    for table in BOUND_COLUMNS:
        for batch in _bound_rows(core, table):
            with core.write() as conn:
                for row in batch:
                    row_id = row[1]
                    try:
                        data = core.open(table, row_id, row[2], row[3])
                    except StoreCorrupted:
                        continue  # reported by every read and by `audit verify`; left as it is
                    if ROW_KEY in data:
                        continue
                    new_key, new_blob = core.seal(table, row_id, data, row=_clear(table, row))
                    conn.execute(
                        f"UPDATE {table} SET key_id = ?, payload = ? WHERE id = ?", (new_key, new_blob, row_id)
                    )
                    bound += 1
    with core.write() as conn:
        conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('rows_bound', '1')")
    core.rows_bound = True
    return bound


def rows_are_bound(core: Core) -> bool:
    """Whether every row has been given its copy of the clear columns."""
    with core.read() as conn:
        row = conn.execute("SELECT value FROM meta WHERE key = 'rows_bound'").fetchone()
    return row is not None and row[0] == "1"


def census(core: Core, report: IntegrityReport) -> None:
    """Compare the records the audit log names with the rows there are."""
    for table, object_types in _NAMED_BY.items():
        marks = ", ".join("?" * len(object_types))
        with core.read() as conn:
            named = dict(
                conn.execute(
                    f"SELECT object_id, min(seq) FROM audit WHERE object_type IN ({marks}) AND object_id != ''"
                    " GROUP BY object_id",
                    object_types,
                ).fetchall()
            )
            present = {str(r[0]) for r in conn.execute(f"SELECT id FROM {table}")}
        for object_id in sorted(set(named) - present, key=lambda i: named[i]):
            report.missing.append(f"{table} {object_id}: named by audit entry {named[object_id]}, not in the table")
        for object_id in sorted(present - set(named)):
            report.unaccounted.append(f"{table} {object_id}: in the table, named by no audit entry")


def check_anchor(core: Core, chain_length: int, report: IntegrityReport) -> None:
    """Compare the chain with its anchor, and collect the cuts found earlier."""
    anchor = core.anchor_file.read(core.keys().audit_key)
    with core.read() as conn:
        anchored_before = conn.execute("SELECT value FROM meta WHERE key = 'anchored'").fetchone() is not None
        if anchor is None:
            if anchored_before:
                report.anchor = (
                    "the audit anchor file is missing or unreadable: entries removed from the end cannot be seen"
                )
        elif anchor.seq > chain_length:
            report.anchor = (
                f"the audit log was cut: it ends at entry {chain_length} (the last that checks out), "
                f"but entry {anchor.seq} had been written"
            )
        else:
            row = conn.execute("SELECT mac FROM audit WHERE seq = ?", (anchor.seq,)).fetchone()
            if row is None or bytes(row[0]) != anchor.mac:
                report.anchor = (
                    f"audit entry {anchor.seq} is not the one written: the log was cut at or before it "
                    "and written again"
                )
        findings = conn.execute(
            f"SELECT seq, at, detail FROM audit WHERE action IN ({', '.join('?' * len(FINDINGS))}) ORDER BY seq",
            FINDINGS,
        ).fetchall()
        restores = conn.execute(
            f"SELECT seq, at, detail FROM audit WHERE action IN ({', '.join('?' * len(RESTORES))}) ORDER BY seq",
            RESTORES,
        ).fetchall()
    report.findings = [f"entry {seq} ({at[:16]}): {detail}" for seq, at, detail in findings]
    report.restores = [f"entry {seq} ({at[:16]}): {detail}" for seq, at, detail in restores]


def shown(items: list[str]) -> list[str]:
    """At most a screenful, saying how many more there are."""
    return items if len(items) <= _SHOWN else [*items[:_SHOWN], f"... and {len(items) - _SHOWN} more"]
