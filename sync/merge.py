"""Three-way merge of dict-shaped records, field by field.

``base`` is the copy both sides last agreed on (the last-synced copy), ``local`` the agent's
version, ``remote`` the platform's. ``None`` stands for "no record": a deleted record on one side,
or no common ancestor (``base=None``: both sides created it independently).

- A field changed on one side only takes that side's value.
- A field changed on both sides to the same value takes it, without a conflict.
- A field changed on both sides to different values is a conflict. The merged record keeps the
  local value for now (the doctor's own edit is what stays on screen), and the conflict lists the
  base, local and remote values so that the inbox can offer all three.
- A record deleted on one side and edited on the other is a conflict on the whole record
  (``RECORD``); the merged record is the edited one, so no edit is lost until someone decides.

Values are compared whole with ``==`` (a list or a nested object is one field). The function is
total: any mappings in, a result out, nothing raised.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, Final

RECORD: Final = "*"  # the field name of a delete-versus-edit conflict


class _Missing:
    """A field absent from a record (distinct from a field whose value is None)."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()


@dataclass(frozen=True, slots=True)
class FieldConflict:
    """A field both sides changed differently; values are MISSING where the field is absent."""

    field: str
    base: Any
    local: Any
    remote: Any


@dataclass(frozen=True, slots=True)
class MergeResult:
    """The merged record (None: deleted) and the conflicts a person must resolve."""

    merged: dict[str, Any] | None
    conflicts: tuple[FieldConflict, ...] = ()

    @property
    def clean(self) -> bool:
        """True when nothing needs a person."""
        return not self.conflicts


def merge(
    base: Mapping[str, Any] | None,
    local: Mapping[str, Any] | None,
    remote: Mapping[str, Any] | None,
    *,
    ignore: Collection[str] = (),
) -> MergeResult:
    """Merge ``local`` and ``remote`` against ``base``.

    Fields named in ``ignore`` (local bookkeeping such as ``version``) take local's value and never
    conflict.
    """
    if local is None or remote is None:
        return _merge_deletion(base, local, remote)
    ancestor = base or {}
    merged: dict[str, Any] = {}
    conflicts: list[FieldConflict] = []
    for name in _field_order(ancestor, local, remote):  # the same order whichever side is "local"
        was, mine, theirs = (ancestor.get(name, MISSING), local.get(name, MISSING), remote.get(name, MISSING))
        if name in ignore:
            value = mine if mine is not MISSING else theirs
        elif _same(mine, theirs) or _same(theirs, was):
            value = mine
        elif _same(mine, was):
            value = theirs
        else:
            conflicts.append(FieldConflict(name, was, mine, theirs))
            value = mine
        if value is not MISSING:
            merged[name] = value
    return MergeResult(merged, tuple(conflicts))


def _merge_deletion(
    base: Mapping[str, Any] | None, local: Mapping[str, Any] | None, remote: Mapping[str, Any] | None
) -> MergeResult:
    survivor = local if local is not None else remote
    if survivor is None:  # deleted on both sides
        return MergeResult(None)
    if base is None:  # created on one side only: nothing to merge
        return MergeResult(dict(survivor))
    if _same(dict(survivor), dict(base)):  # deleted on one side, untouched on the other
        return MergeResult(None)
    conflict = FieldConflict(
        RECORD,
        dict(base),
        dict(local) if local is not None else None,
        dict(remote) if remote is not None else None,
    )
    return MergeResult(dict(survivor), (conflict,))


def _field_order(base: Mapping[str, Any], local: Mapping[str, Any], remote: Mapping[str, Any]) -> list[str]:
    added = (set(local) | set(remote)) - set(base)
    return [*base, *sorted(added, key=str)]


def _same(a: Any, b: Any) -> bool:
    if a is b:
        return True
    if a is MISSING or b is MISSING:
        return False
    try:
        return type(a) is type(b) and bool(a == b)
    except Exception:  # noqa: BLE001 - a value whose == raises is simply not the same
        return False
