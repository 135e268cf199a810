"""Finding residents by name, pinyin initials, ID card and health-record number."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clinic_agent.core.search import NameIndex, fields_of, initials
from tests.support import id_number, resident


def _index(*people: object) -> NameIndex:
    index = NameIndex()
    for person in people:
        index.upsert(person)  # type: ignore[arg-type]
    return index


def test_initials_include_heteronym_readings_most_common_first() -> None:
    assert initials("张三丰") == ["zsf"]
    assert initials("单田芳")[0] == "dtf" and "stf" in initials("单田芳")  # noqa: PT018
    assert "zzw" in initials("曾志伟")
    assert initials("Li Ming") == ["liming"]


def test_exact_name_then_prefix_then_part() -> None:
    exact, prefix, part = resident(name="张伟"), resident(name="张伟强"), resident(name="李张伟")
    found = _index(part, prefix, exact).search("张伟")
    assert [m.resident_id for m in found] == [exact.id, prefix.id, part.id]


def test_pinyin_initials_find_chinese_names() -> None:
    zhang, wang = resident(name="张秀英"), resident(name="王秀英")
    index = _index(zhang, wang)
    assert [m.resident_id for m in index.search("zxy")] == [zhang.id]
    assert {m.resident_id for m in index.search("xy")} == set()
    assert {m.resident_id for m in index.search("ZX")} == {zhang.id}


def test_full_pinyin_finds_names_by_any_start_of_the_spelling() -> None:
    long, lu, shan = resident(name="龙秀英"), resident(name="吕小华"), resident(name="单田芳")
    index = _index(long, lu, shan)
    assert [m.resident_id for m in index.search("long")] == [long.id]
    assert index.search("longxiuying")[0].resident_id == long.id
    assert index.search("longxiuying")[0].matched_by == "pinyin"
    assert index.search("Long Xiu")[0].resident_id == long.id
    assert {m.resident_id for m in index.search("lv")} == {lu.id}
    assert {m.resident_id for m in index.search("luxiao")} == {lu.id}  # ü typed as u too
    assert {m.resident_id for m in index.search("shantian")} == {shan.id}  # a heteronym reading
    assert index.search("xiuying") == []  # a spelling is found from its start, as initials are


def test_full_width_letters_and_digits_count_as_ascii() -> None:
    rng = random.Random(5)
    long = resident(rng, name="龙秀英")
    index = _index(long, resident(rng, name="王五"))
    assert [m.resident_id for m in index.search("ｌｘｙ")] == [long.id]
    assert [m.resident_id for m in index.search("ＬＯＮＧ")] == [long.id]
    wide = "".join(chr(ord(ch) + 0xFEE0) for ch in long.id_number)
    assert index.search(wide)[0].resident_id == long.id
    assert index.search(wide)[0].matched_by == "id_number"


def test_phone_numbers_find_residents_whole_by_start_or_any_part() -> None:
    rng = random.Random(9)
    one = resident(rng, name="龙秀英", phone="138-1598-8000")
    two = resident(rng, name="吴国华", phone="13985617722")
    index = _index(one, two, resident(rng, name="杨光明"))
    assert [(m.resident_id, m.matched_by) for m in index.search("13815988000")] == [(one.id, "phone")]
    assert [m.resident_id for m in index.search("138 1598 8000")] == [one.id]
    assert [m.resident_id for m in index.search("１３９８５６")] == [two.id]
    assert two.id in {m.resident_id for m in index.search("7722")}


def test_id_numbers_by_prefix_or_any_part_and_record_numbers_by_prefix() -> None:
    rng = random.Random(3)
    one = resident(id_number=id_number(rng), health_record_number="52220100100100001")
    two = resident(id_number=id_number(rng))
    index = _index(one, two)
    assert index.search(one.id_number)[0].resident_id == one.id
    assert index.search(one.id_number[:10])[0].matched_by == "id_number"
    assert one.id in {m.resident_id for m in index.search(one.id_number[8:14])}
    assert index.search("522201001001")[0].resident_id == one.id


def test_updates_and_deletions_are_seen() -> None:
    person = resident(name="赵六")
    index = _index(person)
    index.upsert(person.__class__(**{**_fields(person), "name": "钱七"}))
    assert index.search("赵六") == []
    assert index.search("钱七")[0].resident_id == person.id
    index.upsert(person.__class__(**{**_fields(person), "deleted": True}))
    assert index.search("钱七") == []


def _fields(person: object) -> dict[str, object]:
    return {name: getattr(person, name) for name in person.__slots__}  # type: ignore[attr-defined]


@given(st.text(max_size=80))
def test_any_query_is_safe(query: str) -> None:
    index = _index(resident(name="张秀英"), resident(name="Ab\x00c"))
    assert len(index.search(query, limit=5)) <= 5


def test_clear_forgets_every_name() -> None:
    index = _index(resident(name="张秀英"))
    index.clear()
    assert len(index) == 0
    assert index.search("张") == []


_NAMES = ("张秀英", "王秀英", "单田芳", "龙秀英", "吕小华", "曾志伟", "张伟", "李张伟", "王五", "张三丰")
_QUERIES = ("zxy", "x", "z", "w", "shan", "long", "lv", "张", "秀英", "伟", "52", "138", "1", "0", "wang", "s")


def _results(index: NameIndex) -> list[list[tuple[str, str, int]]]:
    return [[(m.resident_id, m.matched_by, m.rank) for m in index.search(q, limit=200)] for q in _QUERIES]


def _someone(rng: random.Random, number: str) -> object:
    return resident(
        rng,
        id_number=number,
        name=rng.choice(_NAMES),
        phone=rng.choice(["", f"138{rng.randrange(10**8):08d}"]),
        health_record_number=rng.choice([None, f"52220100{rng.randrange(10**9):09d}"]),
    )


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 2**32), st.integers(1, 40))
def test_edits_in_place_find_what_a_fresh_index_finds_without_sorting_again(seed: int, edits: int) -> None:
    rng = random.Random(seed)
    people = {p.id: p for p in (_someone(rng, id_number(rng)) for _ in range(12))}  # type: ignore[attr-defined]
    index = _index(*people.values())
    index.build()
    for _ in range(edits):
        person = people[rng.choice(sorted(people))]
        changed = _someone(rng, person.id_number)  # type: ignore[attr-defined]
        edited = person.__class__(**{**_fields(changed), "id": person.id, "deleted": rng.random() < 0.2})  # type: ignore[attr-defined]
        people[person.id] = edited  # type: ignore[attr-defined]
        index.upsert(edited)  # type: ignore[arg-type]
        if rng.random() < 0.3:
            assert _results(index) == _results(_index(*people.values()))
    assert _results(index) == _results(_index(*people.values()))
    assert index.full_sorts == 0  # each resident and each edit went in place: nothing sorted whole


def test_many_changes_at_once_are_sorted_once() -> None:
    rng = random.Random(1)
    index = NameIndex()
    index.put_many([fields_of(_someone(rng, id_number(rng))) for _ in range(300)])  # type: ignore[arg-type]
    index.build()
    assert index.full_sorts == 1
    assert len(index) == 300


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 2**32))
def test_a_snapshot_restores_the_same_index(seed: int) -> None:
    rng = random.Random(seed)
    people = [_someone(rng, id_number(rng)) for _ in range(rng.randrange(0, 15))]
    index = _index(*people)
    index.change_seq = 42
    snapshot = json.loads(json.dumps(index.snapshot()))  # as kept: JSON
    restored = NameIndex()
    restored.restore(snapshot)
    assert restored.change_seq == 42
    assert len(restored) == len(index)
    assert _results(restored) == _results(index)
    assert restored.full_sorts == 0  # neither pinyin nor a sort: the orders came with it
    newcomer = _someone(rng, id_number(rng))
    restored.upsert(newcomer)  # type: ignore[arg-type]
    index.upsert(newcomer)  # type: ignore[arg-type]
    assert _results(restored) == _results(index)


@pytest.mark.parametrize(
    "damage",
    [
        lambda s: s.update(format=99),
        lambda s: s.pop("names"),
        lambda s: s.update(count=s["count"] + 1),
        lambda s: s["initials"].update(slots="QUJDRA=="),  # one slot, far beyond the residents
        lambda s: s["spellings"].update(first_row=""),
        lambda s: s["names"].update(starts=s["numbers"]["starts"]),
        lambda s: s.update(flags="AAAAAA=="),
        lambda s: s.update(pinyin="another dictionary"),
        lambda s: s.update(ids=5),
    ],
)
def test_a_damaged_snapshot_is_refused_and_leaves_the_index_as_it_was(damage: Any) -> None:
    rng = random.Random(2)
    snapshot = _index(*(_someone(rng, id_number(rng)) for _ in range(3))).snapshot()
    damage(snapshot)
    index = _index(resident(name="赵六"))
    with pytest.raises(ValueError, match="snapshot"):
        index.restore(snapshot)
    assert [m.name for m in index.search("赵六")] == ["赵六"]
