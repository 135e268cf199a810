"""Credentials for the platform: a bearer token, or SMART Backend Services (client credentials + private-key JWT).

SMART Backend Services: the agent holds an EC P-384 key made at enrolment (the platform is given
its public JWK); for an access token it posts a client assertion (a JWT signed ES384, valid five
minutes, with a fresh ``jti``) to the token endpoint, and uses the token until shortly before it
expires. A 401 on a FHIR request fetches a new token once and repeats the request. The JWT is
made here with ``cryptography`` (no JWT library: one signature algorithm, a dozen lines).
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

import httpx
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from sync.errors import AuthenticationFailed, PlatformProtocolError, PlatformUnavailable

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_LIFETIME = 300
DEFAULT_SCOPE = "system/*.cruds"
_EARLY = 60.0  # renew a token this many seconds before it expires


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def new_private_key() -> bytes:
    """A fresh EC P-384 private key, PEM (PKCS#8), for signing client assertions."""
    key = ec.generate_private_key(ec.SECP384R1())
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _load(private_pem: bytes) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(private_pem, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp384r1":
        raise AuthenticationFailed("the stored SMART key is not an EC P-384 key; enrol the clinic again")
    return key


def key_id(private_pem: bytes) -> str:
    """A stable id of the key (RFC 7638 thumbprint of its public JWK)."""
    jwk = public_jwk(private_pem, with_kid=False)
    canonical = json.dumps({k: jwk[k] for k in ("crv", "kty", "x", "y")}, separators=(",", ":"), sort_keys=True)
    digest = hashes.Hash(hashes.SHA256())
    digest.update(canonical.encode())
    return _b64url(digest.finalize())


def public_jwk(private_pem: bytes, *, with_kid: bool = True) -> dict[str, str]:
    """The public half as a JWK, for the platform's client registration."""
    numbers = _load(private_pem).public_key().public_numbers()
    jwk = {
        "kty": "EC",
        "crv": "P-384",
        "x": _b64url(numbers.x.to_bytes(48, "big")),
        "y": _b64url(numbers.y.to_bytes(48, "big")),
        "alg": "ES384",
        "use": "sig",
    }
    if with_kid:
        jwk["kid"] = key_id(private_pem)
    return jwk


def client_assertion(private_pem: bytes, *, client_id: str, token_url: str, now: float) -> str:
    """A signed JWT that proves this clinic holds its key (RFC 7523, as SMART Backend Services asks)."""
    header = {"alg": "ES384", "typ": "JWT", "kid": key_id(private_pem)}
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": token_url,
        "exp": int(now) + ASSERTION_LIFETIME,
        "jti": secrets.token_hex(16),
    }
    signing_input = ".".join(_b64url(json.dumps(part, separators=(",", ":")).encode()) for part in (header, claims))
    der = _load(private_pem).sign(signing_input.encode("ascii"), ec.ECDSA(hashes.SHA384()))
    r, s = decode_dss_signature(der)
    return f"{signing_input}.{_b64url(r.to_bytes(48, 'big') + s.to_bytes(48, 'big'))}"


class BearerAuth(httpx.Auth):
    """A fixed bearer token."""

    def __init__(self, token: str) -> None:
        self._header = f"Bearer {token}"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Add the header."""
        request.headers["Authorization"] = self._header
        yield request


@dataclass(frozen=True, slots=True)
class SmartClient:
    """What SMART Backend Services needs: the client id, the token endpoint, the key, the scope."""

    client_id: str
    token_url: str
    private_key_pem: bytes
    scope: str = DEFAULT_SCOPE


class SmartBackendAuth(httpx.Auth):
    """Access tokens from the token endpoint, renewed before they expire and once after a 401."""

    requires_response_body = True  # httpx reads each answer (the token's) for us, with or without asyncio

    def __init__(self, client: SmartClient, *, clock: Callable[[], float] = time.time) -> None:
        self.client = client
        self._clock = clock
        self._token: str | None = None
        self._expires = 0.0

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Get a token if there is none (or it is about to expire), send; on 401 renew once and resend."""
        if self._token is None or self._clock() >= self._expires - _EARLY:
            yield from self._renew()
        request.headers["Authorization"] = f"Bearer {self._token}"
        response = yield request
        if response.status_code == 401:
            yield from self._renew()
            request.headers["Authorization"] = f"Bearer {self._token}"
            yield request

    def _renew(self) -> Generator[httpx.Request, httpx.Response, None]:
        now = self._clock()
        form = {
            "grant_type": "client_credentials",
            "scope": self.client.scope,
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": client_assertion(
                self.client.private_key_pem, client_id=self.client.client_id, token_url=self.client.token_url, now=now
            ),
        }
        response = yield httpx.Request("POST", self.client.token_url, data=form, headers={"Accept": "application/json"})
        self._token, self._expires = _token_from(response, now)


def _token_from(response: httpx.Response, now: float) -> tuple[str, float]:
    status = response.status_code
    if status >= 500 or status in (408, 429):
        raise PlatformUnavailable(f"the platform's token endpoint could not answer now ({status}); retrying later")
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    if status != 200:
        error = body.get("error_description") or body.get("error") if isinstance(body, dict) else None
        raise AuthenticationFailed(
            f"the platform's token endpoint refused this clinic ({status}: {str(error or 'no reason')[:200]}); "
            "check the client id and that the platform has the clinic's public key, or the PC clock"
        )
    token = body.get("access_token") if isinstance(body, dict) else None
    if not isinstance(token, str) or not token:
        raise PlatformProtocolError("the platform's token endpoint answered without an access_token")
    lifetime = body.get("expires_in", 300) if isinstance(body, dict) else 300
    if isinstance(lifetime, bool) or not isinstance(lifetime, int | float) or lifetime <= 0:
        lifetime = 300
    return token, now + float(lifetime)
