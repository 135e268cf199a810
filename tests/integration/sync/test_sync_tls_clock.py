"""A TLS failure and a PC clock far off: one clear line naming the cause, nothing sent, the outbox intact."""

from __future__ import annotations

import asyncio
import datetime as dt
import http.server
import ssl
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from clinic_agent import syncing
from clinic_agent.agent import Agent
from sync.errors import PlatformUnavailable
from sync.platform import FhirPlatform
from tests.support import resident


def self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


@pytest.fixture
def untrusted_https(tmp_path: Path) -> Iterator[str]:
    """An HTTPS server whose certificate no CA vouches for."""
    cert, key = self_signed(tmp_path)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}/fhir"
    server.shutdown()
    server.server_close()


async def probe(url: str) -> None:
    async with FhirPlatform(url, connect_timeout=2, read_timeout=2) as client:
        await client.capabilities()


def test_an_unverifiable_certificate_is_named(untrusted_https: str) -> None:
    with pytest.raises(PlatformUnavailable) as caught:
        asyncio.run(probe(untrusted_https))
    message = str(caught.value)
    assert "TLS certificate" in message
    assert "clock" in message
    assert "\n" not in message


def test_a_clock_far_off_stops_the_sync_before_anything_is_sent(
    fresh_fhir_server: str, clinic_factory: Callable[..., Agent]
) -> None:
    agent = clinic_factory(fresh_fhir_server)
    agent.store.residents.add(resident(), actor="doctor")

    async def skewed_sync() -> syncing.SyncReport:
        later = dt.datetime.now(dt.UTC) + dt.timedelta(days=400)
        async with FhirPlatform(fresh_fhir_server, clock=lambda: later) as skewed:
            return await syncing.run_once(agent, platform=skewed)

    report = asyncio.run(skewed_sync())
    assert report.pushed == 0
    assert len(report.errors) == 1
    assert "PC clock is" in report.errors[0]
    assert "ahead of the platform" in report.errors[0]
    assert agent.store.sync.queue_counts()["pending"] == 1
    fixed = asyncio.run(syncing.run_once(agent))
    assert (fixed.pushed, fixed.errors) == (1, [])


def test_wrong_content_and_cut_answers_are_named(fresh_fhir_server: str) -> None:
    def portal(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text="<html>log in to the wifi</html>", headers={"Content-Type": "text/html"})

    async def ask() -> None:
        async with FhirPlatform(fresh_fhir_server, transport=httpx.MockTransport(portal)) as client:
            await client.capabilities()

    with pytest.raises(Exception, match="captive portal"):
        asyncio.run(ask())
