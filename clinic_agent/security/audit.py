"""The audit chain: every entry is MACed together with the MAC of the entry before it.

    mac_i = HMAC-SHA256(K_audit, canonical(entry_i) || mac_{i-1}),   mac_0 = HMAC(K_audit, "genesis" || store id)

Changing, deleting, inserting or reordering any entry breaks the chain at that entry, and nobody
without K_audit can recompute it. Removing entries from the *end* cannot be seen locally; the
chain head is anchored on the platform at each sync for that.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from clinic_agent.core.model import AuditEntry
from clinic_agent.security import crypto


def genesis_mac(key: bytes, store_id: str) -> bytes:
    """The MAC the first entry is chained to."""
    return crypto.mac(key, b"clinic-agent audit genesis\x1f" + store_id.encode())


def canonical(entry: AuditEntry) -> bytes:
    """The bytes an entry's MAC covers (everything but the MAC)."""
    return canonical_of(
        entry.seq, entry.at.isoformat(), entry.actor, entry.action, entry.object_type, entry.object_id, entry.detail
    )


def canonical_of(seq: int, at: str, actor: str, action: str, object_type: str, object_id: str, detail: str) -> bytes:
    """``canonical`` of an entry not made yet, from its fields (``at`` as stored): an entry is made
    once, with its MAC, in every commit that appends one."""
    return "\x1f".join((str(seq), at, actor, action, object_type, object_id, detail)).encode()


def chain_mac(key: bytes, entry: AuditEntry, previous_mac: bytes) -> bytes:
    """The MAC of an entry, given the MAC of the one before it."""
    return link_mac(key, canonical(entry), previous_mac)


def link_mac(key: bytes, canonical_bytes: bytes, previous_mac: bytes) -> bytes:
    """``chain_mac`` of an entry given as its ``canonical`` bytes (``canonical_of`` an entry not made yet)."""
    return crypto.mac(key, canonical_bytes + previous_mac)


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """The outcome of walking the chain."""

    entries: int
    first_bad_seq: int | None = None
    problem: str = ""

    @property
    def ok(self) -> bool:
        """True when every entry checked out."""
        return self.first_bad_seq is None


def verify(key: bytes, store_id: str, entries: Iterable[AuditEntry]) -> VerifyResult:
    """Walk the chain in order; name the first entry that is not what was written."""
    previous = genesis_mac(key, store_id)
    expected_seq = 1
    count = 0
    for entry in entries:
        if entry.seq != expected_seq:
            if entry.seq > expected_seq:
                missing = f"{expected_seq}" if entry.seq == expected_seq + 1 else f"{expected_seq}-{entry.seq - 1}"
                return VerifyResult(count, expected_seq, f"audit entries {missing} are missing (deleted)")
            return VerifyResult(count, entry.seq, f"audit entry {entry.seq} appears out of order")
        if not crypto.macs_equal(chain_mac(key, entry, previous), entry.mac):
            return VerifyResult(
                count, entry.seq, f"audit entry {entry.seq} is not what was written (changed, inserted or reordered)"
            )
        previous = entry.mac
        expected_seq += 1
        count += 1
    return VerifyResult(count)
