"""SMART Backend Services client assertions and token handling, and bearer tokens (httpx.MockTransport)."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable

import httpx
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from sync import auth
from sync.errors import AuthenticationFailed, PlatformUnavailable

TOKEN_URL = "https://platform.example/auth/token"


def b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def public_key(jwk: dict[str, str]) -> ec.EllipticCurvePublicKey:
    numbers = ec.EllipticCurvePublicNumbers(
        int.from_bytes(b64decode(jwk["x"]), "big"), int.from_bytes(b64decode(jwk["y"]), "big"), ec.SECP384R1()
    )
    return numbers.public_key()


def test_the_client_assertion_is_an_es384_jwt_the_public_jwk_verifies() -> None:
    pem = auth.new_private_key()
    token = auth.client_assertion(pem, client_id="clinic-1", token_url=TOKEN_URL, now=1_000_000)
    header_b64, claims_b64, signature_b64 = token.split(".")
    header, claims = json.loads(b64decode(header_b64)), json.loads(b64decode(claims_b64))
    assert header == {"alg": "ES384", "typ": "JWT", "kid": auth.key_id(pem)}
    assert claims["iss"] == claims["sub"] == "clinic-1"
    assert (claims["aud"], claims["exp"]) == (TOKEN_URL, 1_000_300)
    assert len(claims["jti"]) == 32
    raw = b64decode(signature_b64)
    assert len(raw) == 96
    signature = encode_dss_signature(int.from_bytes(raw[:48], "big"), int.from_bytes(raw[48:], "big"))
    public_key(auth.public_jwk(pem)).verify(
        signature, f"{header_b64}.{claims_b64}".encode(), ec.ECDSA(hashes.SHA384())
    )  # raises if the signature does not verify
    again = auth.client_assertion(pem, client_id="clinic-1", token_url=TOKEN_URL, now=1_000_000)
    assert json.loads(b64decode(again.split(".")[1]))["jti"] != claims["jti"]


def flow(handler: Callable[[httpx.Request], httpx.Response], clock: list[float]) -> httpx.Client:
    client = auth.SmartClient(client_id="clinic-1", token_url=TOKEN_URL, private_key_pem=auth.new_private_key())
    return httpx.Client(
        auth=auth.SmartBackendAuth(client, clock=lambda: clock[0]), transport=httpx.MockTransport(handler)
    )


def test_a_token_is_fetched_once_renewed_before_expiry_and_once_after_a_401() -> None:
    tokens: list[str] = []
    seen: list[str | None] = []
    refuse_next = [False]

    def handler(request: httpx.Request) -> httpx.Response:
        if str(request.url) == TOKEN_URL:
            form = dict(x.split("=", 1) for x in request.content.decode().split("&"))
            assert form["grant_type"] == "client_credentials"
            assert form["client_assertion_type"].startswith("urn%3Aietf")
            tokens.append(f"t{len(tokens) + 1}")
            return httpx.Response(200, json={"access_token": tokens[-1], "expires_in": 300})
        seen.append(request.headers.get("Authorization"))
        if refuse_next[0]:
            refuse_next[0] = False
            return httpx.Response(401)
        return httpx.Response(200, json={})

    clock = [0.0]
    with flow(handler, clock) as client:
        client.get("https://platform.example/fhir/metadata")
        client.get("https://platform.example/fhir/metadata")
        clock[0] = 250.0  # within a minute of expiry: renewed first
        client.get("https://platform.example/fhir/metadata")
        refuse_next[0] = True
        assert client.get("https://platform.example/fhir/metadata").status_code == 200
    assert seen == ["Bearer t1", "Bearer t1", "Bearer t2", "Bearer t2", "Bearer t3"]


@pytest.mark.parametrize(
    ("status", "error"), [(401, AuthenticationFailed), (400, AuthenticationFailed), (503, PlatformUnavailable)]
)
def test_a_refusing_token_endpoint_is_named(status: int, error: type[Exception]) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json={"error": "invalid_client", "error_description": "Unknown client_id"})

    with flow(handler, [0.0]) as client, pytest.raises(error) as caught:
        client.get("https://platform.example/fhir/metadata")
    assert "token endpoint" in str(caught.value)


def test_a_bearer_token_goes_in_the_header() -> None:
    seen: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("Authorization"))
        return httpx.Response(200)

    with httpx.Client(auth=auth.BearerAuth("abc"), transport=httpx.MockTransport(handler)) as client:
        client.get("https://platform.example/fhir/metadata")
    assert seen == ["Bearer abc"]
