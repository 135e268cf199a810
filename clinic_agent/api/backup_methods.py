"""Backups through the running daemon, which owns the database: make one, list them, read one's files.

A backup is made beside the store (``backups/`` in the data directory, where the service may write)
and verified there with the daemon's keys; the command then reads its files over the socket in
chunks and writes them where the technician asked, as the technician's own login.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from clinic_agent.api.methods import DOCTOR, TECHNICIAN, MethodTable
from clinic_agent.api.params import Params
from clinic_agent.core.errors import InvalidInput, RecordNotFound
from clinic_agent.runtime.agent import Agent, Caller
from clinic_agent.store import backup

METHODS = MethodTable()  # joined with the others in clinic_agent.api.registry
method = METHODS.method

BACKUP_ROLES = frozenset({DOCTOR, TECHNICIAN})
CHUNK = 512 * 1024  # base64 of it fits the API's 1 MiB frames


def backups_dir(agent: Agent) -> Path:
    """Where the daemon keeps backups."""
    return backup.backups_dir(agent.home.root)


@method("backup.create", roles=BACKUP_ROLES)
def _create(agent: Agent, caller: Caller, params: Params) -> dict[str, Any]:
    made = backup.take(
        agent.home.db_path,
        agent.home.keys_path,
        backups_dir(agent),
        keyring=agent.store.keyring,
        config_path=agent.home.config_path,
    )
    agent.store.audit.record(caller.actor, "backup", "store", agent.store.store_id, made.path.name)
    return made.as_json()


@method("backup.list", roles=BACKUP_ROLES, needs_keys=False)
def _list(agent: Agent, caller: Caller, params: Params) -> dict[str, Any]:
    found = []
    for path in backup.list_backups(backups_dir(agent)):
        try:
            manifest = backup.read_manifest(path)
        except InvalidInput:
            continue
        found.append(backup.Verified(path, manifest, audit_verified=False).as_json())
    return {"backups": found}


@method("backup.read", roles=BACKUP_ROLES)
def _read(agent: Agent, caller: Caller, params: Params) -> dict[str, Any]:
    name = params.text("name", max_length=80)
    file = params.text("file", max_length=20)
    offset = params.integer("offset", low=0, high=1 << 40)
    if not backup.NAME.match(name) or file not in backup.FILES:
        raise InvalidInput("no such backup file")
    path = backups_dir(agent) / name / file
    if not path.is_file():
        raise RecordNotFound(f"backup {name} has no {file}")
    if offset == 0:
        agent.store.audit.record(caller.actor, "backup.copy", "store", agent.store.store_id, f"{name}/{file}")
    with path.open("rb") as f:
        f.seek(offset)
        data = f.read(CHUNK)
    return {"data": base64.b64encode(data).decode(), "eof": offset + len(data) >= path.stat().st_size}
