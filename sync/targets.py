"""Whom a doctor may ask for a consultation: the services the platform offers, fetched and kept for offline use.

At enrolment and after every sync, the platform's HealthcareServices typed as consultation
(``sync.fhir.consultation.TARGET_SEARCH``) are read and kept in the store as the
``sync.consultation_targets`` setting (JSON), with the time they were read: one search page, and
after a sync no commit of its own (it is saved with the sync's outcome, ``sync.service.run_once``).
A fetch that fails keeps the list from the last one: the request form works offline, and a platform
that does not offer HealthcareService leaves whatever ``[platform] consultation`` in agent.toml says
(the API, which reads the kept list, lays that over it: ``clinic_agent/api/consult_methods.py``).
docs/fhir.md, Remote consultation.
"""

from __future__ import annotations

import asyncio
import json

from clinic_agent.core.model import utcnow
from sync.errors import PlatformRejected, SyncError
from sync.fhir.bundle import SearchPage
from sync.fhir.consultation import TARGET_SEARCH, TARGET_TYPE, target_from_fhir
from sync.host import SyncRecords
from sync.platform import Platform

SETTING = "consultation_targets"
FETCHED_AT = "consultation_targets_at"
MOST = 500  # a region's consultation services; more is not a list a doctor picks from


async def fetch(platform: Platform) -> list[dict[str, str]]:
    """The consultation services the platform offers now, in the platform's order, each once."""
    found: list[dict[str, str]] = []
    seen: set[str] = set()
    page: SearchPage | None = await platform.search(TARGET_TYPE, list(TARGET_SEARCH))
    while page is not None and len(found) < MOST:
        for resource in page.resources:
            target = target_from_fhir(resource) if isinstance(resource, dict) else None
            if target is not None and target["target"] not in seen:
                seen.add(target["target"])
                found.append(target)
        page = await platform.next_page(page)
    return found[:MOST]


async def fetch_or_reason(platform: Platform) -> tuple[list[dict[str, str]] | None, str | None]:
    """(the list, None), or (None, why the platform would not give it)."""
    try:
        return await fetch(platform), None
    except PlatformRejected as exc:
        return None, f"the platform's consultation services could not be read: {exc.reason or exc}"
    except SyncError as exc:  # the link dropped, or an answer that is not a searchset
        return None, f"the platform's consultation services could not be read: {exc}"


async def keep(records: SyncRecords, found: list[dict[str, str]]) -> None:
    """Keep a fetched list (replacing the last one), with the time it was read."""
    await asyncio.to_thread(records.save_settings, settings_of(found))


def settings_of(found: list[dict[str, str]]) -> dict[str, str | None]:
    """The settings that keep a fetched list: a sync saves them with its outcome, in one transaction."""
    return {SETTING: json.dumps(found, ensure_ascii=False), FETCHED_AT: utcnow().isoformat()}
