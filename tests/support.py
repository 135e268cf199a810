"""Helpers shared by the test suite: fast stores, valid ID numbers, readings."""

from __future__ import annotations

import random
import sqlite3
from datetime import date
from pathlib import Path

from clinic_agent.core.idnumber import check_character
from clinic_agent.core.model import DeviceInfo, Quantity, Reading, Resident, Sex, new_id, utcnow
from clinic_agent.runtime.home import Home, initialise, open_locked, open_vault, resolve
from clinic_agent.security.crypto import Argon2Parameters
from clinic_agent.store import Store

PASSPHRASE = "correct horse battery staple"
# The RFC 9106 floor: the least the agent accepts, and the fastest (about 0.1 s here).
FAST_KDF = Argon2Parameters(memory_kib=64 * 1024, iterations=3, lanes=4)
# The name under which a reliability test's figures travel in its report's user_properties.
RELIABILITY_FIGURE = "reliability figure"
FAST_CONFIG = "[store]\nkdf_memory_mib = 64\nkdf_iterations = 3\nkdf_lanes = 4\n"


def id_number(rng: random.Random | None = None, *, male: bool | None = None, born: date | None = None) -> str:
    """A valid 18-character ID card number (Tongren, Guizhou address code)."""
    rng = rng or random.Random()
    born = born or date(rng.randint(1930, 2015), rng.randint(1, 12), rng.randint(1, 28))
    order = rng.randint(0, 999)
    if male is not None and (order % 2 == 1) != male:
        order = (order + 1) % 1000
    first17 = f"522201{born:%Y%m%d}{order:03d}"
    return first17 + check_character(first17)


def resident(rng: random.Random | None = None, **fields: object) -> Resident:
    """A valid resident."""
    rng = rng or random.Random()
    number = str(fields.pop("id_number", None) or id_number(rng))
    born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    sex = Sex.MALE if int(number[16]) % 2 else Sex.FEMALE
    base: dict[str, object] = {"id": new_id(), "id_number": number, "name": "张秀英", "sex": sex, "birth_date": born}
    base.update(fields)
    return Resident(**base)  # type: ignore[arg-type]


def reading(
    resident_id: str | None = None, *, systolic: str = "120", diastolic: str = "80", **fields: object
) -> Reading:
    """A blood-pressure reading."""
    now = utcnow()
    base: dict[str, object] = {
        "id": new_id(),
        "resident_id": resident_id,
        "code": "85354-9",
        "display": "Blood pressure panel",
        "components": (
            Quantity(code="8480-6", value=systolic, unit="mm[Hg]", display="Systolic"),
            Quantity(code="8462-4", value=diastolic, unit="mm[Hg]", display="Diastolic"),
        ),
        "taken_at": now,
        "received_at": now,
        "device": DeviceInfo(id="test-cuff"),
        "source": "test",
    }
    base.update(fields)
    return Reading(**base)  # type: ignore[arg-type]


def new_home(root: Path, *, machine_key: bool = False) -> Home:
    """A fresh store in ``root`` with the fast KDF; returns its Home."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "agent.toml").write_text(FAST_CONFIG, encoding="utf-8")
    home = resolve(root)
    initialise(home, passphrase=PASSPHRASE, user="admin", machine_key=machine_key, kdf=FAST_KDF)
    return home


def open_unlocked(home: Home) -> Store:
    """Open a store and unlock it with the test passphrase."""
    store, keyfile = open_locked(home)
    store.unlock(open_vault(home, keyfile, passphrase=PASSPHRASE).keyring, actor="test")
    return store


def undo_0011(conn: sqlite3.Connection) -> None:
    """Put a store's audit index by object back as it was before schema 0011 (every entry in it), and
    forget the migration, as a store of an earlier version is."""
    conn.execute("DROP INDEX audit_by_object")
    conn.execute("CREATE INDEX audit_by_object ON audit(object_id, seq)")
    conn.execute("DELETE FROM _sqlite_migrations WHERE name = '0011_audit_by_object_lean'")
