"""Row encryption refuses every tampered, moved or wrongly keyed payload."""

from __future__ import annotations

import random

import pytest

from clinic_agent.security import crypto


@pytest.fixture
def cipher() -> crypto.PayloadCipher:
    return crypto.PayloadCipher(crypto.random_key(), "k1")


def test_round_trip(cipher: crypto.PayloadCipher) -> None:
    plaintext = "张秀英 11010519491231002X".encode()
    blob = cipher.seal("residents", "row-1", plaintext)
    assert plaintext not in blob
    assert cipher.open("residents", "row-1", blob) == plaintext


def test_every_encryption_uses_a_fresh_nonce(cipher: crypto.PayloadCipher) -> None:
    blobs = {cipher.seal("t", "r", b"same")[1 : 1 + crypto.NONCE_BYTES] for _ in range(2000)}
    assert len(blobs) == 2000


def test_ten_thousand_random_bit_flips_are_all_refused(cipher: crypto.PayloadCipher) -> None:
    rng = random.Random(20261125)
    blob = cipher.seal("readings", "row-7", b'{"systolic": "120", "diastolic": "80"}')
    refused = 0
    for _ in range(10_000):
        position = rng.randrange(1, len(blob))  # nonce, ciphertext and tag (byte 0 is the format)
        flipped = bytearray(blob)
        flipped[position] ^= 1 << rng.randrange(8)
        with pytest.raises(crypto.DecryptionFailed):
            cipher.open("readings", "row-7", bytes(flipped))
        refused += 1
    assert refused == 10_000


def test_a_payload_copied_to_another_row_or_table_is_refused(cipher: crypto.PayloadCipher) -> None:
    blob = cipher.seal("residents", "row-1", b"data")
    for table, row in (("residents", "row-2"), ("entries", "row-1"), ("readings", "row-1")):
        with pytest.raises(crypto.DecryptionFailed):
            cipher.open(table, row, blob)


def test_the_wrong_key_or_key_id_is_refused() -> None:
    key = crypto.random_key()
    blob = crypto.PayloadCipher(key, "k1").seal("t", "r", b"data")
    with pytest.raises(crypto.DecryptionFailed):
        crypto.PayloadCipher(crypto.random_key(), "k1").open("t", "r", blob)
    with pytest.raises(crypto.DecryptionFailed):  # the same key under another id: the id is bound too
        crypto.PayloadCipher(key, "k2").open("t", "r", blob)


def test_truncated_or_unknown_format_is_refused(cipher: crypto.PayloadCipher) -> None:
    blob = cipher.seal("t", "r", b"data")
    for bad in (b"", blob[:10], b"\x02" + blob[1:]):
        with pytest.raises(crypto.DecryptionFailed):
            cipher.open("t", "r", bad)


def test_sealing_to_the_store_key_round_trips_and_binds_its_context() -> None:
    private = crypto.new_sealing_key()
    blob = crypto.seal_to(private.public_key(), b"reading", b"ctx-1")
    assert crypto.open_sealed(private, blob, b"ctx-1") == b"reading"
    with pytest.raises(crypto.DecryptionFailed):
        crypto.open_sealed(private, blob, b"ctx-2")
    with pytest.raises(crypto.DecryptionFailed):
        crypto.open_sealed(crypto.new_sealing_key(), blob, b"ctx-1")
    flipped = bytearray(blob)
    flipped[-1] ^= 1
    with pytest.raises(crypto.DecryptionFailed):
        crypto.open_sealed(private, bytes(flipped), b"ctx-1")


def test_pin_hashes_verify_only_the_right_pin() -> None:
    phc = crypto.hash_pin("246810")
    assert phc.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert crypto.verify_pin("246810", phc)
    assert not crypto.verify_pin("246811", phc)
    assert not crypto.verify_pin("246810", "not a phc string")


def test_blind_indexes_are_keyed_and_separated_by_kind() -> None:
    key = crypto.random_key()
    assert crypto.blind_index(key, "id_number", "X") == crypto.blind_index(key, "id_number", "X")
    assert crypto.blind_index(key, "id_number", "X") != crypto.blind_index(key, "health_record_number", "X")
    assert crypto.blind_index(key, "id_number", "X") != crypto.blind_index(crypto.random_key(), "id_number", "X")


def test_the_kdf_floor_is_rfc_9106s_second_recommendation() -> None:
    assert crypto.Argon2Parameters(64 * 1024, 3, 4).meets_floor()
    assert not crypto.Argon2Parameters(32 * 1024, 3, 4).meets_floor()
    assert not crypto.Argon2Parameters(64 * 1024, 2, 4).meets_floor()
    assert crypto.DEFAULT_PASSPHRASE_KDF.meets_floor()
