"""In-memory resident search, built at unlock from decrypted names: never written to disk.

Finds residents by name (any part), pinyin initials (张三丰 -> zsf; heteronyms too, so 单 matches
d or s), full pinyin (long, longxiuying; ü typed as v or u), ID card number (any part),
health-record number (prefix) and phone number (any part). A query is read as typed on any
keyboard: full-width letters and digits (ｌｘｙ, １２３) count as their ASCII selves, spaces and
hyphens inside a number are ignored. Lookups use str.find over one joined string and bisect over
sorted keys, so a keypress over 50,000 residents stays in milliseconds.
"""

from __future__ import annotations

import bisect
import itertools
import re
import sys
import threading
import unicodedata
from array import array
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from clinic_agent.core import pinyin
from clinic_agent.core.model import Resident

_SEPARATOR = "\x00"
_MAX_INITIAL_VARIANTS = 8
_MAX_SPELLING_VARIANTS = 4  # full spellings are long: fewer heteronym combinations are kept
_NUMBER_PUNCTUATION = re.compile(r"[\s()+-]")


@lru_cache(maxsize=65536)
def _char_initials(ch: str) -> tuple[str, ...]:
    """Every first letter a character's readings start with (a letter or digit stands for itself)."""
    if ch.isascii():
        return (ch.lower(),) if ch.isalnum() else ()
    letters = [r[0].lower() for r in pinyin.readings(ch) if r[0].isalpha()]
    return tuple(dict.fromkeys(letters))  # the most common reading first


@lru_cache(maxsize=65536)
def _char_spellings(ch: str) -> tuple[str, ...]:
    """Every toneless pinyin reading of a character, ü both as v and as u (a letter or digit stands for itself)."""
    if ch.isascii():
        return (ch.lower(),) if ch.isalnum() else ()
    spellings = [r.lower() for r in pinyin.readings(ch) if r.isascii() and r.isalpha()]
    spellings += [s.replace("v", "u") for s in spellings if "v" in s]
    return tuple(dict.fromkeys(spellings))  # the most common reading first


def spellings(name: str) -> list[str]:
    """A name in full pinyin without tones or spaces (龙秀英 -> longxiuying), the usual reading first (bounded)."""
    options = [o for o in (_char_spellings(ch) for ch in name if not ch.isspace()) if o]
    combos = itertools.islice(itertools.product(*options), _MAX_SPELLING_VARIANTS)
    return ["".join(c) for c in combos]


def normalise_query(query: str) -> str:
    """What was typed, as the index reads it: full-width forms folded (ｌｘｙ -> lxy), control characters dropped."""
    text = unicodedata.normalize("NFKC", query)
    return "".join(ch for ch in text.strip() if ch.isprintable())


def _phone_digits(phone: str) -> str:
    return "".join(ch for ch in unicodedata.normalize("NFKC", phone) if ch.isdigit())


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


def _starts(texts: Iterable[str]) -> array[int]:
    """Where each text starts in their join with one separator between them."""
    starts, position = array("L"), 0
    for text in texts:
        starts.append(position)
        position += len(text) + 1
    return starts


@dataclass(frozen=True, slots=True)
class _Keys:
    """Sorted (key, resident id, alternate reading) rows, held as columns: no tuple per row."""

    keys: list[str]
    ids: list[str]
    alternate: bytes

    @classmethod
    def of(cls, rows: list[tuple[str, str, int]]) -> _Keys:
        """Columns of rows sorted already."""
        return cls([r[0] for r in rows], [r[1] for r in rows], bytes(r[2] for r in rows))


@dataclass(frozen=True, slots=True)
class _Entry:
    resident_id: str
    name: str
    id_number: str
    health_record_number: str
    phone: str
    initials: tuple[str, ...]
    spellings: tuple[str, ...]


class NameIndex:
    """Search structures over the live residents; thread-safe."""

    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()
        self._dirty = True
        self._ids: list[str] = []
        self._names_blob = ""
        self._offsets = array("L")
        self._numbers_blob = ""
        self._initials = _Keys.of([])
        self._spellings = _Keys.of([])
        self._phones_blob = ""
        self._phone_offsets = array("L")
        self._records = _Keys.of([])  # health-record numbers (every alternate 0)
        self.change_seq = 0

    def __len__(self) -> int:
        return len(self._entries)

    def upsert(self, resident: Resident) -> None:
        """Add or refresh one resident (a deleted one is removed)."""
        entry = None
        if not resident.deleted:  # the pinyin keys are worked out once here, not at every rebuild
            entry = _Entry(
                resident.id,
                resident.name,
                resident.id_number,
                resident.health_record_number or "",
                _phone_digits(resident.phone or ""),
                # Interned: residents share initials and spellings (zs, wang...), held once each.
                tuple(map(sys.intern, initials(resident.name))),
                tuple(map(sys.intern, spellings(resident.name))),
            )
        with self._lock:
            if entry is None:
                self._entries.pop(resident.id, None)
            else:
                self._entries[resident.id] = entry
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
        self._offsets = _starts(e.name for e in entries)
        self._initials = _Keys.of(
            sorted((key, e.resident_id, int(variant > 0)) for e in entries for variant, key in enumerate(e.initials))
        )
        self._spellings = _Keys.of(
            sorted((key, e.resident_id, int(variant > 0)) for e in entries for variant, key in enumerate(e.spellings))
        )
        self._phones_blob = _SEPARATOR.join(e.phone for e in entries)
        self._phone_offsets = _starts(e.phone for e in entries)
        self._records = _Keys.of(
            sorted((e.health_record_number, e.resident_id, 0) for e in entries if e.health_record_number)
        )
        self._dirty = False

    def search(self, query: str, *, limit: int = 20) -> list[Match]:
        """Best matches first: exact name, ID or phone number, prefixes, pinyin, then any part."""
        text = normalise_query(query)
        if not text:
            return []
        number = _NUMBER_PUNCTUATION.sub("", text).upper()
        with self._lock:
            if self._dirty:
                self._rebuild()
            hits: dict[str, Match] = {}
            if number and number.replace("X", "").isdigit():
                self._by_number(number, hits, limit)
                self._by_phone(number, hits, limit)
            elif text.isascii():
                letters = text.lower().replace(" ", "").replace("'", "")
                self._by_key(self._initials, "initials", letters, hits, limit)
                self._by_key(self._spellings, "pinyin", letters, hits, limit)
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

    def _by_key(self, keys: _Keys, matched_by: str, text: str, hits: dict[str, Match], limit: int) -> None:
        """Pinyin keys (initials or full spellings) that start with what was typed."""
        if not text:
            return
        position = bisect.bisect_left(keys.keys, text)
        end = position + limit * 5
        for key, resident_id, alternate in zip(
            keys.keys[position:end], keys.ids[position:end], keys.alternate[position:end], strict=True
        ):
            if not key.startswith(text):
                break
            self._add(hits, resident_id, matched_by, 4 if alternate else 2 if key == text else 3)

    def _by_phone(self, text: str, hits: dict[str, Match], limit: int) -> None:
        """Phone numbers holding the digits typed (the whole number, its start or any part of it)."""
        if "X" in text:
            return
        blob, start, found = self._phones_blob, 0, 0
        while found < limit * 5:
            at = blob.find(text, start)
            if at < 0:
                return
            index = bisect.bisect_right(self._phone_offsets, at) - 1
            phone = self._entries[self._ids[index]].phone
            first = at == self._phone_offsets[index]
            self._add(hits, self._ids[index], "phone", 0 if first and phone == text else 3 if first else 6)
            start = self._phone_offsets[index] + len(phone) + 1
            found += 1

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
        position = bisect.bisect_left(self._records.keys, text)
        end = position + limit
        for number, resident_id in zip(self._records.keys[position:end], self._records.ids[position:end], strict=True):
            if not number.startswith(text):
                break
            self._add(hits, resident_id, "health_record_number", 1)
