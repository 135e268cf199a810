"""In-memory resident search over decrypted names; on disk only as an encrypted snapshot (store/search_index.py).

Finds residents by name (any part), pinyin initials (张三丰 -> zsf; heteronyms too, so 单 matches
d or s), full pinyin (long, longxiuying; ü typed as v or u), ID card number (any part),
health-record number (prefix) and phone number (any part). A query is read as typed on any
keyboard: full-width letters and digits (ｌｘｙ, １２３) count as their ASCII selves, spaces and
hyphens inside a number are ignored. Lookups use str.find over one joined string and bisect over
sorted keys, so a keypress over 50,000 residents stays in milliseconds.
"""

from __future__ import annotations

import base64
import bisect
import itertools
import operator
import re
import sys
import threading
import unicodedata
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NamedTuple

from clinic_agent.core import pinyin
from clinic_agent.core.model import Resident

_SEPARATOR = "\x00"
_MAX_INITIAL_VARIANTS = 8
_MAX_SPELLING_VARIANTS = 4  # full spellings are long: fewer heteronym combinations are kept
_NUMBER_PUNCTUATION = re.compile(r"[\s()+-]")
_IN_PLACE_LIMIT = 256  # more changes at once than this are sorted once rather than put in one by one
SNAPSHOT_FORMAT = 2  # 2: with each resident's key-population flags, and rows packed
_FLAG_SEPARATOR = ","


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


def _starts(texts: list[str]) -> array[int]:
    """Where each text starts in their join with one separator between them (no Python loop: 50,000 at an unlock)."""
    starts = array("L", itertools.accumulate(map(operator.add, map(len, texts), itertools.repeat(1)), initial=0))
    starts.pop()
    return starts


class IndexFields(NamedTuple):
    """What the index keeps of a resident: the store reads just these at unlock, not whole records.

    The key-population flags ride along (not searched): the clinic day's programme lists read them
    from the index instead of decrypting every resident (``NameIndex.key_populations``)."""

    resident_id: str
    name: str
    id_number: str
    health_record_number: str
    phone: str
    deleted: bool
    key_populations: tuple[str, ...] = ()


def fields_of(resident: Resident) -> IndexFields:
    """The indexed fields of a resident."""
    return IndexFields(
        resident.id,
        resident.name,
        resident.id_number,
        resident.health_record_number or "",
        resident.phone or "",
        resident.deleted,
        tuple(flag.value for flag in resident.key_populations),
    )


def _packed(numbers: Iterator[int]) -> str:
    """Entry numbers as 32-bit little-endian, in base64: a JSON list would come back as one int object
    each (hundreds of thousands at 50,000 residents), made and freed at every unlock, which leaves the
    allocator's pages scattered with the index's own objects (bench/bench_memory.py)."""
    packed = array("I", numbers)
    if sys.byteorder == "big":
        packed.byteswap()
    return base64.b64encode(packed.tobytes()).decode("ascii")


def _unpacked(text: str) -> array[int]:
    unpacked = array("I", base64.b64decode(text.encode("ascii"), validate=True))
    if sys.byteorder == "big":
        unpacked.byteswap()
    return unpacked


@dataclass(frozen=True, slots=True)
class _Keys:
    """Sorted (key, resident id, alternate reading) rows, held as columns: no tuple per row."""

    keys: list[str]
    ids: list[str]
    alternate: bytearray

    @classmethod
    def of(cls, rows: list[tuple[str, str, int]]) -> _Keys:
        """Columns of rows sorted already."""
        return cls([r[0] for r in rows], [r[1] for r in rows], bytearray(r[2] for r in rows))

    def _position(self, key: str, resident_id: str, alternate: int) -> int:
        """Where a row goes in (key, resident id, alternate) order."""
        low = bisect.bisect_left(self.keys, key)
        high = bisect.bisect_right(self.keys, key, low)
        rows = range(low, high)
        return low + bisect.bisect_left(rows, (resident_id, alternate), key=lambda i: (self.ids[i], self.alternate[i]))

    def insert(self, key: str, resident_id: str, alternate: int) -> None:
        """Add one row where the sorted order puts it."""
        at = self._position(key, resident_id, alternate)
        self.keys.insert(at, key)
        self.ids.insert(at, resident_id)
        self.alternate.insert(at, alternate)

    def remove(self, key: str, resident_id: str, alternate: int) -> None:
        """Take one row out (it is there: the index put it in)."""
        at = self._position(key, resident_id, alternate)
        if at < len(self.keys) and self.keys[at] == key and self.ids[at] == resident_id:
            del self.keys[at], self.ids[at], self.alternate[at]

    def saved(self, position: dict[str, int]) -> dict[str, Any]:
        """The snapshot's form: each distinct key once with how many rows it has, rows as entry numbers."""
        runs = [(key, len(list(group))) for key, group in itertools.groupby(self.keys)]
        return {
            "keys": ",".join(key for key, _ in runs),
            "runs": [count for _, count in runs],
            "rows": _packed(position[resident_id] for resident_id in self.ids),
            "alternate": self.alternate.hex(),
        }

    @classmethod
    def restored(cls, saved: dict[str, Any], ids: list[str]) -> _Keys:
        """The rows of a snapshot (``ids``: the resident ids by entry number). Runs of one key share one string."""
        distinct = saved["keys"].split(",") if saved["keys"] else []
        keys = list(itertools.chain.from_iterable(map(itertools.repeat, distinct, saved["runs"])))
        rows = list(map(ids.__getitem__, _unpacked(saved["rows"])))
        alternate = bytearray.fromhex(saved["alternate"])
        if not len(keys) == len(rows) == len(alternate):
            raise ValueError(f"a snapshot's sorted keys hold {len(keys)} keys for {len(rows)} rows")
        return cls(keys, rows, alternate)


class _Entry(NamedTuple):
    resident_id: str
    name: str
    id_number: str
    health_record_number: str
    phone: str
    flags: str  # the key-population flags, joined by commas ("" for none, as most residents)


def _entry(fields: IndexFields) -> _Entry | None:
    """The index's entry for a resident (None for a deleted one)."""
    if fields.deleted:
        return None
    number, phone = fields.health_record_number, _phone_digits(fields.phone)
    flags = _FLAG_SEPARATOR.join(fields.key_populations)
    return _Entry(fields.resident_id, fields.name, fields.id_number, number, phone, sys.intern(flags))


@lru_cache(maxsize=1024)  # residents share a few combinations of flags
def _flags(joined: str) -> tuple[str, ...]:
    return tuple(joined.split(_FLAG_SEPARATOR))


def _split(text: str, count: int) -> list[str]:
    """A snapshot's column: ``count`` texts joined by the separator."""
    parts = text.split(_SEPARATOR) if count else []
    if len(parts) != count:
        raise ValueError(f"a snapshot column holds {len(parts)} values for {count} residents")
    return parts


class NameIndex:
    """Search structures over the live residents; thread-safe.

    An edit updates the sorted key columns in place (a bisect and a list insert per key), and the
    joined texts are joined again at the next search: no edit sorts the whole index again. Many
    changes at once (an unlock without a saved index) are put in first and sorted once.
    """

    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()
        self._sorted = True  # the key columns hold every entry's keys, in order
        self._joined = True  # the joined texts hold every entry
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
        self.full_sorts = 0  # how often every key was sorted (once per unlock without a saved index)

    def __len__(self) -> int:
        return len(self._entries)

    def upsert(self, resident: Resident) -> None:
        """Add or refresh one resident (a deleted one is removed)."""
        self.put_many([fields_of(resident)])

    def put_many(self, residents: list[IndexFields]) -> None:
        """Add or refresh residents (deleted ones are removed): in place when few, else sorted once later."""
        entries = [(fields.resident_id, _entry(fields)) for fields in residents]
        with self._lock:
            in_place = self._sorted and len(entries) <= _IN_PLACE_LIMIT
            for resident_id, entry in entries:
                old = self._entries.pop(resident_id, None) if entry is None else self._entries.get(resident_id)
                if entry is not None:
                    self._entries[resident_id] = entry
                if in_place:
                    self._move_keys(old, entry)
            self._sorted = self._sorted and in_place
            self._joined = False

    def _move_keys(self, old: _Entry | None, new: _Entry | None) -> None:
        """Take an entry's old keys out of the sorted columns and put its new ones in."""
        if old is not None:
            for keys, key, alternate in self._rows_of(old):
                keys.remove(key, old.resident_id, alternate)
        if new is not None:
            for keys, key, alternate in self._rows_of(new):
                keys.insert(key, new.resident_id, alternate)

    def _rows_of(self, entry: _Entry) -> Iterator[tuple[_Keys, str, int]]:
        """Every sorted row of an entry, worked out from its name again (the same in one process)."""
        for variant, key in enumerate(initials(entry.name)):
            yield self._initials, sys.intern(key), int(variant > 0)
        for variant, key in enumerate(spellings(entry.name)):
            yield self._spellings, sys.intern(key), int(variant > 0)
        if entry.health_record_number:
            yield self._records, entry.health_record_number, 0

    def key_populations(self) -> dict[str, tuple[str, ...]]:
        """The key-population flags of every live resident who has any, by resident id."""
        with self._lock:
            flagged = [(e.resident_id, e.flags) for e in self._entries.values() if e.flags]
        return {resident_id: _flags(joined) for resident_id, joined in flagged}

    def clear(self) -> None:
        """Forget everything (at lock)."""
        with self._lock:
            self._entries.clear()
            self._initials, self._spellings, self._records = _Keys.of([]), _Keys.of([]), _Keys.of([])
            self._sorted = True
            self._join()
            self.change_seq = 0

    def build(self) -> None:
        """Make the index ready for the next search now (at unlock, so that the first keypress does not)."""
        with self._lock:
            self._ready()

    def _ready(self) -> None:
        if not self._sorted:
            self._sort()
        if not self._joined:
            self._join()

    def _sort(self) -> None:
        entries = self._entries.values()
        # Interned: residents share initials and spellings (zs, wang...), held once each.
        self._initials = _Keys.of(
            sorted(
                (sys.intern(key), e.resident_id, int(variant > 0))
                for e in entries
                for variant, key in enumerate(initials(e.name))
            )
        )
        self._spellings = _Keys.of(
            sorted(
                (sys.intern(key), e.resident_id, int(variant > 0))
                for e in entries
                for variant, key in enumerate(spellings(e.name))
            )
        )
        self._records = _Keys.of(
            sorted((e.health_record_number, e.resident_id, 0) for e in entries if e.health_record_number)
        )
        self._sorted = True
        self.full_sorts += 1

    def _join(self) -> None:
        entries = list(self._entries.values())
        self._ids = [e.resident_id for e in entries]
        names = [e.name for e in entries]
        phones = [e.phone for e in entries]
        self._names_blob = _SEPARATOR.join(names)
        self._numbers_blob = _SEPARATOR.join(e.id_number for e in entries)
        self._offsets = _starts(names)
        self._phones_blob = _SEPARATOR.join(phones)
        self._phone_offsets = _starts(phones)
        self._joined = True

    # -- the snapshot ------------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """The whole index as plain JSON values, to be kept encrypted (store/search_index.py).

        The sorted key columns go with it (each distinct key once, rows as entry numbers), so that
        restoring it needs neither pinyin nor a sort; ``pinyin`` names the dictionary their keys
        came from, so that keys from another dictionary are never mixed with this one's."""
        with self._lock:
            self._ready()
            entries = [self._entries[resident_id] for resident_id in self._ids]
            position = {resident_id: number for number, resident_id in enumerate(self._ids)}
            return {
                "format": SNAPSHOT_FORMAT,
                "pinyin": pinyin.dictionary_stamp(),
                "change_seq": self.change_seq,
                "count": len(entries),
                "ids": _SEPARATOR.join(self._ids),
                "names": self._names_blob,
                "numbers": self._numbers_blob,
                "records": _SEPARATOR.join(e.health_record_number for e in entries),
                "phones": self._phones_blob,
                "flags": _SEPARATOR.join(e.flags for e in entries),
                "initials": self._initials.saved(position),
                "spellings": self._spellings.saved(position),
                "records_order": self._records.saved(position),
            }

    def restore(self, data: dict[str, Any]) -> None:
        """Take the index from a snapshot; ValueError (and the index unchanged) when it is not one."""
        if data.get("format") != SNAPSHOT_FORMAT:
            raise ValueError(f"snapshot format {data.get('format')!r}, not {SNAPSHOT_FORMAT}")
        if data.get("pinyin") != pinyin.dictionary_stamp():
            raise ValueError("the snapshot's pinyin keys come from another pinyin dictionary")
        try:
            count, change_seq = int(data["count"]), int(data["change_seq"])
            ids, names, numbers, records, phones, flags = (
                _split(data[name], count) for name in ("ids", "names", "numbers", "records", "phones", "flags")
            )
            # tuple.__new__ builds each entry without a Python call per resident (50,000 at an unlock).
            entries = list(
                map(
                    tuple.__new__,
                    itertools.repeat(_Entry),
                    zip(ids, names, numbers, records, phones, map(sys.intern, flags), strict=True),
                )
            )
            sorted_initials = _Keys.restored(data["initials"], ids)
            sorted_spellings = _Keys.restored(data["spellings"], ids)
            records_order = _Keys.restored(data["records_order"], ids)
        except (KeyError, IndexError, TypeError, AttributeError) as exc:
            raise ValueError(f"not a name index snapshot ({type(exc).__name__}: {exc})") from None
        with self._lock:
            self._entries = dict(zip(ids, entries, strict=True))
            self._initials, self._spellings, self._records = sorted_initials, sorted_spellings, records_order
            self._sorted = True
            self._join()
            self.change_seq = change_seq

    def search(self, query: str, *, limit: int = 20) -> list[Match]:
        """Best matches first: exact name, ID or phone number, prefixes, pinyin, then any part."""
        text = normalise_query(query)
        if not text:
            return []
        number = _NUMBER_PUNCTUATION.sub("", text).upper()
        with self._lock:
            self._ready()
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
