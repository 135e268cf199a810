"""`clinic-agent doctor` from a login that may not read the data directory: the daemon checks its files.

What it answers holds no personal data (file modes, slot types and names, SQLite's verdict, sizes),
the same kind of facts `status` gives, so any login allowed on the socket may ask.
"""

from __future__ import annotations

from typing import Any

from clinic_agent.api.methods import EVERYONE, MethodTable
from clinic_agent.api.params import Params
from clinic_agent.runtime import doctor
from clinic_agent.runtime.agent import Agent, Caller

METHODS = MethodTable()  # joined with the others in clinic_agent.api.registry
method = METHODS.method


@method("doctor.files", roles=EVERYONE, needs_keys=False, public=True)
def _doctor_files(agent: Agent, caller: Caller, params: Params) -> list[dict[str, Any]]:
    return [{"check": c.name, "outcome": c.outcome, "detail": c.detail} for c in doctor.file_checks(agent.home)]


@method("doctor.sync", roles=EVERYONE, needs_keys=False, public=True)
def _doctor_sync(agent: Agent, caller: Caller, params: Params) -> dict[str, Any]:
    """What waits for the platform (counts, the oldest one's time and the platform's address: no personal data)."""
    with agent.store.core.read() as conn:
        facts = doctor.unsent_facts(conn)
    return {"locked": agent.store.locked, **facts}
