"""The cryptographic primitives of the store, in one place (the inventory is docs/crypto.md).

- Row payloads: AES-256-GCM, a fresh random 96-bit nonce per encryption, associated data binding the
  payload to its table, row id, key id and format version, so a payload copied to another row, or
  decrypted under another key, is refused.
- Blind indexes: HMAC-SHA256 truncated to 128 bits, under a key of their own.
- Key slots: Argon2id for passphrases (RFC 9106 floor enforced), HKDF-SHA256 for the high-entropy
  recovery and machine keys; the wrapped vault key is AES-256-GCM with the slot bound as associated data.
- Readings that arrive while the store is locked: HPKE (RFC 9180, DHKEM X25519, HKDF-SHA256, AES-256-GCM)
  to the store's public key.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import threading

from cryptography.exceptions import InvalidKey, InvalidTag
from cryptography.hazmat.primitives import hashes, hpke
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from clinic_agent.security.kdf import DEFAULT_PASSPHRASE_KDF as DEFAULT_PASSPHRASE_KDF
from clinic_agent.security.kdf import PIN_KDF as PIN_KDF
from clinic_agent.security.kdf import Argon2Parameters as Argon2Parameters

PAYLOAD_FORMAT = 1
NONCE_BYTES = 12
KEY_BYTES = 32
_HPKE = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)

# cryptography runs the lanes of an Argon2id derivation on OpenSSL's process-wide thread pool, whose
# size it caps at the CPU count. Two derivations at once each take some of those threads and wait
# for more, and neither ever finishes (two PIN checks froze the daemon for good). So every Argon2id
# call in the process goes through this one door; the daemon also gives them a worker of their own
# (clinic_agent/runtime/workers.py) so that callers queue there, not in the pool that ingest uses.
ARGON2_DOOR = threading.Lock()


class DecryptionFailed(Exception):
    """A ciphertext did not authenticate: tampered, moved to another row, or the wrong key."""


def random_key() -> bytes:
    """A fresh 256-bit key from the operating system's CSPRNG."""
    return os.urandom(KEY_BYTES)


def derive_subkey(master: bytes, purpose: str) -> bytes:
    """A 256-bit subkey of ``master`` for one purpose (HKDF-SHA256, info names the purpose)."""
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=purpose.encode()).derive(master)


def associated_data(table: str, row_id: str, key_id: str) -> bytes:
    """What a row payload is bound to: format version, table, row id and key id."""
    parts = (b"clinic-agent", str(PAYLOAD_FORMAT).encode(), table.encode(), row_id.encode(), key_id.encode())
    return b"\x1f".join(parts)


class PayloadCipher:
    """AES-256-GCM for row payloads under one data key."""

    def __init__(self, key: bytes, key_id: str) -> None:
        self.key_id = key_id
        self._aead = AESGCM(key)

    def seal(self, table: str, row_id: str, plaintext: bytes) -> bytes:
        """Encrypt one row's payload: version byte, nonce, ciphertext and tag."""
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, plaintext, associated_data(table, row_id, self.key_id))
        return bytes((PAYLOAD_FORMAT,)) + nonce + sealed

    def open(self, table: str, row_id: str, blob: bytes) -> bytes:
        """Decrypt one row's payload, or raise DecryptionFailed."""
        if len(blob) < 1 + NONCE_BYTES + 16 or blob[0] != PAYLOAD_FORMAT:
            raise DecryptionFailed("payload has an unknown format or is truncated")
        nonce, sealed = blob[1 : 1 + NONCE_BYTES], blob[1 + NONCE_BYTES :]
        try:
            return self._aead.decrypt(nonce, sealed, associated_data(table, row_id, self.key_id))
        except InvalidTag:
            raise DecryptionFailed("payload failed authentication") from None


def blind_index(key: bytes, kind: str, value: str) -> bytes:
    """A 128-bit HMAC of a normalised value, for exact lookups without storing the value."""
    return hmac.new(key, kind.encode() + b"\x1f" + value.encode(), hashlib.sha256).digest()[:16]


def mac(key: bytes, data: bytes) -> bytes:
    """HMAC-SHA256."""
    return hmac.new(key, data, hashlib.sha256).digest()


def macs_equal(a: bytes, b: bytes) -> bool:
    """Constant-time comparison."""
    return hmac.compare_digest(a, b)


def _argon2(salt: bytes, params: Argon2Parameters) -> Argon2id:
    return Argon2id(
        salt=salt,
        length=KEY_BYTES,
        iterations=params.iterations,
        lanes=params.lanes,
        memory_cost=params.memory_kib,
    )


def argon2id(secret: bytes, salt: bytes, params: Argon2Parameters) -> bytes:
    """Derive a 256-bit key from a passphrase."""
    with ARGON2_DOOR:
        return _argon2(salt, params).derive(secret)


def hash_pin(pin: str, params: Argon2Parameters = PIN_KDF) -> str:
    """An Argon2id PHC string for a sign-in PIN."""
    with ARGON2_DOOR:
        return _argon2(os.urandom(16), params).derive_phc_encoded(pin.encode())


def verify_pin(pin: str, phc: str) -> bool:
    """Check a PIN against its PHC string."""
    try:
        with ARGON2_DOOR:
            Argon2id.verify_phc_encoded(pin.encode(), phc)
    except (InvalidKey, ValueError):
        return False
    return True


def wrap(kek: bytes, secret: bytes, context: bytes) -> tuple[bytes, bytes]:
    """Encrypt a key under a key-encryption key; returns (nonce, ciphertext)."""
    nonce = os.urandom(NONCE_BYTES)
    return nonce, AESGCM(kek).encrypt(nonce, secret, context)


def unwrap(kek: bytes, nonce: bytes, wrapped: bytes, context: bytes) -> bytes:
    """Decrypt a wrapped key, or raise DecryptionFailed."""
    try:
        return AESGCM(kek).decrypt(nonce, wrapped, context)
    except (InvalidTag, ValueError):
        raise DecryptionFailed("wrapped key failed authentication") from None


def new_sealing_key() -> X25519PrivateKey:
    """The store's key pair for readings sealed while locked."""
    return X25519PrivateKey.generate()


def seal_to(public_key: X25519PublicKey, plaintext: bytes, info: bytes) -> bytes:
    """HPKE-seal to the store's public key; only the private key (in the keyring) opens it."""
    return _HPKE.encrypt(plaintext, public_key, info=info)


def open_sealed(private_key: X25519PrivateKey, blob: bytes, info: bytes) -> bytes:
    """Open an HPKE-sealed blob, or raise DecryptionFailed."""
    try:
        return _HPKE.decrypt(blob, private_key, info=info)
    except (InvalidTag, ValueError):
        raise DecryptionFailed("sealed payload failed authentication") from None
