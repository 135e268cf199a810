"""Data-key rotation and passphrase changes: key-file work that keeps the store readable throughout.

Rotation writes a keyring holding the old and the new data key *before* any row is written under
the new one, re-encrypts rows in small transactions (the agent keeps working meanwhile), and retires
an old key only when no row uses it. A crash at any point leaves every row readable; running
rotation again finishes the job.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from clinic_agent.core.errors import StoreCorrupted, StoreLocked
from clinic_agent.core.sync_values import SYNCED_TABLES
from clinic_agent.runtime.agent import Agent
from clinic_agent.security.keys import Keyring

# Tables whose rows carry (id, key_id, payload); the synced tables' base copies are (base_key_id, base).
ENCRYPTED_TABLES = (
    "residents",
    "entries",
    "readings",
    "frames",
    "quarantine",
    "users",
    "drafts",
    "search_index",
    *("sync_conflicts", "sync_parked", "sync_secrets"),
)
BATCH = 200


@dataclass(frozen=True, slots=True)
class RotationReport:
    """What a rotation did."""

    current: str
    reencrypted: int
    retired: list[str]
    kept: list[str]
    unreadable_rows: list[str]


def rotate(agent: Agent, *, actor: str, new_key: bool = True) -> RotationReport:
    """Make a new data key current (unless resuming), re-encrypt every row, retire unused keys."""
    vault = agent.vault
    if vault is None or agent.store.keyring is None:
        raise StoreLocked("unlock the store before rotating its data key")
    keyring = vault.keyring
    if new_key:
        keyring = dataclasses.replace(keyring, data_keys=dict(keyring.data_keys), _ciphers={})
        keyring.add_data_key()
        _save(agent, keyring)  # durable before the first row is written under the new key
    moved, unreadable = _reencrypt_all(agent)
    retired, kept = [], []
    for key_id in sorted(set(keyring.data_keys) - {keyring.current}):
        if _rows_using(agent, key_id):
            kept.append(key_id)
        else:
            retired.append(key_id)
    if retired:
        smaller = dataclasses.replace(keyring, data_keys=dict(keyring.data_keys), _ciphers={})
        for key_id in retired:
            smaller.retire(key_id)
        _save(agent, smaller)
        keyring = smaller
    detail = f"current {keyring.current}; {moved} rows re-encrypted; retired {','.join(retired) or '-'}"
    agent.store.audit.record(actor, "key.rotate", "store", agent.store.store_id, detail)
    return RotationReport(keyring.current, moved, retired, kept, unreadable)


def _save(agent: Agent, keyring: Keyring) -> None:
    vault = agent.vault
    if vault is None:
        raise StoreLocked("the store was locked during rotation; run it again after unlocking")
    vault.keyfile.write_keyring(vault.vault_key, keyring)
    vault.keyfile.save()
    vault.keyring = keyring
    agent.store.core.keyring = keyring


def _reencrypt_all(agent: Agent) -> tuple[int, list[str]]:
    moved, unreadable = 0, list[str]()
    for table in ENCRYPTED_TABLES:
        n, bad = _reencrypt(agent, table, "key_id", "payload", table)
        moved, unreadable = moved + n, unreadable + bad
    for table in SYNCED_TABLES:
        n, bad = _reencrypt(agent, table, "base_key_id", "base", f"{table}.base")
        moved, unreadable = moved + n, unreadable + bad
    return moved, unreadable


def _reencrypt(agent: Agent, table: str, key_column: str, blob_column: str, aad_table: str) -> tuple[int, list[str]]:
    core = agent.store.core
    moved, skip = 0, set[str]()
    while True:
        current = core.keys().current
        with core.write() as conn:
            rows = conn.execute(
                f"SELECT id, {key_column}, {blob_column} FROM {table} WHERE {key_column} IS NOT NULL"
                f" AND {key_column} != ? ORDER BY rowid LIMIT ?",
                (current, BATCH + len(skip)),
            ).fetchall()
            todo = [r for r in rows if r[0] not in skip]
            for row_id, key_id, blob in todo:
                try:
                    # The bytes as sealed, not read as JSON: the saved name index is not (store/search_index.py).
                    plaintext = core.open_raw(aad_table, row_id, key_id, blob)
                except StoreCorrupted:
                    skip.add(row_id)  # tampered: left as it is, and its key is kept
                    continue
                new_key_id, new_blob = core.seal_raw(aad_table, row_id, plaintext)
                conn.execute(
                    f"UPDATE {table} SET {key_column} = ?, {blob_column} = ? WHERE id = ? AND {key_column} = ?",
                    (new_key_id, new_blob, row_id, key_id),
                )
                moved += 1
        if not todo or all(r[0] in skip for r in todo):
            return moved, sorted(f"{table}:{r}" for r in skip)


def _rows_using(agent: Agent, key_id: str) -> int:
    total = 0
    with agent.store.core.read() as conn:
        for table in ENCRYPTED_TABLES:
            total += conn.execute(f"SELECT count(*) FROM {table} WHERE key_id = ?", (key_id,)).fetchone()[0]
        for table in SYNCED_TABLES:
            total += conn.execute(f"SELECT count(*) FROM {table} WHERE base_key_id = ?", (key_id,)).fetchone()[0]
    return int(total)


def change_passphrase(agent: Agent, *, current: str, new: str, user: str | None, actor: str) -> str:
    """Rewrap the vault key under a new passphrase for the slot the current one opens; return its user."""
    vault = agent.open_with_passphrase(current, user, actor=actor)
    slot_user = vault.opened_by.removeprefix("passphrase:")
    agent.keyfile.add_passphrase_slot(vault.vault_key, slot_user, new, agent.config.kdf)
    agent.keyfile.save()
    if agent.locked:  # no audit key yet: the event joins the chain at the next unlock
        agent.store.audit.note_while_locked(actor, "passphrase.change", f"slot {slot_user}")
    else:
        agent.store.audit.record(actor, "passphrase.change", "slot", slot_user)
    return slot_user


def add_passphrase_slot(agent: Agent, *, user: str, new: str, actor: str) -> None:
    """Give another user a passphrase slot of their own (the caller's vault must be open)."""
    vault = agent.vault
    if vault is None:
        raise StoreLocked("unlock the store before adding a passphrase slot")
    agent.keyfile.add_passphrase_slot(vault.vault_key, user, new, agent.config.kdf)
    agent.keyfile.save()
    agent.store.audit.record(actor, "passphrase.add", "slot", user)
