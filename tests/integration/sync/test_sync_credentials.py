"""Credentials against the real SEKMET server: a bearer token, and SMART Backend Services with a key made here."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from clinic_agent import syncing
from clinic_agent.agent import Agent
from sync import auth
from tests.integration.fhir.conftest import sekmet
from tests.support import resident

TOKEN = "clinic-token-5ac1"
CLIENT = "clinic-TR0001"


@pytest.fixture
def key() -> bytes:
    return auth.new_private_key()


@pytest.fixture
def secured(sekmet_executable: Path, tmp_path: Path, key: bytes) -> Iterator[str]:
    """A SEKMET that accepts only our static token or SMART tokens of our client."""
    jwks = json.dumps({"keys": [auth.public_jwk(key)]})
    extra = (
        "server_auth:\n"
        "  types: [bearer, smart]\n"
        f"  tokens: [{TOKEN}]\n"
        "  smart_clients:\n"
        f"    - client_id: {CLIENT}\n"
        f"      jwks: {jwks}\n"
        "      scopes: system/*.*\n"
    )
    server = sekmet.SekmetServer(sekmet_executable, tmp_path / "secured", extra_config=extra)
    (tmp_path / "secured").mkdir()
    try:
        server.start()
    except sekmet.SekmetUnavailable as exc:
        pytest.skip(str(exc))
    yield server.base_url
    server.stop()


def test_a_bearer_token_is_used_and_kept_encrypted(secured: str, clinic_factory: Callable[..., Agent]) -> None:
    agent = clinic_factory()
    with pytest.raises(Exception, match="401"):
        asyncio.run(syncing.enroll(agent, secured, token="wrong-token", actor="tech"))
    result = asyncio.run(syncing.enroll(agent, secured, token=TOKEN, actor="tech"))
    assert result["auth"] == "bearer"
    agent.store.residents.add(resident(), actor="doctor")
    report = asyncio.run(syncing.run_once(agent))
    assert (report.pushed, report.errors) == (1, [])
    assert TOKEN.encode() not in agent.home.db_path.read_bytes()  # the token is stored encrypted


def test_smart_backend_services_with_a_key_made_at_enrolment(
    secured: str, clinic_factory: Callable[..., Agent], key: bytes
) -> None:
    agent = clinic_factory()
    root = secured.removesuffix("/fhir")
    smart = syncing.Smart(client_id=CLIENT, token_url=f"{root}/auth/token", scope="system/*.*")
    result = asyncio.run(syncing.enroll(agent, secured, smart=smart, actor="tech", private_key_pem=key))
    assert result["auth"] == "smart"
    assert result["public_jwk"]["kty"] == "EC"
    assert result["organization_id"]
    agent.store.residents.add(resident(), actor="doctor")
    report = asyncio.run(syncing.run_once(agent))
    assert (report.pushed, report.errors) == (1, [])
    assert b"PRIVATE KEY" not in agent.home.db_path.read_bytes()


def test_an_unregistered_smart_key_keeps_the_enrolment_and_says_what_to_do(
    secured: str, clinic_factory: Callable[..., Agent]
) -> None:
    agent = clinic_factory()
    root = secured.removesuffix("/fhir")
    smart = syncing.Smart(client_id="clinic-unknown", token_url=f"{root}/auth/token")
    result = asyncio.run(syncing.enroll(agent, secured, smart=smart, actor="tech"))
    assert result["registration_needed"] is True
    assert "token endpoint refused" in result["warning"]
    report = asyncio.run(syncing.run_once(agent))
    assert report.errors
    assert "refused" in report.errors[0]
    assert syncing.status(agent)["state"] == "idle"
