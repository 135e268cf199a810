"""The audit chain: every change, deletion, insertion and reordering in a 200-entry log is detected."""

from __future__ import annotations

import dataclasses
import random
from datetime import UTC, datetime, timedelta

import pytest

from clinic_agent.core.model import AuditEntry
from clinic_agent.security import audit, crypto

KEY = crypto.random_key()
STORE = "store-1"


def _log(n: int = 200) -> list[AuditEntry]:
    rng = random.Random(7)
    entries: list[AuditEntry] = []
    previous = audit.genesis_mac(KEY, STORE)
    start = datetime(2026, 11, 25, tzinfo=UTC)
    for seq in range(1, n + 1):
        draft = AuditEntry(
            seq=seq,
            at=start + timedelta(seconds=seq),
            actor=rng.choice(["user:li", "cli:admin"]),
            action=rng.choice(["resident.view", "reading.create", "login"]),
            object_type="resident",
            object_id=f"id-{rng.randrange(1000)}",
            detail=rng.choice(["", "fields: phone"]),
        )
        entry = dataclasses.replace(draft, mac=audit.chain_mac(KEY, draft, previous))
        entries.append(entry)
        previous = entry.mac
    return entries


LOG = _log()


def test_an_untouched_log_verifies() -> None:
    result = audit.verify(KEY, STORE, LOG)
    assert result.ok
    assert result.entries == 200


def _changed(entry: AuditEntry, field: str) -> AuditEntry:
    value = getattr(entry, field)
    if isinstance(value, int):
        return dataclasses.replace(entry, **{field: value + 1000})
    if isinstance(value, datetime):
        return dataclasses.replace(entry, **{field: value + timedelta(microseconds=1)})
    if isinstance(value, bytes):
        return dataclasses.replace(entry, **{field: bytes([value[0] ^ 1]) + value[1:]})
    return dataclasses.replace(entry, **{field: value + "x"})


FIELDS = [f.name for f in dataclasses.fields(AuditEntry)]


@pytest.mark.parametrize("field", FIELDS)
def test_every_single_field_change_of_every_entry_is_detected(field: str) -> None:
    for index in range(len(LOG)):
        tampered = [*LOG[:index], _changed(LOG[index], field), *LOG[index + 1 :]]
        result = audit.verify(KEY, STORE, tampered)
        assert not result.ok, f"change of {field} in entry {index + 1} went unseen"
        assert result.first_bad_seq == LOG[index].seq


def test_every_deletion_is_detected_at_the_gap() -> None:
    for index in range(len(LOG) - 1):  # removing the very last entry is tail truncation: see below
        result = audit.verify(KEY, STORE, LOG[:index] + LOG[index + 1 :])
        assert result.first_bad_seq == index + 1
        assert "missing" in result.problem


def test_every_insertion_is_detected() -> None:
    for index in range(len(LOG)):
        forged = dataclasses.replace(LOG[index], detail="inserted")
        result = audit.verify(KEY, STORE, [*LOG[:index], forged, *LOG[index:]])
        assert not result.ok
        assert result.first_bad_seq == index + 1


def test_every_swap_of_neighbours_is_detected() -> None:
    for index in range(len(LOG) - 1):
        swapped = list(LOG)
        swapped[index], swapped[index + 1] = swapped[index + 1], swapped[index]
        result = audit.verify(KEY, STORE, swapped)
        assert not result.ok
        assert result.first_bad_seq == index + 1


def test_renumbering_after_a_deletion_is_detected() -> None:
    renumbered = [*LOG[:50], *(dataclasses.replace(e, seq=e.seq - 1) for e in LOG[51:])]
    assert audit.verify(KEY, STORE, renumbered).first_bad_seq == 51


def test_a_chain_recomputed_without_the_key_is_detected() -> None:
    other = crypto.random_key()
    previous = audit.genesis_mac(other, STORE)
    forged = []
    for entry in LOG:
        entry = dataclasses.replace(entry, mac=audit.chain_mac(other, entry, previous))
        forged.append(entry)
        previous = entry.mac
    assert audit.verify(KEY, STORE, forged).first_bad_seq == 1


def test_a_log_from_another_store_is_detected() -> None:
    assert audit.verify(KEY, "store-2", LOG).first_bad_seq == 1


def test_tail_truncation_is_not_detectable_locally() -> None:
    """Documented limit: removing the newest entries leaves a valid shorter chain (anchored at sync)."""
    assert audit.verify(KEY, STORE, LOG[:150]).ok
