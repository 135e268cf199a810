"""The name index held as columns (core/search.py) answers as the plain reading of its rules does.

``_expected`` is that plain reading: every resident looked at in turn, no columns, no sorted keys,
no caps. Against it the index is checked as it is put together one resident at a time, in one go
(as at an unlock without a saved copy), restored from its snapshot, and after edits and deletions
with compactions in between, for each kind of query a doctor types. The populations are small
enough that the index's caps on how many rows a query reads are never reached, so every answer is
whole on both sides.
"""

from __future__ import annotations

import random
import re
import tracemalloc
import unicodedata
from collections.abc import Callable

import pytest

from clinic_agent.core import search
from clinic_agent.core.search import IndexFields, NameIndex, initials, spellings
from tests.support import id_number

_SURNAMES = "张王李赵刘陈杨黄吴龙吕单曾覃乐"  # 单 曾 覃 乐 read two ways (heteronyms)
_GIVEN = "秀英华明国兰芳伟强军平丽长重行"  # 长 重 行 too
_FLAGS = ("hypertension", "diabetes", "elderly")

Answer = list[tuple[str, str, str, int]]


def _person(rng: random.Random, number: int, **changes: object) -> IndexFields:
    name = rng.choice(_SURNAMES) + "".join(rng.choice(_GIVEN) for _ in range(rng.choice((1, 2, 2))))
    if rng.random() < 0.08:
        name = rng.choice(("Li Ming", "Ａｌｉ", "阿依古丽·买买提", "Wang 芳"))
    phone = rng.choice(("", f"138{rng.randrange(10**8):08d}", f"0856-{rng.randrange(10**7):07d}", "139 8561 7722"))
    record = rng.choice(("", f"5222010010{rng.randrange(10**7):07d}"))
    flags = tuple(rng.sample(_FLAGS, rng.choice((0, 0, 1, 2))))
    fields = IndexFields(f"resident-{number:04d}", name, id_number(rng), record, phone, False, flags)
    return fields._replace(**changes)  # type: ignore[arg-type]


def _population(seed: int, size: int = 60) -> list[IndexFields]:
    rng = random.Random(seed)
    return [_person(rng, n) for n in range(size)]


def _expected(people: list[IndexFields], query: str) -> Answer:
    """What the index's rules say, read plainly: each resident's best rank, the first way found on a tie."""
    text = "".join(ch for ch in unicodedata.normalize("NFKC", query).strip() if ch.isprintable())
    if not text:
        return []
    number = re.sub(r"[\s()+-]", "", text).upper()
    best: dict[str, tuple[str, str, int]] = {}

    def found(person: IndexFields, matched_by: str, rank: int) -> None:
        if person.resident_id not in best or rank < best[person.resident_id][2]:
            best[person.resident_id] = (person.name, matched_by, rank)

    for person in (p for p in people if not p.deleted):
        if number and number.replace("X", "").isdigit():
            if number in person.id_number:
                found(person, "id_number", 0 if person.id_number.startswith(number) else 6)
            if person.health_record_number.startswith(number):
                found(person, "health_record_number", 1)
            phone = "".join(ch for ch in person.phone if ch.isdigit())
            if "X" not in number and number in phone:
                found(person, "phone", 0 if phone == number else 3 if phone.startswith(number) else 6)
        elif text.isascii():
            letters = text.lower().replace(" ", "").replace("'", "")
            for matched_by, keys in (("initials", initials(person.name)), ("pinyin", spellings(person.name))):
                for variant, key in enumerate(keys):
                    if letters and key.startswith(letters):
                        found(person, matched_by, 4 if variant else 2 if key == letters else 3)
        if text in person.name:
            found(person, "name", 0 if person.name == text else 1 if person.name.startswith(text) else 5)
    answer = [(resident_id, *hit) for resident_id, hit in best.items()]
    return sorted(answer, key=lambda a: (a[3], a[1], a[0]))


def _answer(index: NameIndex, query: str) -> Answer:
    return [(m.resident_id, m.name, m.matched_by, m.rank) for m in index.search(query, limit=200)]


def _wide(text: str) -> str:
    """As typed on a Chinese keyboard in full-width mode (ｌｘｙ, １３８)."""
    return "".join(chr(ord(ch) + 0xFEE0) if "!" <= ch <= "~" else ch for ch in text)


# Each kind of query a doctor types, worked out from the population so that most find someone.
def _initials_queries(people: list[IndexFields]) -> list[str]:
    return ["z", "zx", "zxy", "dh", "sh", "c", "zz", "lm", "yl", "ZXY", *map(_last_initials, people[:12])]


def _pinyin_queries(people: list[IndexFields]) -> list[str]:
    typed = ["zhang", "long", "lv", "lu", "shan", "chan", "zeng", "ceng", "qin", "tan", "yue", "le", "zhangxiu"]
    return [
        *typed,
        "chang",
        "zhong",
        "hang",
        "xing",
        "Li Ming",
        "wang fang",
        "liming",
        "x",
        *map(_spelling, people[:8]),
    ]


def _number_queries(people: list[IndexFields]) -> list[str]:
    whole, middle = [p.id_number for p in people[:6]], [p.id_number[6:14] for p in people[6:10]]
    starts, ends = [p.id_number[:10] for p in people[10:14]], [p.id_number[-5:] for p in people[14:18]]
    records = [p.health_record_number[:13] for p in people[18:30] if p.health_record_number]
    return ["5222", "522201", "X", "5222010010", *whole, *middle, *starts, *ends, *records]


def _phone_queries(people: list[IndexFields]) -> list[str]:
    phones = [p.phone for p in people if p.phone]
    return ["138", "0856", "7722", "139 8561 7722", "1398561", "8", *phones[:12], *(p[-4:] for p in phones[12:24])]


def _full_width_queries(people: list[IndexFields]) -> list[str]:
    typed = ["zxy", "long", "ZHANG", "138", "0856-", "Ali", "li", *(p.id_number for p in people[:4])]
    return [_wide(q) for q in typed + [p.phone for p in people[4:10] if p.phone]]


def _name_queries(people: list[IndexFields]) -> list[str]:
    return [
        "张",
        "秀英",
        "伟",
        "长",
        "王",
        "Li",
        "阿依",
        "·",
        *(p.name for p in people[:8]),
        *(p.name[1:] for p in people[8:14]),
    ]


_QUERIES: dict[str, Callable[[list[IndexFields]], list[str]]] = {
    "pinyin initials": _initials_queries,
    "full pinyin": _pinyin_queries,
    "ID number": _number_queries,
    "phone": _phone_queries,
    "full-width": _full_width_queries,
    "name": _name_queries,
}


def _spelling(person: IndexFields) -> str:
    keys = spellings(person.name)
    return keys[-1][:6] if keys else "q"  # the start of the last: an alternate reading when the name has one


def _last_initials(person: IndexFields) -> str:
    keys = initials(person.name)
    return keys[-1] if keys else "q"  # the last: an alternate reading when the name has one


def _check(index: NameIndex, people: list[IndexFields], kind: str) -> None:
    queries = _QUERIES[kind](people)
    assert any(_expected(people, q) for q in queries)  # the queries find someone: the check means something
    for query in queries:
        assert _answer(index, query) == _expected(people, query), (kind, query)


def _one_by_one(people: list[IndexFields]) -> NameIndex:
    index = NameIndex()
    for person in people:
        index.put_many([person])
    return index


def _all_at_once(people: list[IndexFields]) -> NameIndex:
    index = NameIndex()
    index.put_many(people * 5)  # more than are put in place: sorted once (the same resident again: the last counts)
    return index


def _rewritten(people: list[IndexFields]) -> NameIndex:
    """Other residents under the same ids and 20 more, then all changed at once (as an unlock's catch-up
    after a restore reads a page of changed residents): the latest of each lives, the deleted go."""
    index = NameIndex()
    index.put_many(_population(seed=99, size=len(people) + 20) * 4)
    gone = [p._replace(deleted=True) for p in _population(seed=98, size=len(people) + 20)[len(people) :]]
    index.put_many(people * 5 + gone)
    return index


def _restored(people: list[IndexFields]) -> NameIndex:
    index = NameIndex()
    index.restore(_one_by_one(people).snapshot())
    return index


@pytest.mark.parametrize("kind", sorted(_QUERIES))
@pytest.mark.parametrize(
    "made",
    [_one_by_one, _all_at_once, _rewritten, _restored],
    ids=["one by one", "all at once", "changed at once", "restored"],
)
def test_the_index_answers_as_its_rules_read_plainly(kind: str, made: Callable[[list[IndexFields]], NameIndex]) -> None:
    """Planted faults, each failing this test for the kind named (checked by hand):
    the initials' alternate reading ranked as the usual one (pinyin initials, full pinyin); a key
    scan that stops before the last key starting with the text (pinyin initials, full pinyin); a
    number found in the text before the one it is in (ID number, phone, name); a phone whole only
    when longer than typed (phone, full-width); queries not folded from full width (full-width); an
    older slot of a resident changed at once left live (changed at once)."""
    people = _population(seed=7)
    index = made(people)
    _check(index, people, kind)
    assert index.key_populations() == {p.resident_id: p.key_populations for p in people if p.key_populations}
    assert len(index) == len(people)


@pytest.mark.parametrize("kind", sorted(_QUERIES))
def test_edits_and_deletions_with_compactions_answer_as_a_fresh_reading(
    kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Small limits make the index compact itself every few edits (dead slots, recent keys merged).

    Planted faults, each failing this test (checked by hand): a compaction that renumbers the
    sorted keys' slots one off; one that forgets the recent keys; a deletion that leaves the old
    slot live; an edit whose old slot stays in the id order."""
    monkeypatch.setattr(search, "_RECENT_LIMIT", 6)
    monkeypatch.setattr(search, "_DEAD_LIMIT", 3)
    rng = random.Random(11)
    people = {p.resident_id: p for p in _population(seed=11, size=40)}
    index = _restored(list(people.values()))
    for step in range(120):
        chosen = people[rng.choice(sorted(people))]
        if step % 5 == 4:
            changed = chosen._replace(deleted=True)
        else:
            changed = _person(rng, 0)._replace(resident_id=chosen.resident_id, id_number=chosen.id_number)
        people[chosen.resident_id] = changed
        index.put_many([changed])
        if step % 15 == 0:
            _check(index, list(people.values()), kind)
        if changed.deleted:
            del people[chosen.resident_id]  # a deleted resident is gone, as from the store's list
    _check(index, list(people.values()), kind)
    assert len(index) == len(people)
    again = NameIndex()
    again.restore(index.snapshot())
    _check(again, list(people.values()), kind)
    assert index.full_sorts == again.full_sorts == 0  # edits went in place: nothing sorted whole


def test_a_resident_costs_bytes_not_objects() -> None:
    """5,000 residents restored from a snapshot hold under 300 bytes each (their texts included).

    Planted fault: the index before it was held as columns (a tuple and five strings per resident,
    sorted keys as lists of references) holds about 700 bytes each and fails this test."""
    people = _population(seed=3, size=5000)
    saved = _all_at_once(people).snapshot()
    tracemalloc.start()
    try:
        index = NameIndex()
        index.restore(saved)
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(index) == 5000
    assert held / 5000 < 300
