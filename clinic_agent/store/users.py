"""Users who sign in to the terminal UI: name and role in clear, the PIN hash encrypted."""

from __future__ import annotations

import re
from typing import Any

from clinic_agent.core.errors import AccessDenied, InvalidInput, RecordNotFound
from clinic_agent.core.model import Role, User, new_id
from clinic_agent.security import crypto
from clinic_agent.store.core import Core
from clinic_agent.store.guard import PIN, PIN_PER_USER, Guard

_NAME = re.compile(r"[a-z][a-z0-9_.-]{1,31}")
_COLUMNS = "id, name, role, key_id, payload, created_at, disabled"
_WEAK_PINS = frozenset({"0000", "1234", "1111", "123456", "000000", "111111", "654321", "4321"})


def check_user_name(name: str) -> str:
    """User names are short lower-case ASCII words (they appear in the audit log)."""
    if not _NAME.fullmatch(name):
        raise InvalidInput(
            f"user name {name[:40]!r} must be 2-32 characters: lower-case letters, digits, '.', '_' or '-', "
            "starting with a letter"
        )
    return name


def check_pin(pin: str) -> str:
    """A PIN is 4 to 12 digits and not one of the first a thief would try."""
    if not pin.isascii() or not pin.isdigit() or not 4 <= len(pin) <= 12:
        raise InvalidInput("a PIN is 4 to 12 digits")
    if pin in _WEAK_PINS or len(set(pin)) == 1:
        raise InvalidInput("that PIN is too easy to guess; choose another")
    return pin


class Users:
    """The users table."""

    def __init__(self, core: Core, guard: Guard) -> None:
        self._core = core
        self._guard = guard

    def add(self, name: str, role: Role, pin: str, *, actor: str, display_name: str = "") -> User:
        """Create a user (the PIN is stored only as an Argon2id hash, encrypted)."""
        user = User(id=new_id(), name=check_user_name(name), role=role, display_name=display_name.strip())
        pin_hash = crypto.hash_pin(check_pin(pin))
        core = self._core
        with core.write() as conn:
            if conn.execute("SELECT 1 FROM users WHERE name = ?", (user.name,)).fetchone():
                raise InvalidInput(f"user {user.name} already exists")
            clear = {"name": user.name, "role": user.role.value, "disabled": 0, "created_at": core.clock().isoformat()}
            key_id, blob = core.seal("users", user.id, {"pin": pin_hash, "display_name": user.display_name}, row=clear)
            conn.execute(
                "INSERT INTO users(id, name, role, key_id, payload, created_at, disabled) VALUES (?, ?, ?, ?, ?, ?, 0)",
                (user.id, user.name, user.role.value, key_id, blob, clear["created_at"]),
            )
            core.append_audit(conn, actor, "user.create", "user", user.id, f"role {user.role.value}")
        return user

    def sign_in(self, name: str, pin: str, *, peer: str) -> User:
        """Check a PIN; both outcomes are audited. Raises AccessDenied without saying which part was wrong.

        A try that comes too soon after wrong ones, or for a locked-out user, is refused before the
        PIN is checked (TooManyAttempts, LockedOut; store/guard.py).
        """
        core = self._core
        name = name[:40]
        with core.read() as conn:
            self._guard.check_pin(conn, name)
            row = conn.execute(f"SELECT {_COLUMNS} FROM users WHERE name = ? AND disabled = 0", (name,)).fetchone()
        user, pin_hash = self._decode(row) if row else (None, None)
        ok = pin_hash is not None and crypto.verify_pin(pin, pin_hash)
        with core.write() as conn:
            if ok:
                self._guard.succeeded(conn, PIN, name)
                core.append_audit(conn, f"user:{name}", "login", "user", user.id if user else "", peer)
            else:
                failures = self._guard.failed(conn, PIN, name)
                core.append_audit(conn, peer, "login_failed", "user", user.id if user else "", f"name {name[:32]}")
                if failures == PIN_PER_USER.lock_out_at:
                    detail = f"{failures} wrong PINs in a row"
                    core.append_audit(conn, peer, "user.locked_out", "user", user.id if user else "", detail)
        if not ok or user is None:
            raise AccessDenied("wrong user name or PIN")
        return user

    def _decode(self, row: tuple[Any, ...]) -> tuple[User, str]:
        user_id, name, role, key_id, blob, created_at, disabled = row
        clear = {"name": name, "role": role, "disabled": disabled, "created_at": created_at}
        data = self._core.open("users", user_id, key_id, blob, row=clear)
        return User(id=user_id, name=name, role=Role(role), display_name=data.get("display_name", "")), data["pin"]

    def all(self) -> list[User]:
        """Every enabled user."""
        with self._core.read() as conn:
            rows = conn.execute(f"SELECT {_COLUMNS} FROM users WHERE disabled = 0 ORDER BY name").fetchall()
        return [self._decode(row)[0] for row in rows]

    def get(self, name: str) -> User:
        """One user by name."""
        with self._core.read() as conn:
            row = conn.execute(f"SELECT {_COLUMNS} FROM users WHERE name = ? AND disabled = 0", (name,)).fetchone()
        if row is None:
            raise RecordNotFound(f"no user {name}")
        return self._decode(row)[0]
