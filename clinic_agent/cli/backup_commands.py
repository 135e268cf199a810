"""`clinic-agent backup [DIR]` and `clinic-agent restore BACKUP`."""

from __future__ import annotations

import argparse
import base64
import os
import shutil
from pathlib import Path
from typing import Any

from clinic_agent.cli import prompts
from clinic_agent.cli.backend import os_user, passphrase_needed
from clinic_agent.cli.commands import _command, backend, home_of, passphrase_source, show, user_of
from clinic_agent.core.errors import AccessDenied, DaemonNotRunning, InvalidInput, StorageFailed
from clinic_agent.core.fsutil import ensure_private_directory, fsync_directory


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add the commands backup and backups (listed in ``clinic_agent.cli.COMMANDS``)."""
    p = _command(
        sub,
        common,
        "backup",
        "take a verified backup of the store (still encrypted, with its key file) while the agent keeps working",
    )
    p.add_argument(
        "dir",
        nargs="?",
        metavar="DIR",
        help="also copy it into DIR (a USB stick); without DIR it stays in the data directory's backups/",
    )
    p.set_defaults(handler=cmd_backup)
    p = _command(sub, common, "backups", "list the backups kept in the data directory")
    p.set_defaults(handler=cmd_backups)
    p = _command(
        sub,
        common,
        "restore",
        "replace the store with a backup (verified first; the replaced files are kept); the agent must be stopped",
    )
    p.add_argument("backup", metavar="BACKUP", help="the backup directory (clinic-agent-backup-...)")
    p.add_argument("--recovery", action="store_true", help="open the backup's key file with the recovery code")
    p.set_defaults(handler=cmd_restore)


def cmd_backup(args: argparse.Namespace) -> int:
    """Take a backup, through the daemon when it runs; copy it to DIR if asked."""
    target = Path(args.dir).expanduser().absolute() if args.dir else None
    if target is not None:
        ensure_private_directory(target)  # refuse early, before any work: a stick that is not there
    with backend(args) as chosen:
        made = chosen.call("backup.create", {})
        if target is not None:
            made = _copy_out(chosen, made, target)
    show(args, made, _backup_text)
    return 0


def _copy_out(chosen: Any, made: dict[str, Any], target: Path) -> dict[str, Any]:
    """Read the backup's files from the agent, write them under DIR as this login, and verify the copy."""
    from clinic_agent.store import backup  # loaded by the backup commands only, not by every command

    name = made["name"]
    final = target / name
    partial = target / f".partial-{name}"
    shutil.rmtree(partial, ignore_errors=True)
    ensure_private_directory(partial)
    try:
        _fetch(chosen, name, backup.MANIFEST, partial / backup.MANIFEST)
        for file in backup.read_manifest(partial)["files"]:
            if file not in backup.COPIED:
                raise InvalidInput(f"the backup lists an unexpected file {file!r}")
            _fetch(chosen, name, file, partial / file)
        verified = backup.verify(partial, manifest_name=name)
        if final.exists():
            raise InvalidInput(f"{final} already exists; nothing was overwritten")
        os.rename(partial, final)
        fsync_directory(target)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return {**made, "path": str(final), "kept_in_data_directory": made["path"], "copy_verified": True} | {
        "bytes": verified.as_json()["bytes"]
    }


def _fetch(chosen: Any, name: str, file: str, dest: Path) -> None:
    offset = 0
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        while True:
            chunk = chosen.call("backup.read", {"name": name, "file": file, "offset": offset})
            data = base64.b64decode(chunk["data"])
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            offset += len(data)
            if chunk["eof"]:
                break
        os.fsync(fd)
    finally:
        os.close(fd)


def _backup_text(r: dict[str, Any]) -> str:
    checked = "audit log and every record verified" if r.get("audit_verified") else "integrity checked"
    config = ", with the configuration (agent.toml, sealed)" if r.get("config") else ", without a configuration"
    lines = [
        f"Backup {r['name']}: {r['readings']} readings, {r['residents']} residents, {r['audit_entries']} audit "
        f"entries{config}; {checked}.",
        f"  in {r['path']}",
    ]
    if r.get("kept_in_data_directory"):
        lines.append(f"  (also kept in {r['kept_in_data_directory']})")
    lines.append(
        "  It is still encrypted: it opens with a passphrase or the recovery code, never without. "
        "Keep it away from the PC."
    )
    return "\n".join(lines)


def cmd_backups(args: argparse.Namespace) -> int:
    """List the kept backups."""
    with backend(args) as chosen:
        found = chosen.call("backup.list", {})
    show(
        args,
        found,
        lambda r: (
            "\n".join(f"{b['name']}  {b['readings']} readings  {b['bytes'] // 1024} KiB" for b in r["backups"])
            or "No backups kept yet."
        ),
    )
    return 0


def _daemon_running(args: argparse.Namespace) -> bool:
    from clinic_agent.api.client import ApiClient

    config = home_of(args).load_config()
    try:
        ApiClient(config.api.socket, timeout=5).connect().close()
    except DaemonNotRunning:
        return False
    return True


def cmd_restore(args: argparse.Namespace) -> int:
    """Verify a backup with its own key file, then put it in place of the store."""
    from clinic_agent.runtime.home import no_access
    from clinic_agent.security.keys import KeyFile
    from clinic_agent.store import backup

    source = Path(args.backup).expanduser().absolute()
    manifest = backup.read_manifest(source)
    home = home_of(args)
    if _daemon_running(args):
        raise StorageFailed(
            "the agent is running and owns the database: stop it first (systemctl stop clinic-agent), "
            "then restore again; nothing was changed"
        )
    backup.check_files(source, manifest)
    keyfile = KeyFile.load(source / backup.KEYS)
    if args.recovery:
        code = prompts.passphrase(None, env="CLINIC_AGENT_RECOVERY_CODE", prompt="Recovery code: ")
        if code is None:
            raise InvalidInput("a recovery code is needed: type it on a terminal or set CLINIC_AGENT_RECOVERY_CODE")
        vault = keyfile.open_with_recovery_code(code)
    else:
        secret = passphrase_source(args)()
        if secret is None:
            raise passphrase_needed("the passphrase of the backup")
        vault = keyfile.open_with_passphrase(secret, user_of(args))
    try:
        ensure_private_directory(home.root)
        result = backup.restore(
            source,
            home.db_path,
            home.keys_path,
            keyring=vault.keyring,
            actor=f"cli:{_who()} ({vault.opened_by})",
            config_path=home.config_path,
        )
    except PermissionError:
        raise no_access(home.root) from None
    except AccessDenied:
        raise
    show(args, result, _restore_text)
    return 0


def _who() -> str:
    """The login restoring, and who ran sudo when it is root by sudo."""
    sudo = os.environ.get("SUDO_USER")
    return f"{os_user()} (sudo by {sudo})" if sudo else os_user()


def _restore_text(r: dict[str, Any]) -> str:
    lines = [
        f"Restored {r['name']} (made {r['created_at']}): {r['readings']} readings, {r['residents']} residents; "
        "audit log and every record verified.",
    ]
    if r.get("config_restored"):
        lines.append(f"The configuration of that day is back in {r['config_restored']}.")
    else:
        lines.append("The backup holds no configuration: agent.toml was left as it is.")
    if r.get("replaced_kept_in"):
        lines.append(f"The files it replaced are kept in {r['replaced_kept_in']}.")
    lines.append(
        f"The restore is audit entry {r['audit_entry']}; the log goes on from the backup's last entry "
        f"({r['backup_audit_head']})"
        + (
            f"; the replaced copy had reached entry {r['replaced_audit_head']}, and the platform may hold a later "
            "head than this log: the next sync records that as this restore, not as tampering."
            if (r.get("replaced_audit_head") or 0) > r["backup_audit_head"]
            else "."
        )
    )
    lines.append(
        "The key file is the backup's: the passphrases and recovery code of that day open it. "
        "Start the agent again (systemctl start clinic-agent)."
    )
    return "\n".join(lines)
