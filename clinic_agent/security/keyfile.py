"""keys.json as it lies on disk: its format, its slots and its parts, read and checked without cryptography.

``KeyFile.load`` (``clinic_agent.security.keys``) builds on ``read_key_file``; `clinic-agent status` without a
daemon calls ``read_key_file`` alone to show the store id and the slots, with the same errors for a missing or
damaged file, without loading the cryptography that opening a slot needs (issue 13: start-up).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clinic_agent.core.errors import AccessDenied, StoreCorrupted, StoreMissing

KEYFILE_FORMAT = 1


def b64(data: bytes) -> str:
    """Bytes as keys.json holds them."""
    return base64.b64encode(data).decode("ascii")


def unb64(text: str) -> bytes:
    """Bytes from keys.json; anything but strict base64 is refused (ValueError)."""
    return base64.b64decode(text.encode("ascii"), validate=True)


@dataclass(frozen=True, slots=True)
class Slot:
    """One wrapped copy of the vault key."""

    id: str
    type: str
    name: str
    kdf: dict[str, Any]
    nonce: bytes
    wrapped: bytes
    created_at: str

    def context(self, store_id: str) -> bytes:
        """Associated data binding the wrapped key to this store, slot and KDF parameters."""
        kdf = json.dumps(self.kdf, sort_keys=True, separators=(",", ":"))
        return "|".join(("clinic-agent slot v1", store_id, self.id, self.type, self.name, kdf)).encode()

    def as_json(self) -> dict[str, Any]:
        """The slot as stored in keys.json."""
        return {
            "id": self.id,
            "type": self.type,
            "name": self.name,
            "kdf": self.kdf,
            "nonce": b64(self.nonce),
            "wrapped": b64(self.wrapped),
            "created_at": self.created_at,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Slot:
        """Read a slot from keys.json."""
        return cls(
            id=str(data["id"]),
            type=str(data["type"]),
            name=str(data["name"]),
            kdf=dict(data["kdf"]),
            nonce=unb64(data["nonce"]),
            wrapped=unb64(data["wrapped"]),
            created_at=str(data["created_at"]),
        )


@dataclass(frozen=True, slots=True)
class KeyFileParts:
    """What keys.json holds: the store id, its public key, the slots and the keyring still encrypted."""

    store_id: str
    public_key: bytes
    slots: list[Slot]
    keyring_blob: dict[str, str]


def read_key_file(path: Path) -> KeyFileParts:
    """Read keys.json; refuse a missing or damaged file without touching anything."""
    try:
        raw = json.loads(path.read_bytes())
    except PermissionError:
        raise AccessDenied(f"no permission to read the key file {path}; nothing was changed") from None
    except FileNotFoundError:
        raise StoreMissing(
            f"the key file {path} is missing; the database is left untouched. "
            "Put back a copy of keys.json from a backup: without it the data cannot be opened."
        ) from None
    except (OSError, ValueError) as exc:
        raise StoreCorrupted(f"the key file {path} cannot be read ({exc}); nothing was changed") from None
    try:
        if raw["format"] != KEYFILE_FORMAT:
            raise StoreCorrupted(f"the key file {path} has format {raw['format']}, which this version cannot read")
        slots = [Slot.from_json(s) for s in raw["slots"]]
        return KeyFileParts(str(raw["store_id"]), unb64(raw["public_key"]), slots, dict(raw["keyring"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise StoreCorrupted(f"the key file {path} is damaged (bad {exc}); nothing was changed") from None
