"""A TLS failure and a PC clock far off: one clear line naming the cause, nothing sent, the outbox intact."""

from __future__ import annotations

import asyncio
import datetime as dt
import http.server
import ssl
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from clinic_agent.runtime import syncing
from clinic_agent.runtime.agent import Agent
from sync.errors import PlatformProtocolError, PlatformUnavailable
from sync.fhir.capability import Capabilities
from sync.platform import FhirPlatform
from sync.retry import Action, classify_exception
from tests.integration.sync.faultproxy import FaultProxy
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


# What each broken answer must be called, through the fault proxy in front of the real server: the
# error class (both are retried by the sync engine) and the words that name what happened.
BROKEN_ANSWERS = {
    "html": (PlatformProtocolError, "captive portal"),  # a proxy's page instead of the server's answer
    "truncated": (PlatformUnavailable, "answer to the capability check was cut off"),  # Content-Length unmet
    "truncated_unframed": (PlatformProtocolError, "cut off"),  # no Content-Length: only the JSON shows it
    "lost_reply": (PlatformUnavailable, "closed before the platform answered"),  # the server did answer
    "refuse": (PlatformUnavailable, "closed before the platform answered"),  # the server never saw it
}


@pytest.mark.parametrize("fault", BROKEN_ANSWERS)
def test_wrong_content_and_cut_answers_are_named(fault: str, fhir_server: str) -> None:
    expected, words = BROKEN_ANSWERS[fault]
    server_port = urlsplit(fhir_server).port or 80

    async def ask_through_the_proxy() -> tuple[Exception | None, Capabilities, FaultProxy]:
        proxy = FaultProxy(server_port, seed=0, faults={fault: 1.0})
        port = await proxy.start()
        url = fhir_server.replace(f":{server_port}/", f":{port}/")
        caught: Exception | None = None
        try:
            async with FhirPlatform(url, connect_timeout=5, read_timeout=5) as client:
                try:
                    await client.capabilities()
                except Exception as exc:  # noqa: BLE001  (judged below)
                    caught = exc
            proxy.heal()  # positive control: the same path, unbroken, gives the server's answer
            async with FhirPlatform(url, connect_timeout=5, read_timeout=5) as client:
                healed = await client.capabilities()
        finally:
            await proxy.stop()
        return caught, healed, proxy

    caught, healed, proxy = asyncio.run(ask_through_the_proxy())
    assert proxy.counts == {fault: 1, "relay": 1}, proxy.counts
    assert "Observation" in healed.resources, healed  # the whole CapabilityStatement came through
    assert caught is not None, f"{fault}: the broken answer was taken as a good one"
    assert isinstance(caught, expected), f"{fault}: {type(caught).__name__}: {caught}"
    message = str(caught)
    assert words in message, f"{fault}: {message}"
    assert "\n" not in message
    assert classify_exception(caught) is Action.RETRY  # the work stays queued and is sent again
