"""In-memory resident search, built at unlock from decrypted names: never written to disk.

Finds residents by name (any part), pinyin initials (张三丰 -> zsf; heteronyms too, so 单 matches
d or s), ID card number (any part) and health-record number (prefix). Lookups use str.find over
one joined string and bisect over sorted keys, so a keypress over 50,000 residents stays in
milliseconds.
"""

from __future__ import annotations

import bisect
import itertools
import threading
from dataclasses import dataclass
from functools import lru_cache

from clinic_agent.model import Resident

_SEPARATOR = "\x00"
_MAX_INITIAL_VARIANTS = 8


@lru_cache(maxsize=65536)
def _char_initials(ch: str) -> tuple[str, ...]:
    """Every first letter a character's readings start with (a letter or digit stands for itself)."""
    if ch.isascii():
        return (ch.lower(),) if ch.isalnum() else ()
    from pypinyin import Style, pinyin  # ~160 ms of dictionaries: loaded when the index is first built

    readings = pinyin(ch, style=Style.FIRST_LETTER, heteronym=True, errors="ignore")
    letters = [r[0].lower() for group in readings for r in group if r and r[0].isalpha()]
    return tuple(dict.fromkeys(letters))  # the most common reading first


def initials(name: str) -> list[str]:
    """The pinyin initials of a name: the usual reading first, then other heteronym readings (bounded)."""
    options = [_char_initials(ch) for ch in name if not ch.isspace()]
    options = [o for o in options if o]
    combos = itertools.islice(itertools.product(*options), _MAX_INITIAL_VARIANTS)
    return ["".join(c) for c in combos]


@dataclass(frozen=True, slots=True)
class Match:
    """One search hit."""

    resident_id: str
    name: str
    matched_by: str
    rank: int


@dataclass(frozen=True, slots=True)
class _Entry:
    resident_id: str
    name: str
    id_number: str
    health_record_number: str


class NameIndex:
    """Search structures over the live residents; thread-safe."""

    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()
        self._dirty = True
        self._ids: list[str] = []
        self._names_blob = ""
        self._offsets: list[int] = []
        self._numbers_blob = ""
        self._initials: list[tuple[str, str, int]] = []
        self._records: list[tuple[str, str]] = []
        self.change_seq = 0

    def __len__(self) -> int:
        return len(self._entries)

    def upsert(self, resident: Resident) -> None:
        """Add or refresh one resident (a deleted one is removed)."""
        with self._lock:
            if resident.deleted:
                self._entries.pop(resident.id, None)
            else:
                self._entries[resident.id] = _Entry(
                    resident.id, resident.name, resident.id_number, resident.health_record_number or ""
                )
            self._dirty = True

    def clear(self) -> None:
        """Forget everything (at lock)."""
        with self._lock:
            self._entries.clear()
            self._dirty = True
            self._rebuild()
            self.change_seq = 0

    def _rebuild(self) -> None:
        entries = list(self._entries.values())
        self._ids = [e.resident_id for e in entries]
        self._names_blob = _SEPARATOR.join(e.name for e in entries)
        self._numbers_blob = _SEPARATOR.join(e.id_number for e in entries)
        offsets, position = [], 0
        for e in entries:
            offsets.append(position)
            position += len(e.name) + 1
        self._offsets = offsets
        self._initials = sorted(
            (key, e.resident_id, int(variant > 0)) for e in entries for variant, key in enumerate(initials(e.name))
        )
        self._records = sorted((e.health_record_number, e.resident_id) for e in entries if e.health_record_number)
        self._dirty = False

    def search(self, query: str, *, limit: int = 20) -> list[Match]:
        """Best matches first: exact name or ID number, prefixes, pinyin initials, then any part."""
        text = "".join(ch for ch in query.strip() if ch.isprintable())
        if not text:
            return []
        with self._lock:
            if self._dirty:
                self._rebuild()
            hits: dict[str, Match] = {}
            if text.replace("x", "").replace("X", "").isdigit():
                self._by_number(text.upper(), hits, limit)
            elif text.isascii():
                self._by_initials(text.lower().replace(" ", ""), hits, limit)
            self._by_name(text, hits, limit)
        return sorted(hits.values(), key=lambda m: (m.rank, m.name, m.resident_id))[:limit]

    def _add(self, hits: dict[str, Match], resident_id: str, matched_by: str, rank: int) -> None:
        current = hits.get(resident_id)
        if current is None or rank < current.rank:
            hits[resident_id] = Match(resident_id, self._entries[resident_id].name, matched_by, rank)

    def _by_name(self, text: str, hits: dict[str, Match], limit: int) -> None:
        blob, start, found = self._names_blob, 0, 0
        while found < limit * 5:
            at = blob.find(text, start)
            if at < 0:
                return
            index = bisect.bisect_right(self._offsets, at) - 1
            name = self._entries[self._ids[index]].name
            rank = 0 if name == text else 1 if at == self._offsets[index] else 5
            self._add(hits, self._ids[index], "name", rank)
            start = self._offsets[index] + len(name) + 1
            found += 1

    def _by_initials(self, text: str, hits: dict[str, Match], limit: int) -> None:
        position = bisect.bisect_left(self._initials, (text, "", 0))
        for key, resident_id, alternate in self._initials[position : position + limit * 5]:
            if not key.startswith(text):
                break
            self._add(hits, resident_id, "initials", 4 if alternate else 2 if key == text else 3)

    def _by_number(self, text: str, hits: dict[str, Match], limit: int) -> None:
        blob, start, found = self._numbers_blob, 0, 0
        while found < limit * 5:
            at = blob.find(text, start)
            if at < 0:
                break
            index = at // 19  # every ID number is 18 characters plus the separator
            self._add(hits, self._ids[index], "id_number", 0 if at % 19 == 0 else 6)
            start = (index + 1) * 19
            found += 1
        position = bisect.bisect_left(self._records, (text, ""))
        for number, resident_id in self._records[position : position + limit]:
            if not number.startswith(text):
                break
            self._add(hits, resident_id, "health_record_number", 1)
