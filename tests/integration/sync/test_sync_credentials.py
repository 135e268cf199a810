"""Credentials against the real SEKMET server: a bearer token, and SMART Backend Services with a key made here.

"Stored encrypted" is checked on every file of the clinic's home — the database, its WAL and shared
memory, the key file, logs, anything — twice: while the store is open and the latest writes sit in
the WAL (no checkpoint), and again after a checkpoint has moved them into the database. A secret
counts as found in clear in any of the forms a careless write could take: raw, hex, base64 or
base64url at any alignment. The scan is shown to find a secret planted in clear in the WAL, which a
look at ``clinic.db`` alone misses, and one planted base64-encoded in a log.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from clinic_agent.runtime import syncing
from clinic_agent.runtime.agent import Agent
from sync import auth
from tests.support import resident

TOKEN = "clinic-token-5ac1"
CLIENT = "clinic-TR0001"


@pytest.fixture
def key() -> bytes:
    return auth.new_private_key()


@pytest.fixture
def secured(sekmet_factory: Callable[..., str], key: bytes) -> str:
    """A SEKMET that accepts only our static token or SMART tokens of our client (started by the shared
    fixture, which alone decides whether a server that will not start is a skip or a failure)."""
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
    return sekmet_factory("secured", extra_config=extra)


# -- the scan ----------------------------------------------------------------------------------------------


def clear_forms(secret: bytes) -> dict[str, bytes]:
    """The secret as it could sit in a file unencrypted: raw, hex, and base64/base64url at each alignment
    (only the 4-character groups made of the secret's bytes alone, which do not depend on its neighbours)."""
    forms = {"raw": secret, "hex": secret.hex().encode(), "HEX": secret.hex().upper().encode()}
    for shift in range(3):
        for name, encode in (("base64", base64.b64encode), ("base64url", base64.urlsafe_b64encode)):
            text = encode(bytes(shift) + secret)
            forms[f"{name}@{shift}"] = text[4 if shift else 0 : 4 * ((shift + len(secret)) // 3)]
    assert all(len(form) >= 12 for form in forms.values()), "the secret is too short to search for"
    return forms


def scan(root: Path, secrets: dict[str, bytes]) -> tuple[list[str], set[str]]:
    """Every (file, secret, form) found in clear under ``root``, and the names of the files read."""
    found: list[str] = []
    read: set[str] = set()
    for path in sorted(root.rglob("*")):
        if not path.is_file():  # directories, and the daemon socket if one is left
            continue
        data = path.read_bytes()
        read.add(str(path.relative_to(root)))
        for name, secret in secrets.items():
            found += [
                f"{path.relative_to(root)}: {name} ({form})" for form, f in clear_forms(secret).items() if f in data
            ]
    return found, read


def checkpoint(db: Path) -> None:
    """Move the WAL into the database and truncate it (another connection, as sqlite3 allows)."""
    with contextlib.closing(sqlite3.connect(db)) as conn:
        busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    assert busy == 0, "the checkpoint was blocked"


def assert_nothing_in_clear(agent: Agent, secrets: dict[str, bytes]) -> None:
    """Scan the whole home with the store open and the WAL unmerged, then again after a checkpoint."""
    root, db = agent.home.root, agent.home.db_path
    wal = db.with_name(db.name + "-wal")
    assert wal.stat().st_size > 0, "nothing is in the WAL: the uncheckpointed state is not what was scanned"
    found, read = scan(root, secrets)
    assert {"clinic.db", "clinic.db-wal", "clinic.db-shm", "keys.json"} <= read, read
    assert found == [], f"in clear before a checkpoint: {found}"
    checkpoint(db)
    assert wal.stat().st_size == 0
    found, read = scan(root, secrets)
    assert found == [], f"in clear after a checkpoint: {found}"


def assert_the_scan_sees_a_planted_secret(agent: Agent, name: str, secret: bytes) -> None:
    """Positive control: the secret written in clear into the WAL and base64-encoded into a log is found."""
    root, db = agent.home.root, agent.home.db_path
    with contextlib.closing(sqlite3.connect(db)) as planter:  # held open: its write stays in the WAL
        planter.execute("CREATE TABLE planted_in_clear(x BLOB)")
        planter.execute("INSERT INTO planted_in_clear VALUES (?)", (secret,))
        planter.commit()
        found, _ = scan(root, {name: secret})
        assert f"clinic.db-wal: {name} (raw)" in found, found
        assert secret not in db.read_bytes()  # what the old check (clinic.db alone) would have missed
    log = root / "logs" / "planted.log"
    log.parent.mkdir(exist_ok=True)
    log.write_bytes(b"sync: credential " + base64.b64encode(b"\x01" + secret) + b"\n")
    found, _ = scan(root, {name: secret})
    assert f"logs/planted.log: {name} (base64@1)" in found, found


# -- the tests ---------------------------------------------------------------------------------------------


def test_a_bearer_token_is_used_and_kept_encrypted(secured: str, clinic_factory: Callable[..., Agent]) -> None:
    agent = clinic_factory()
    with pytest.raises(Exception, match="401"):
        asyncio.run(syncing.enroll(agent, secured, token="wrong-token", actor="tech"))
    result = asyncio.run(syncing.enroll(agent, secured, token=TOKEN, actor="tech"))
    assert result["auth"] == "bearer"
    agent.store.residents.add(resident(), actor="doctor")
    report = asyncio.run(syncing.run_once(agent))
    assert (report.pushed, report.errors) == (1, [])
    assert_nothing_in_clear(agent, {"token": TOKEN.encode()})
    assert_the_scan_sees_a_planted_secret(agent, "token", TOKEN.encode())


def key_secrets(pem: bytes) -> dict[str, bytes]:
    """The private key in each shape it could be written: PEM text, DER, the private scalar."""
    private = serialization.load_pem_private_key(pem, password=None)
    assert isinstance(private, ec.EllipticCurvePrivateKey)
    der = private.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return {
        "PEM header": b"PRIVATE KEY-----",  # PKCS#8 and SEC1 alike
        "PEM body": b"".join(pem.splitlines()[1:-1])[:48],
        "DER": der,
        "scalar": private.private_numbers().private_value.to_bytes(48, "big"),
    }


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
    secrets = key_secrets(key)
    assert_nothing_in_clear(agent, secrets)
    assert_the_scan_sees_a_planted_secret(agent, "scalar", secrets["scalar"])


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
