"""Backups of the store: a consistent online copy, still encrypted, with its key file and audit anchor.

A backup is a directory ``clinic-agent-backup-<UTC time>[-label]`` holding

    clinic.db       the database, copied through SQLite's backup API from one read snapshot
    keys.json       the key file (without it nothing opens; the passphrases and recovery code open it)
    clinic.anchor   the audit chain's anchor, read *before* the snapshot began: the anchor is written
                    only after a commit, so it can lag the copied chain (which reads as "another
                    writer went on") but never lead it (which would read as a cut audit log)
    agent.toml.sealed  the configuration (agent.toml: clinic code, platform namespace, devices), sealed
                    to the store's public key like a reading stored while locked: it holds no
                    credential (the platform's token and key are in the database, encrypted) but
                    may hold residents' ID card numbers (a device's ``users`` slots), and a backup
                    is never in clear; only the keys of the backup's key file open it
    manifest.json   the store id, schema, audit head, counts and the SHA-256 of each file

The machine key is never copied: a backup opens only with a passphrase or the recovery code.
A backup is written under a hidden ``.partial-`` name, verified by opening it with the store's own
code (SQLite's integrity check; with the keys, the whole audit verification, anchor included), and
only then renamed to its final name, so a directory with a final name is a verified backup.

Restoring verifies the backup the same way first (the configuration opened and read as TOML), then
moves the database, its anchor and key file aside into ``replaced-<UTC time>/`` (kept, never
deleted) and puts the backup's in their place, and copies the configuration it replaces there too
before putting the backup's back (with the mode and owner of the one it replaces). With
the backup's keys it then writes a ``store.restored`` entry into the restored audit log: which backup,
made when, by whom, and where the log of the replaced copy had reached. The restored log is behind
the head the platform holds for this store (anchored at each sync before the restore); the sync
takes that for this restore, not for a cut, only when the platform's anchor was written before the
restore entry, and records so in the log (store/journal.py, ``compare_with_anchor``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import sqlite3
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clinic_agent import __version__
from clinic_agent.core.errors import (
    InvalidInput,
    StorageFailed,
    StoreCorrupted,
    StoreMissing,
)
from clinic_agent.core.fsutil import MIB, ensure_private_directory, fsync_directory, read_bounded

if TYPE_CHECKING:
    from clinic_agent.security.keys import Keyring

_LOGGER = logging.getLogger(__name__)

FORMAT = 1
DB, KEYS, ANCHOR, MANIFEST = "clinic.db", "keys.json", "clinic.anchor", "manifest.json"
CONFIG = "agent.toml.sealed"
FILES = (DB, KEYS, ANCHOR, CONFIG, MANIFEST)
COPIED = (DB, KEYS, ANCHOR, CONFIG)  # the files a manifest may list
CONFIG_LIMIT = MIB  # agent.toml is a few KiB, as runtime.config reads it
PREFIX = "clinic-agent-backup-"
NAME = re.compile(r"^clinic-agent-backup-\d{8}T\d{6}Z(-[a-z0-9-]{1,40})?$")
MIGRATION_SET = "clinic-agent"
_CHUNK = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Verified:
    """What verifying a backup found (it raised if anything was wrong)."""

    path: Path
    manifest: dict[str, Any]
    audit_verified: bool
    config: bytes | None = None  # the configuration, opened (only when verified with the keys)

    def as_json(self) -> dict[str, Any]:
        """For the API and --json."""
        return {
            "path": str(self.path),
            "name": self.path.name,
            "store_id": self.manifest["store_id"],
            "created_at": self.manifest["created_at"],
            "agent_version": self.manifest["agent_version"],
            "schema": self.manifest["schema"][-1] if self.manifest["schema"] else "",
            "audit_entries": self.manifest["audit_entries"],
            "readings": self.manifest["readings"],
            "residents": self.manifest["residents"],
            "bytes": sum(int(f["bytes"]) for f in self.manifest["files"].values()),
            "audit_verified": self.audit_verified,
            "config": CONFIG in self.manifest["files"],
        }


def backups_dir(home_root: Path) -> Path:
    """Where the agent keeps its own backups (the daily ones, those taken before an upgrade, and copies
    made through the daemon): inside the data directory, where the service may write."""
    return home_root / "backups"


def anchor_path(db_path: Path) -> Path:
    """Where the store keeps the audit anchor of a database (store/core.py names it so)."""
    return db_path.with_name(db_path.stem + ".anchor")


def _stamp(clock: datetime | None = None) -> str:
    return (clock or datetime.now(UTC)).astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _new_name(parent: Path, label: str) -> str:
    suffix = f"-{label}" if label else ""
    base = f"{PREFIX}{_stamp()}"
    name = base + suffix
    while (parent / name).exists() or (parent / f".partial-{name}").exists():
        time.sleep(1)  # one backup a second at most: the name is its time
        base = f"{PREFIX}{_stamp()}"
        name = base + suffix
    return name


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def take(
    db_path: Path,
    keys_path: Path,
    parent: Path,
    *,
    label: str = "",
    keyring: Keyring | None = None,
    config_path: Path | None = None,
) -> Verified:
    """Copy the store at ``db_path`` (and the configuration at ``config_path``, sealed) into a new
    verified backup directory under ``parent``.

    Safe while the store is in use: the copy is one read snapshot, taken without the writers' lock.
    """
    if label and not re.fullmatch(r"[a-z0-9-]{1,40}", label):
        raise InvalidInput(f"a backup label is lower-case letters, digits and '-': {label!r}")
    if not db_path.exists():
        raise StoreMissing(f"no database at {db_path}: nothing to back up")
    ensure_private_directory(parent)
    name = _new_name(parent, label)
    partial = parent / f".partial-{name}"
    ensure_private_directory(partial)
    try:
        manifest = _copy(db_path, keys_path, partial, config_path)
        verified = verify(partial, keyring=keyring, manifest_name=name)
        final = parent / name
        os.rename(partial, final)
        fsync_directory(parent)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return Verified(final, manifest, verified.audit_verified, verified.config)


def config_info(store_id: str) -> bytes:
    """What a sealed configuration is bound to: it opens as this store's configuration and nothing else."""
    return f"clinic-agent backup configuration {store_id}".encode()


def _seal_config(config_path: Path, keys_path: Path, into: Path) -> None:
    """agent.toml, sealed to the public key of the key file copied with it (none to seal when it is absent)."""
    from clinic_agent.security import crypto
    from clinic_agent.security.keys import KeyFile

    if not config_path.exists():
        return  # no agent.toml: the agent runs on its defaults, and so will the restored one
    text = read_bounded(config_path, CONFIG_LIMIT, "the configuration")  # unreadable: no backup, said in one line
    keyfile = KeyFile.load(keys_path)
    _write_private(into / CONFIG, crypto.seal_to(keyfile.sealing_public_key(), text, config_info(keyfile.store_id)))


def _copy(db_path: Path, keys_path: Path, into: Path, config_path: Path | None = None) -> dict[str, Any]:
    # The anchor first: written only after a commit, what is read now is never ahead of the snapshot below.
    try:
        anchor = anchor_path(db_path).read_bytes()
    except FileNotFoundError:
        anchor = None
    try:
        keys = keys_path.read_bytes()
    except FileNotFoundError:
        raise StoreMissing(f"the key file {keys_path} is missing: a backup without it could never be opened") from None
    dest_path = into / DB
    _write_private(dest_path, b"")
    try:
        src = sqlite3.connect(db_path, isolation_level=None, timeout=30)
        try:
            src.execute("BEGIN")
            facts = _facts(src)  # the first read fixes the snapshot the copy is made of
            dest = sqlite3.connect(dest_path, isolation_level=None)
            try:
                src.backup(dest)
            finally:
                dest.close()
            src.execute("COMMIT")
        finally:
            src.close()
    except sqlite3.Error as exc:
        raise StorageFailed(f"copying the database failed ({exc}); no backup was made") from None
    for leftover in ("-wal", "-shm", "-journal"):
        Path(str(dest_path) + leftover).unlink(missing_ok=True)
    _fsync(dest_path)
    _write_private(into / KEYS, keys)
    if anchor is not None:
        _write_private(into / ANCHOR, anchor)
    if config_path is not None:
        _seal_config(config_path, into / KEYS, into)
    files = {
        f: {"sha256": _sha256(into / f), "bytes": (into / f).stat().st_size} for f in COPIED if (into / f).exists()
    }
    manifest = {
        "format": FORMAT,
        "agent_version": __version__,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        **facts,
        "files": files,
    }
    _write_private(into / MANIFEST, json.dumps(manifest, indent=2).encode())
    fsync_directory(into)
    return manifest


def _facts(conn: sqlite3.Connection) -> dict[str, Any]:
    row = conn.execute("SELECT value FROM meta WHERE key = 'store_id'").fetchone()
    if row is None:
        raise StoreCorrupted("the database holds no store id: it is not a Clinic Agent store")
    schema = [
        str(r[0])
        for r in conn.execute(
            "SELECT name FROM _sqlite_migrations WHERE migration_set = ? ORDER BY id", (MIGRATION_SET,)
        )
    ]
    count = {t: int(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]) for t in ("audit", "readings")}
    residents = int(conn.execute("SELECT count(*) FROM residents WHERE deleted = 0").fetchone()[0])
    head = conn.execute("SELECT coalesce(max(seq), 0) FROM audit").fetchone()[0]
    return {
        "store_id": str(row[0]),
        "schema": schema,
        "audit_head": int(head),
        "audit_entries": count["audit"],
        "readings": count["readings"],
        "residents": residents,
    }


def read_manifest(directory: Path) -> dict[str, Any]:
    """A backup's manifest, checked for shape."""
    path = directory / MANIFEST
    if not directory.is_dir():
        raise InvalidInput(f"{directory} is not a backup directory")
    if not path.exists():
        raise InvalidInput(f"{directory} is not a Clinic Agent backup (it has no {MANIFEST})")
    try:
        manifest = json.loads(read_bounded(path, MIB, "the backup manifest"))
        if manifest["format"] != FORMAT:
            raise InvalidInput(f"{path}: backup format {manifest['format']} is not one this agent reads")
        required = ("store_id", "created_at", "schema", "files", "audit_entries", "readings", "residents")
        if any(key not in manifest for key in required):
            raise KeyError("manifest")
    except (ValueError, KeyError, TypeError):
        raise InvalidInput(f"{path} is damaged; this backup cannot be trusted") from None
    if not isinstance(manifest, dict):
        raise InvalidInput(f"{path} is damaged; this backup cannot be trusted")
    return manifest


def check_files(directory: Path, manifest: dict[str, Any]) -> None:
    """Every file the manifest lists is there with the same bytes."""
    for required in (DB, KEYS):
        if required not in manifest["files"]:
            raise StoreCorrupted(f"the backup {directory} does not list {required}; it cannot be restored")
    for name, info in manifest["files"].items():
        if name not in COPIED:
            raise StoreCorrupted(f"the backup {directory} lists an unexpected file {name!r}")
        path = directory / name
        if not path.exists():
            raise StoreCorrupted(f"{path} is missing: the backup is incomplete")
        if _sha256(path) != info["sha256"]:
            raise StoreCorrupted(f"{path} is not the file that was backed up (its checksum differs): damaged copy")


@contextlib.contextmanager
def _scratch_copy(directory: Path) -> Iterator[Path]:
    """A private working copy of a backup's files beside it: opening a database writes to it."""
    scratch = directory.parent / f".verify-{directory.name}-{os.getpid()}"
    shutil.rmtree(scratch, ignore_errors=True)
    ensure_private_directory(scratch)
    try:
        for name in (DB, KEYS, ANCHOR):
            if (directory / name).exists():
                shutil.copyfile(directory / name, scratch / name)
                os.chmod(scratch / name, 0o600)
        yield scratch
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def verify(directory: Path, *, keyring: Keyring | None = None, manifest_name: str | None = None) -> Verified:
    """Check a backup with the store's own code; raise StoreCorrupted naming what is wrong.

    Without keys: the files and their checksums, the key file, SQLite's integrity check, the store id.
    With the store's keyring: also the audit chain, its anchor (a backup must not look cut), every
    record against the log, and the configuration (it opens with the keys and reads as TOML).
    """
    from clinic_agent.security.keys import KeyFile
    from clinic_agent.store import Store

    manifest = read_manifest(directory)
    check_files(directory, manifest)
    shown = manifest_name or directory.name
    with _scratch_copy(directory) as scratch:
        keyfile = KeyFile.load(scratch / KEYS)
        if keyfile.store_id != manifest["store_id"]:
            raise StoreCorrupted(f"the key file in backup {shown} belongs to another store than its database")
        try:
            store = Store.open(scratch / DB, keyfile, upgrade=False)
        except StoreCorrupted as exc:
            raise StoreCorrupted(f"backup {shown} does not open: {exc.message}") from None
        try:
            verdict = store.integrity_check()
            if verdict != "ok":
                raise StoreCorrupted(f"backup {shown} fails SQLite's integrity check: {verdict}")
            if keyring is None:
                return Verified(directory, manifest, False)
            store.unlock(keyring, actor="agent (backup check)")
            chain, report = store.verify()
            if not chain.ok:
                raise StoreCorrupted(
                    f"backup {shown}: audit entry {chain.first_bad_seq} does not verify ({chain.problem})"
                )
            if not report.ok:
                found = (report.anchor or "") or "; ".join(
                    [p.message for p in report.bad_rows][:3] + report.missing[:3] + report.unaccounted[:3]
                )
                raise StoreCorrupted(f"backup {shown} does not verify: {found}")
        finally:
            store.close()
    config = _open_config(directory, manifest, keyring, shown) if CONFIG in manifest["files"] else None
    return Verified(directory, manifest, True, config)


def _open_config(directory: Path, manifest: dict[str, Any], keyring: Keyring, shown: str) -> bytes:
    """The backup's configuration, opened with the store's keys and checked to read as TOML."""
    import tomllib

    from clinic_agent.security import crypto

    blob = (directory / CONFIG).read_bytes()
    try:
        text = crypto.open_sealed(keyring.sealing_key(), blob, config_info(manifest["store_id"]))
        tomllib.loads(text.decode("utf-8"))
    except crypto.DecryptionFailed:
        raise StoreCorrupted(f"backup {shown}: its configuration does not open with the store's keys") from None
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise StoreCorrupted(f"backup {shown}: its configuration is not a readable agent.toml ({exc})") from None
    return text


def prune(parent: Path, keep: int) -> list[str]:
    """Delete all but the newest ``keep`` automatic (daily) backups; returns the names removed."""
    daily = sorted(p.name for p in parent.glob(f"{PREFIX}*-daily") if NAME.match(p.name))
    removed = daily[: max(0, len(daily) - keep)]
    for name in removed:
        shutil.rmtree(parent / name, ignore_errors=True)
    return removed


def backup_head(manifest: dict[str, Any]) -> int:
    """The last audit entry in a backup (manifests before ``audit_head`` was written: the count, the same)."""
    return int(manifest.get("audit_head", manifest["audit_entries"]))


def _audit_head(db_path: Path) -> int | None:
    """The last audit entry of a database, read without keys (None when it cannot be read)."""
    if not db_path.exists():
        return None
    try:
        conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=10)
        try:
            row = conn.execute("SELECT max(seq) FROM audit").fetchone()
        finally:
            conn.close()
    except sqlite3.Error:
        return None
    return int(row[0] or 0)


def restore(
    directory: Path,
    db_path: Path,
    keys_path: Path,
    *,
    keyring: Keyring | None,
    actor: str = "agent",
    config_path: Path | None = None,
) -> dict[str, Any]:
    """Replace the store at ``db_path`` with a verified backup; what it replaces is kept beside it.

    With the keyring, the restore is written into the restored audit log as ``actor``'s, and the
    backup's configuration (when it holds one) is put back at ``config_path``. The caller makes sure
    nothing has the database open (the daemon is stopped).
    """
    verified = verify(directory, keyring=keyring)
    replaced_head = _audit_head(db_path)
    home = db_path.parent
    kept = home / f"replaced-{_stamp()}"
    ensure_private_directory(kept)
    owner = home.stat()
    moved = []
    for path in (db_path, Path(f"{db_path}-wal"), Path(f"{db_path}-shm"), anchor_path(db_path), keys_path):
        if path.exists():
            os.rename(path, kept / path.name)
            moved.append(path.name)
    fsync_directory(kept)
    sources = {DB: db_path, KEYS: keys_path, ANCHOR: anchor_path(db_path)}
    for name, target in sources.items():
        if not (directory / name).exists():
            continue
        tmp = target.with_name(f".{target.name}.restoring")
        shutil.copyfile(directory / name, tmp)
        os.chmod(tmp, 0o600)
        if os.geteuid() == 0 and owner.st_uid != 0:
            os.chown(tmp, owner.st_uid, owner.st_gid)
        _fsync(tmp)
        os.rename(tmp, target)
    fsync_directory(home)
    if _sha256(db_path) != verified.manifest["files"][DB]["sha256"]:
        raise StorageFailed(f"the restored database differs from the backup; the replaced files are in {kept}")
    restored_config = None
    if config_path is not None and verified.config is not None:
        if _restore_config(verified.config, config_path, kept):
            moved.append(config_path.name)
        restored_config = str(config_path)
    result = {**verified.as_json(), "replaced_kept_in": str(kept) if moved else None, "replaced_files": moved}
    result["config_restored"] = restored_config
    if keyring is not None:
        result["audit_entry"] = _record_restore(db_path, keys_path, keyring, actor, verified, replaced_head, kept)
        if os.geteuid() == 0 and owner.st_uid != 0:  # what writing the entry made is the service user's too
            for path in (db_path, Path(f"{db_path}-wal"), Path(f"{db_path}-shm"), anchor_path(db_path)):
                with contextlib.suppress(FileNotFoundError):
                    os.chown(path, owner.st_uid, owner.st_gid)
    result["backup_audit_head"] = backup_head(verified.manifest)
    result["replaced_audit_head"] = replaced_head
    return result


def _restore_config(text: bytes, config_path: Path, kept: Path) -> bool:
    """Put the backup's configuration at ``config_path`` with the mode and owner of the one it replaces,
    a copy of which goes into ``kept`` (copied, not moved: /etc may be another file system). Whether
    there was one to replace."""
    replaced = config_path.stat() if config_path.exists() else None
    if replaced is not None:
        shutil.copy2(config_path, kept / config_path.name)
        _fsync(kept / config_path.name)
        fsync_directory(kept)
    tmp = config_path.with_name(f".{config_path.name}.restoring")
    tmp.unlink(missing_ok=True)
    _write_private(tmp, text)
    os.chmod(tmp, stat.S_IMODE(replaced.st_mode) if replaced else 0o640)
    if replaced is not None and os.geteuid() == 0:
        os.chown(tmp, replaced.st_uid, replaced.st_gid)  # the package's root:clinic, or the home's owner
    os.rename(tmp, config_path)
    fsync_directory(config_path.parent)
    return replaced is not None


def _record_restore(
    db_path: Path,
    keys_path: Path,
    keyring: Keyring,
    actor: str,
    verified: Verified,
    replaced_head: int | None,
    kept: Path,
) -> int:
    """Write the restore into the restored audit log; the new entry's sequence number."""
    from clinic_agent.security.keys import KeyFile
    from clinic_agent.store import Store

    manifest = verified.manifest
    ends = backup_head(manifest)
    if replaced_head is None:
        replaced = "the copy it replaced could not be read"
    elif replaced_head > ends:
        replaced = (
            f"the copy it replaced had reached entry {replaced_head}: entries {ends + 1}-{replaced_head} of that "
            f"log are not in this one (kept in {kept})"
        )
    else:
        replaced = f"the copy it replaced had reached entry {replaced_head} (kept in {kept})"
    store = Store.open(db_path, KeyFile.load(keys_path), upgrade=False)
    try:
        store.unlock(keyring, actor=actor)
        store.audit.record(
            actor,
            "store.restored",
            "backup",
            verified.path.name,
            f"{actor} restored backup {verified.path.name} made {manifest['created_at']}, its audit log ending at "
            f"entry {ends}; {replaced}",
        )
        return store.audit.head()[0]
    finally:
        store.close()


def list_backups(parent: Path) -> list[Path]:
    """The finished backups under ``parent``, oldest first."""
    if not parent.is_dir():
        return []
    return sorted(p for p in parent.iterdir() if p.is_dir() and NAME.match(p.name))
