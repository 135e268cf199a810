"""Key slots, LUKS-style, and the keyring they protect.

keys.json holds, beside the database:
- ``slots``: each wraps the same random *vault key* under a key-encryption key made from a
  passphrase (Argon2id; one slot per user), the recovery key (printed once at init), or the
  machine key file (unattended unlock). Changing a passphrase rewraps one slot.
- ``keyring``: encrypted under the vault key. It holds the data keys (one current, older ones until
  no row uses them), a non-rotating master secret from which the blind-index and audit keys are
  derived, and the private half of the store's X25519 key pair.
- ``public_key``: the store's X25519 public key, so readings can be sealed while locked.

Rotating the data key only rewrites the keyring, so it needs no passphrase but the current one.
Every write goes through a temp file, fsync, rename and a directory fsync.
"""

from __future__ import annotations

import base64
import json
import secrets
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from clinic_agent.core.errors import InvalidInput, StoreCorrupted, WrongPassphrase
from clinic_agent.core.fsutil import atomic_write
from clinic_agent.core.model import utcnow
from clinic_agent.security import crypto
from clinic_agent.security.keyfile import KEYFILE_FORMAT, Slot, b64, read_key_file, unb64

PASSPHRASE = "passphrase"  # noqa: S105  (a slot type, not a secret)
RECOVERY = "recovery"
MACHINE = "machine"
_RECOVERY_BYTES = 20


@dataclass
class Keyring:
    """The keys the store works with, held only in memory once unlocked."""

    store_id: str
    master: bytes
    data_keys: dict[str, bytes]
    current: str
    sealing_private: bytes
    _ciphers: dict[str, crypto.PayloadCipher] = field(default_factory=dict, repr=False)

    @classmethod
    def new(cls, store_id: str) -> Keyring:
        """A fresh keyring with one data key."""
        private = crypto.new_sealing_key().private_bytes_raw()
        return cls(store_id, crypto.random_key(), {"k1": crypto.random_key()}, "k1", private)

    def cipher(self, key_id: str | None = None) -> crypto.PayloadCipher:
        """The payload cipher for a data key (the current one by default)."""
        key_id = key_id or self.current
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            if key_id not in self.data_keys:
                raise StoreCorrupted(f"a row names data key {key_id!r}, which this keyring does not hold")
            cipher = self._ciphers[key_id] = crypto.PayloadCipher(self.data_keys[key_id], key_id)
        return cipher

    @cached_property
    def index_key(self) -> bytes:
        """Key of the blind indexes (stable across data-key rotation)."""
        return crypto.derive_subkey(self.master, "clinic-agent blind-index v1")

    @cached_property
    def audit_key(self) -> bytes:
        """Key of the audit chain (stable across data-key rotation)."""
        return crypto.derive_subkey(self.master, "clinic-agent audit v1")

    def sealing_key(self) -> X25519PrivateKey:
        """The private key that opens readings sealed while locked."""
        return X25519PrivateKey.from_private_bytes(self.sealing_private)

    def add_data_key(self) -> str:
        """Create a new data key, make it current, and return its id."""
        number = max(int(k[1:]) for k in self.data_keys) + 1
        key_id = f"k{number}"
        self.data_keys[key_id] = crypto.random_key()
        self.current = key_id
        return key_id

    def retire(self, key_id: str) -> None:
        """Forget an old data key once no row uses it."""
        if key_id == self.current:
            raise InvalidInput("the current data key cannot be retired")
        self.data_keys.pop(key_id, None)
        self._ciphers.pop(key_id, None)

    def to_bytes(self) -> bytes:
        """Serialised for encryption under the vault key."""
        return json.dumps(
            {
                "master": b64(self.master),
                "data_keys": {k: b64(v) for k, v in self.data_keys.items()},
                "current": self.current,
                "sealing_private": b64(self.sealing_private),
            }
        ).encode()

    @classmethod
    def from_bytes(cls, store_id: str, data: bytes) -> Keyring:
        """Parse a decrypted keyring."""
        raw = json.loads(data)
        return cls(
            store_id=store_id,
            master=unb64(raw["master"]),
            data_keys={k: unb64(v) for k, v in raw["data_keys"].items()},
            current=raw["current"],
            sealing_private=unb64(raw["sealing_private"]),
        )


@dataclass(slots=True)
class Vault:
    """An opened key file: the vault key, the keyring, and which slot opened it."""

    keyfile: KeyFile
    vault_key: bytes
    keyring: Keyring
    opened_by: str


def format_recovery_code(raw: bytes) -> str:
    """Groups of four base32 characters, e.g. ABCD-EFGH-..."""
    text = base64.b32encode(raw).decode("ascii").rstrip("=")
    return "-".join(text[i : i + 4] for i in range(0, len(text), 4))


def parse_recovery_code(text: str) -> bytes:
    """Accept a recovery code as typed: any case, spaces or hyphens, 0/1/8 for O/I/B."""
    cleaned = "".join(ch for ch in text.upper() if ch.isalnum()).translate(str.maketrans("018", "OIB"))
    try:
        raw = base64.b32decode(cleaned + "=" * (-len(cleaned) % 8))
    except ValueError:
        raise InvalidInput("that is not a recovery code: it should be 8 groups of 4 letters and digits") from None
    if len(raw) != _RECOVERY_BYTES:
        raise InvalidInput("that recovery code has the wrong length: it should be 8 groups of 4 characters")
    return raw


class KeyFile:
    """keys.json: the store id, its public key, the key slots and the encrypted keyring."""

    def __init__(
        self, path: Path, store_id: str, public_key: bytes, slots: list[Slot], keyring_blob: dict[str, str]
    ) -> None:
        self.path = path
        self.store_id = store_id
        self.public_key = public_key
        self.slots = slots
        self._keyring_blob = keyring_blob

    # -- creating, loading, saving -------------------------------------------------------------

    @classmethod
    def create(cls, path: Path, store_id: str) -> tuple[KeyFile, bytes, Keyring]:
        """A new key file (not yet saved) with a fresh vault key and keyring."""
        keyring = Keyring.new(store_id)
        public = keyring.sealing_key().public_key().public_bytes_raw()
        keyfile = cls(path, store_id, public, [], {})
        vault_key = crypto.random_key()
        keyfile.write_keyring(vault_key, keyring)
        return keyfile, vault_key, keyring

    @classmethod
    def load(cls, path: Path) -> KeyFile:
        """Read keys.json; refuse a missing or damaged file without touching anything."""
        parts = read_key_file(path)
        return cls(path, parts.store_id, parts.public_key, parts.slots, parts.keyring_blob)

    def save(self) -> None:
        """Write keys.json atomically and durably."""
        data = {
            "format": KEYFILE_FORMAT,
            "store_id": self.store_id,
            "public_key": b64(self.public_key),
            "slots": [slot.as_json() for slot in self.slots],
            "keyring": self._keyring_blob,
        }
        atomic_write(self.path, json.dumps(data, indent=1).encode() + b"\n", mode=0o600)

    def sealing_public_key(self) -> X25519PublicKey:
        """The store's public key for sealing readings while locked."""
        return X25519PublicKey.from_public_bytes(self.public_key)

    # -- the keyring -----------------------------------------------------------------------------

    def _keyring_context(self) -> bytes:
        return f"clinic-agent keyring v1|{self.store_id}".encode()

    def read_keyring(self, vault_key: bytes) -> Keyring:
        """Decrypt the keyring with the vault key."""
        try:
            nonce, sealed = unb64(self._keyring_blob["nonce"]), unb64(self._keyring_blob["ciphertext"])
            keyring = Keyring.from_bytes(
                self.store_id, crypto.unwrap(vault_key, nonce, sealed, self._keyring_context())
            )
        except (crypto.DecryptionFailed, KeyError, ValueError):
            raise StoreCorrupted(f"the keyring in {self.path} does not open with this slot's key") from None
        public = keyring.sealing_key().public_key().public_bytes_raw()
        if public != self.public_key:
            raise StoreCorrupted(f"the public key in {self.path} does not match its keyring")
        return keyring

    def write_keyring(self, vault_key: bytes, keyring: Keyring) -> None:
        """Encrypt the keyring under the vault key (call save() to persist)."""
        nonce, sealed = crypto.wrap(vault_key, keyring.to_bytes(), self._keyring_context())
        self._keyring_blob = {"nonce": b64(nonce), "ciphertext": b64(sealed)}

    # -- slots ---------------------------------------------------------------------------------

    def passphrase_slots(self) -> list[Slot]:
        """The per-user passphrase slots."""
        return [s for s in self.slots if s.type == PASSPHRASE]

    def _add_slot(self, vault_key: bytes, type_: str, name: str, kdf: dict[str, Any], kek: bytes) -> Slot:
        slot_id = secrets.token_hex(4)
        draft = Slot(slot_id, type_, name, kdf, b"", b"", utcnow().isoformat())
        nonce, wrapped = crypto.wrap(kek, vault_key, draft.context(self.store_id))
        slot = Slot(slot_id, type_, name, kdf, nonce, wrapped, draft.created_at)
        self.slots.append(slot)
        return slot

    def add_passphrase_slot(
        self, vault_key: bytes, name: str, passphrase: str, params: crypto.Argon2Parameters
    ) -> Slot:
        """Wrap the vault key under a user's passphrase (replacing that user's old slot)."""
        check_new_passphrase(passphrase)
        if not params.meets_floor():
            raise InvalidInput("Argon2id parameters below 64 MiB / 3 iterations are not allowed")
        salt = crypto.random_key()[:16]
        kdf = {
            "alg": "argon2id",
            "salt": b64(salt),
            "memory_kib": params.memory_kib,
            "iterations": params.iterations,
            "lanes": params.lanes,
        }
        kek = crypto.argon2id(passphrase.encode(), salt, params)
        old = [s for s in self.slots if s.type == PASSPHRASE and s.name == name]
        slot = self._add_slot(vault_key, PASSPHRASE, name, kdf, kek)
        for stale in old:
            self.slots.remove(stale)
        return slot

    def add_recovery_slot(self, vault_key: bytes) -> str:
        """Create (or replace) the recovery slot; return the code to print once."""
        raw = secrets.token_bytes(_RECOVERY_BYTES)
        salt = secrets.token_bytes(16)
        kek = crypto.derive_subkey(salt + raw, "clinic-agent recovery slot v1")
        self.slots = [s for s in self.slots if s.type != RECOVERY]
        self._add_slot(vault_key, RECOVERY, "recovery", {"alg": "hkdf-sha256", "salt": b64(salt)}, kek)
        return format_recovery_code(raw)

    def add_machine_slot(self, vault_key: bytes, machine_key: bytes) -> Slot:
        """Create (or replace) the machine slot, opened by a key file on this PC."""
        salt = secrets.token_bytes(16)
        kek = crypto.derive_subkey(salt + machine_key, "clinic-agent machine slot v1")
        self.slots = [s for s in self.slots if s.type != MACHINE]
        return self._add_slot(vault_key, MACHINE, "machine", {"alg": "hkdf-sha256", "salt": b64(salt)}, kek)

    def remove_slot(self, slot: Slot) -> None:
        """Drop a slot; the last passphrase slot cannot go."""
        if slot.type == PASSPHRASE and len(self.passphrase_slots()) == 1:
            raise InvalidInput("the last passphrase slot cannot be removed")
        self.slots.remove(slot)

    # -- opening -------------------------------------------------------------------------------

    def _open_slot(self, slot: Slot, kek: bytes) -> bytes:
        return crypto.unwrap(kek, slot.nonce, slot.wrapped, slot.context(self.store_id))

    def _vault(self, vault_key: bytes, opened_by: str) -> Vault:
        return Vault(self, vault_key, self.read_keyring(vault_key), opened_by)

    def open_with_passphrase(self, passphrase: str, user: str | None = None) -> Vault:
        """Try the passphrase slots (the named user's first); raise WrongPassphrase if none opens."""
        slots = sorted(self.passphrase_slots(), key=lambda s: s.name != user)
        if user is not None:
            slots = [s for s in slots if s.name == user] or slots
        for slot in slots:
            params = _argon2_params(slot)
            if not params.meets_floor():
                raise StoreCorrupted(f"key slot {slot.id} uses Argon2id parameters below the floor; refusing it")
            kek = crypto.argon2id(passphrase.encode(), unb64(slot.kdf["salt"]), params)
            try:
                return self._vault(self._open_slot(slot, kek), f"passphrase:{slot.name}")
            except crypto.DecryptionFailed:
                continue
        raise WrongPassphrase("wrong passphrase: no key slot opened with it; nothing was changed")

    def open_with_recovery_code(self, code: str) -> Vault:
        """Open the recovery slot with the printed code."""
        raw = parse_recovery_code(code)
        for slot in (s for s in self.slots if s.type == RECOVERY):
            kek = crypto.derive_subkey(unb64(slot.kdf["salt"]) + raw, "clinic-agent recovery slot v1")
            try:
                return self._vault(self._open_slot(slot, kek), "recovery")
            except crypto.DecryptionFailed:
                break
        raise WrongPassphrase("wrong recovery code: the recovery slot did not open; nothing was changed")

    def open(
        self,
        machine_key_path: Path,
        *,
        passphrase: str | None = None,
        recovery_code: str | None = None,
        user: str | None = None,
    ) -> Vault:
        """Open with a passphrase, the recovery code, or (with neither) the machine key file at its path."""
        if recovery_code is not None:
            return self.open_with_recovery_code(recovery_code)
        if passphrase is not None:
            return self.open_with_passphrase(passphrase, user)
        if self.has_machine_slot():
            return self.open_with_machine_key(read_machine_key(machine_key_path))
        raise WrongPassphrase("a passphrase is needed to unlock (no machine key is set up)")

    def has_machine_slot(self) -> bool:
        """Whether unattended unlock with a machine key file is set up."""
        return any(s.type == MACHINE for s in self.slots)

    def open_with_machine_key(self, machine_key: bytes) -> Vault:
        """Open the machine slot with the key file's bytes."""
        for slot in (s for s in self.slots if s.type == MACHINE):
            kek = crypto.derive_subkey(unb64(slot.kdf["salt"]) + machine_key, "clinic-agent machine slot v1")
            try:
                return self._vault(self._open_slot(slot, kek), "machine")
            except crypto.DecryptionFailed:
                break
        raise WrongPassphrase("the machine key file does not open the machine slot")


def read_machine_key(path: Path) -> bytes:
    """The machine key file's bytes."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise WrongPassphrase(f"the machine key file {path} cannot be read ({exc.strerror})") from None


def _argon2_params(slot: Slot) -> crypto.Argon2Parameters:
    try:
        return crypto.Argon2Parameters(
            memory_kib=int(slot.kdf["memory_kib"]),
            iterations=int(slot.kdf["iterations"]),
            lanes=int(slot.kdf["lanes"]),
        )
    except (KeyError, TypeError, ValueError):
        raise StoreCorrupted(f"key slot {slot.id} has damaged KDF parameters") from None


def check_new_passphrase(passphrase: str) -> None:
    """A passphrase protects every health file on this PC: ask for a real one."""
    if len(passphrase) < 10:
        raise InvalidInput("a passphrase needs at least 10 characters (a few words are easy to remember)")
    if passphrase.strip() != passphrase or any(not ch.isprintable() for ch in passphrase):
        raise InvalidInput("a passphrase may not start or end with spaces or hold control characters")


def new_machine_key() -> bytes:
    """Random bytes for a machine key file."""
    return secrets.token_bytes(32)
