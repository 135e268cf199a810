"""Three-way merge: updates never silently lose an edit (docs/fhir.md, "Effectively once")."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from sync.merge import MISSING, RECORD, FieldConflict, merge

FIELDS = ["name", "phone", "village", "note", "status"]
values = (
    st.none() | st.integers(-3, 3) | st.sampled_from(["a", "b", "张三", ""]) | st.lists(st.integers(0, 2), max_size=2)
)
records = st.dictionaries(st.sampled_from(FIELDS), values)


@st.composite
def edits_of(draw: st.DrawFn, base: dict[str, Any]) -> dict[str, Any]:
    """``base`` with some fields changed, added or removed."""
    edited = dict(base)
    for name in draw(st.lists(st.sampled_from(FIELDS), unique=True, max_size=3)):
        if draw(st.booleans()) and name in edited:
            del edited[name]
        else:
            edited[name] = draw(values)
    return edited


@given(records, records)
def test_no_remote_change_gives_the_local_record(base: dict[str, Any], local: dict[str, Any]) -> None:
    result = merge(base, local, base)
    assert (result.merged, result.conflicts) == (local, ())


@given(records, records)
def test_no_local_change_gives_the_remote_record(base: dict[str, Any], remote: dict[str, Any]) -> None:
    result = merge(base, base, remote)
    assert (result.merged, result.conflicts) == (remote, ())


@given(st.data())
def test_conflicts_are_symmetric(data: st.DataObject) -> None:
    base = data.draw(records)
    local, remote = data.draw(edits_of(base)), data.draw(edits_of(base))
    there = merge(base, local, remote).conflicts
    back = merge(base, remote, local).conflicts
    assert [(c.field, c.base, c.local, c.remote) for c in there] == [(c.field, c.base, c.remote, c.local) for c in back]


@given(st.data())
def test_no_one_sided_change_is_lost(data: st.DataObject) -> None:
    base = data.draw(records)
    local, remote = data.draw(edits_of(base)), data.draw(edits_of(base))
    result = merge(base, local, remote)
    assert result.merged is not None
    conflicted = {c.field for c in result.conflicts}
    for name in FIELDS:
        was, mine, theirs = (r.get(name, MISSING) for r in (base, local, remote))
        changed_here, changed_there = mine != was, theirs != was
        if changed_here and not changed_there:
            assert result.merged.get(name, MISSING) == mine
        if changed_there and not changed_here:
            assert result.merged.get(name, MISSING) == theirs
        if changed_here and changed_there:
            assert (name in conflicted) == (mine != theirs)
            if mine == theirs:
                assert result.merged.get(name, MISSING) == mine
        if not changed_here and not changed_there:
            assert name not in conflicted


def test_disjoint_edits_merge_by_themselves() -> None:
    base = {"name": "张三", "phone": "1", "village": "坝盘"}
    result = merge(base, {**base, "phone": "2"}, {**base, "village": "寨英"})
    assert result.merged == {"name": "张三", "phone": "2", "village": "寨英"}
    assert result.clean


def test_the_same_field_changed_differently_is_a_conflict_with_all_three_values() -> None:
    base = {"name": "张三", "phone": "1"}
    result = merge(base, {**base, "phone": "2"}, {**base, "phone": "3", "name": "张山"})
    assert result.conflicts == (FieldConflict("phone", "1", "2", "3"),)
    assert result.merged == {"name": "张山", "phone": "2"}  # local kept until a person decides


def test_the_same_change_on_both_sides_is_no_conflict() -> None:
    base = {"phone": "1"}
    assert merge(base, {"phone": "2"}, {"phone": "2"}).clean


def test_delete_versus_edit_is_a_conflict_that_keeps_the_edit() -> None:
    base = {"name": "张三", "phone": "1"}
    edited = {**base, "phone": "2"}
    result = merge(base, None, edited)
    assert result.merged == edited
    assert result.conflicts == (FieldConflict(RECORD, base, None, edited),)
    assert merge(base, edited, None).conflicts == (FieldConflict(RECORD, base, edited, None),)


def test_delete_of_an_untouched_record_deletes_it() -> None:
    base = {"name": "张三"}
    assert merge(base, None, dict(base)).merged is None
    assert merge(base, dict(base), None).merged is None
    assert merge(base, None, None).merged is None


def test_records_created_on_both_sides_merge_like_an_empty_base() -> None:
    result = merge(None, {"name": "张三", "phone": "1"}, {"name": "张三", "phone": "2"})
    assert [c.field for c in result.conflicts] == ["phone"]
    assert merge(None, None, {"name": "a"}).merged == {"name": "a"}


def test_ignored_fields_never_conflict() -> None:
    result = merge({"version": 1}, {"version": 2}, {"version": 5}, ignore={"version"})
    assert (result.merged, result.conflicts) == ({"version": 2}, ())


def test_a_value_changed_to_the_same_number_of_another_type_is_a_change() -> None:
    assert not merge({"n": 1}, {"n": True}, {"n": 2}).clean
