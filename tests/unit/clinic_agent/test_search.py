"""Finding residents by name, pinyin initials, ID card and health-record number."""

from __future__ import annotations

import itertools
import json
import random
import struct
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clinic_agent.core import search
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


@pytest.mark.parametrize("name", ["张三丰", "单田芳", "曾 长 乐", "吕小华", "Wang 芳", "阿依古丽·买买提", "　", ""])
def test_both_keys_at_once_are_each_read_alone_and_every_reading_combination(name: str) -> None:
    """``name_keys`` (one pass, one joined reading when no character has two) gives what ``initials`` and
    ``spellings`` give, and those are every combination of the characters' readings, the usual first."""
    assert search.name_keys(name) == (initials(name), search.spellings(name))
    for read, cap in ((search._char_initials, search._MAX_INITIAL_VARIANTS), (search._char_spellings, 4)):
        options = [o for o in map(read, name) if o]
        every = ["".join(c) for c in itertools.product(*options)][:cap]
        assert search._combinations(options, cap) == every


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
    snapshot = index.snapshot()
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


def _parts(snapshot: bytes) -> tuple[dict[str, Any], list[bytes]]:
    """A snapshot's header and its parts, in the order written (ids text, ids starts, names ...)."""
    header, body = search.snapshot_header(snapshot)
    parts, at = [], 0
    for size in header["sizes"]:
        parts.append(bytes(body[at : at + size]))
        at += size
    return header, parts


def _joined(header: dict[str, Any], parts: list[bytes], *, form: int = search.SNAPSHOT_FORMAT) -> bytes:
    head = json.dumps({"sizes": [len(p) for p in parts]} | header).encode()
    return search._MAGIC + struct.pack("<II", form, len(head)) + head + b"".join(parts)


def _changed(snapshot: bytes, *, form: int = search.SNAPSHOT_FORMAT, **parts: bytes | int | str) -> bytes:
    """The snapshot with header values or parts (``p13``: the 14th part) replaced, the sizes made to fit."""
    header, found = _parts(snapshot)
    header.pop("sizes")
    for name, value in parts.items():
        if name[0] == "p" and name[1:].isdigit():
            found[int(name[1:])] = value  # type: ignore[call-overload]
        else:
            header[name] = value
    return _joined(header, found, form=form)


_FAR = struct.pack("<I", 10**6)


# Parts: 0-7 the ids', names', ID numbers' and phones' texts and starts, 8 flags, 9 the id order, then
# for the initials, full spellings and record numbers each: first rows, key texts, key starts, slots, alternates.
@pytest.mark.parametrize(
    "damage",
    [
        lambda s: _changed(s, form=99),
        lambda s: json.dumps({"format": 3, "names": {"text": "张三\x00"}}).encode(),  # an older release's copy
        lambda s: s[:-1],
        lambda s: s[: len(search._MAGIC) + 3],
        lambda s: s.replace(b'"count":', b'"count"!', 1),  # the header's JSON broken
        lambda s: _changed(s, count=4),
        lambda s: _changed(s, p13=_parts(s)[1][13] + _FAR),  # an initials row more than its keys hold
        lambda s: _changed(s, p15=b""),
        lambda s: _changed(s, p3=_parts(s)[1][5]),
        lambda s: _changed(s, p8=b"\x00" * 4),  # flags for one resident of three
        lambda s: _changed(s, p9=_parts(s)[1][9] + _FAR),  # the id order names a fourth
        lambda s: _changed(s, p9=_parts(s)[1][9][:-1]),  # not whole 32-bit numbers
        lambda s: _changed(s, p2=b"\xff" + _parts(s)[1][2]),  # not UTF-8
        lambda s: _joined(_parts(s)[0], _parts(s)[1][:-1]),  # a part missing
        lambda s: _joined(_parts(s)[0], [*_parts(s)[1], b"x"]),  # a part too many
        lambda s: _changed(s, pinyin="another dictionary"),
        lambda s: _changed(s, flag_sets=5),
    ],
)
def test_a_damaged_snapshot_is_refused_and_leaves_the_index_as_it_was(damage: Any) -> None:
    rng = random.Random(2)
    snapshot = damage(_index(*(_someone(rng, id_number(rng)) for _ in range(3))).snapshot())
    index = _index(resident(name="赵六"))
    with pytest.raises(ValueError, match="snapshot"):
        index.restore(snapshot)
    assert [m.name for m in index.search("赵六")] == ["赵六"]
