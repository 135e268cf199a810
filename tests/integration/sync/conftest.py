"""Fixtures for the sync engine against the real SEKMET server: clinics (stores) enrolled with it."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from clinic_agent.runtime.agent import Agent
from clinic_agent.runtime.home import resolve
from tests.integration.fhir.conftest import (
    fhir_server,
    fresh_fhir_server,
    sekmet,
    sekmet_executable,
    sekmet_factory,
    unavailable,
)
from tests.support import FAST_CONFIG, FAST_KDF, PASSPHRASE

__all__ = ["fhir_server", "fresh_fhir_server", "sekmet", "sekmet_executable", "sekmet_factory"]

_CLINICS = itertools.count(1)


def make_agent(root: Path, *, code: str, extra: str = "") -> Agent:
    """A new, unlocked clinic store in ``root`` with the clinic code ``code``."""
    from clinic_agent.runtime.home import initialise

    root.mkdir(parents=True, exist_ok=True)
    (root / "agent.toml").write_text(
        FAST_CONFIG + f'[clinic]\ncode = "{code}"\nname = "坝盘村卫生室"\n' + extra, encoding="utf-8"
    )
    home = resolve(root)
    initialise(home, passphrase=PASSPHRASE, user="admin", kdf=FAST_KDF)
    agent = Agent.open(home)
    agent.unlock(actor="test", passphrase=PASSPHRASE)
    return agent


@pytest.fixture(params=["sekmet", "medplum"])
def any_fhir_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A new, empty server of each implementation: SEKMET (Python) and Medplum's FHIR router (TypeScript)."""
    if request.param == "sekmet":
        yield request.getfixturevalue("fresh_fhir_server")
        return
    from tests.integration.fhir import medplum_server

    try:
        server = medplum_server.MedplumServer(medplum_server.install(), tmp_path / "medplum")
        base = server.start()
    except medplum_server.MedplumUnavailable as exc:
        unavailable(str(exc))
        raise
    try:
        yield base
    finally:
        server.stop()


@pytest.fixture
def clinic_factory(tmp_path: Path) -> Iterator[Callable[..., Agent]]:
    """Makes clinics (each a store of its own); closes them at the end."""
    made: list[Agent] = []

    def factory(platform: str | None = None, *, code: str | None = None, extra: str = "") -> Agent:
        number = next(_CLINICS)
        agent = make_agent(tmp_path / f"clinic{number}", code=code or f"TR{number:04d}", extra=extra)
        made.append(agent)
        if platform is not None:
            from clinic_agent.runtime import syncing

            asyncio.run(syncing.enroll(agent, platform, actor="test"))
        return agent

    yield factory
    for agent in made:
        agent.close()
