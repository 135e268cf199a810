"""Key slots: each opens the same vault; wrong secrets, weak parameters and foreign files are refused."""

from __future__ import annotations

import base64
import json
import stat
import uuid
from pathlib import Path

import pytest

from clinic_agent.core.errors import InvalidInput, StoreCorrupted, StoreMissing, WrongPassphrase
from clinic_agent.security import crypto
from clinic_agent.security.keys import KeyFile, format_recovery_code, parse_recovery_code
from tests.support import FAST_KDF, PASSPHRASE


@pytest.fixture
def keyfile(tmp_path: Path) -> tuple[KeyFile, bytes, str]:
    keys, vault_key, _ = KeyFile.create(tmp_path / "keys.json", str(uuid.uuid4()))
    keys.add_passphrase_slot(vault_key, "admin", PASSPHRASE, FAST_KDF)
    code = keys.add_recovery_slot(vault_key)
    keys.add_machine_slot(vault_key, b"m" * 32)
    keys.save()
    return keys, vault_key, code


def test_every_slot_opens_the_same_keyring(keyfile: tuple[KeyFile, bytes, str]) -> None:
    keys, _, code = keyfile
    loaded = KeyFile.load(keys.path)
    by_passphrase = loaded.open_with_passphrase(PASSPHRASE)
    by_recovery = loaded.open_with_recovery_code(code)
    by_machine = loaded.open_with_machine_key(b"m" * 32)
    assert by_passphrase.opened_by == "passphrase:admin"
    assert by_passphrase.keyring.data_keys == by_recovery.keyring.data_keys == by_machine.keyring.data_keys
    assert by_passphrase.keyring.audit_key == by_machine.keyring.audit_key


def test_the_key_file_is_private_and_holds_no_key_in_clear(keyfile: tuple[KeyFile, bytes, str]) -> None:
    keys, vault_key, _ = keyfile
    assert stat.S_IMODE(keys.path.stat().st_mode) == 0o600
    text = keys.path.read_bytes()
    ring = KeyFile.load(keys.path).open_with_passphrase(PASSPHRASE).keyring
    for secret in (vault_key, ring.master, *ring.data_keys.values()):
        assert secret not in text
        assert base64.b64encode(secret) not in text


def test_wrong_secrets_are_refused(keyfile: tuple[KeyFile, bytes, str]) -> None:
    keys, _, code = keyfile
    with pytest.raises(WrongPassphrase):
        keys.open_with_passphrase("not the passphrase")
    with pytest.raises(WrongPassphrase):
        keys.open_with_recovery_code(format_recovery_code(bytes(20)))
    with pytest.raises(WrongPassphrase):
        keys.open_with_machine_key(b"x" * 32)
    assert code  # the right code still works afterwards
    keys.open_with_recovery_code(code)


def test_recovery_codes_forgive_how_they_are_typed() -> None:
    raw = bytes(range(20))
    code = format_recovery_code(raw)
    assert len(code.split("-")) == 8
    assert parse_recovery_code(code.lower().replace("-", " ")) == raw
    assert parse_recovery_code(code.replace("O", "0").replace("I", "1").replace("B", "8")) == raw
    for bad in ("", "ABCD", "!!!!-????"):
        with pytest.raises(InvalidInput):
            parse_recovery_code(bad)


def test_changing_a_passphrase_replaces_that_users_slot(keyfile: tuple[KeyFile, bytes, str]) -> None:
    keys, vault_key, _ = keyfile
    keys.add_passphrase_slot(vault_key, "admin", "a brand new passphrase", FAST_KDF)
    keys.save()
    loaded = KeyFile.load(keys.path)
    assert len(loaded.passphrase_slots()) == 1
    loaded.open_with_passphrase("a brand new passphrase")
    with pytest.raises(WrongPassphrase):
        loaded.open_with_passphrase(PASSPHRASE)


def test_weak_passphrases_and_kdf_parameters_are_refused(keyfile: tuple[KeyFile, bytes, str]) -> None:
    keys, vault_key, _ = keyfile
    with pytest.raises(InvalidInput):
        keys.add_passphrase_slot(vault_key, "bob", "short", FAST_KDF)
    with pytest.raises(InvalidInput):
        keys.add_passphrase_slot(vault_key, "bob", "long enough but weak kdf", crypto.Argon2Parameters(8192, 1, 1))


def test_a_slot_edited_below_the_kdf_floor_is_refused(keyfile: tuple[KeyFile, bytes, str]) -> None:
    keys, _, _ = keyfile
    data = json.loads(keys.path.read_text())
    slot = next(s for s in data["slots"] if s["type"] == "passphrase")
    slot["kdf"]["memory_kib"] = 1024
    keys.path.write_text(json.dumps(data))
    with pytest.raises(StoreCorrupted, match="below the floor"):
        KeyFile.load(keys.path).open_with_passphrase(PASSPHRASE)


def test_a_slot_edited_within_the_floor_does_not_open(keyfile: tuple[KeyFile, bytes, str]) -> None:
    keys, _, _ = keyfile
    data = json.loads(keys.path.read_text())
    slot = next(s for s in data["slots"] if s["type"] == "passphrase")
    slot["kdf"]["memory_kib"] = 128 * 1024  # the parameters are bound to the wrapped key
    keys.path.write_text(json.dumps(data))
    with pytest.raises(WrongPassphrase):
        KeyFile.load(keys.path).open_with_passphrase(PASSPHRASE)


def test_missing_or_damaged_key_files_are_refused_without_change(tmp_path: Path) -> None:
    with pytest.raises(StoreMissing):
        KeyFile.load(tmp_path / "keys.json")
    (tmp_path / "keys.json").write_text("{not json")
    with pytest.raises(StoreCorrupted):
        KeyFile.load(tmp_path / "keys.json")
    assert (tmp_path / "keys.json").read_text() == "{not json"


def test_the_last_passphrase_slot_cannot_be_removed(keyfile: tuple[KeyFile, bytes, str]) -> None:
    keys, _, _ = keyfile
    with pytest.raises(InvalidInput):
        keys.remove_slot(keys.passphrase_slots()[0])


def test_rotation_keeps_old_keys_until_retired(keyfile: tuple[KeyFile, bytes, str]) -> None:
    keys, vault_key, _ = keyfile
    ring = keys.read_keyring(vault_key)
    old = ring.current
    new = ring.add_data_key()
    assert new != old
    assert set(ring.data_keys) == {old, new}
    keys.write_keyring(vault_key, ring)
    keys.save()
    reloaded = KeyFile.load(keys.path).open_with_passphrase(PASSPHRASE).keyring
    assert reloaded.current == new
    assert old in reloaded.data_keys
    reloaded.retire(old)
    with pytest.raises(InvalidInput):
        reloaded.retire(new)
