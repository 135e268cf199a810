"""In-memory resident search over decrypted names; on disk only as an encrypted snapshot (store/search_index.py).

Finds residents by name (any part), pinyin initials (张三丰 -> zsf; heteronyms too, so 单 matches
d or s), full pinyin (long, longxiuying; ü typed as v or u), ID card number (any part),
health-record number (prefix) and phone number (any part). A query is read as typed on any
keyboard: full-width letters and digits (ｌｘｙ, １２３) count as their ASCII selves, spaces and
hyphens inside a number are ignored. Lookups use str.find over one joined string and bisect over
sorted keys, so a keypress over 50,000 residents stays in milliseconds.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import json
import operator
import re
import struct
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
_RECENT_LIMIT = 4096  # keys added since the columns were built, beyond which they are merged in
_DEAD_LIMIT = 1024  # slots edited or deleted since, beyond which (and an eighth of the live) they go
SNAPSHOT_FORMAT = 4  # 2: key-population flags, rows packed; 3: columns as held, in JSON; 4: columns as raw bytes
_MAGIC = b"clinic-agent name index\x00"  # what a snapshot of format 4 or later starts with (JSON ones with "{")
_HEAD = struct.Struct("<II")  # after the magic: the format, then the length of the JSON header
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


@lru_cache(maxsize=65536)
def _char_keys(ch: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """A character's initials and full spellings, looked up once for both."""
    return _char_initials(ch), _char_spellings(ch)


def _combinations(options: list[tuple[str, ...]], cap: int) -> list[str]:
    """One reading per character joined, the usual ones first, at most ``cap`` (one, without itertools, when
    no character reads two ways, as for most names)."""
    if max(map(len, options), default=1) == 1:
        return ["".join([only for (only,) in options])]
    return ["".join(c) for c in itertools.islice(itertools.product(*options), cap)]


def spellings(name: str) -> list[str]:
    """A name in full pinyin without tones or spaces (龙秀英 -> longxiuying), the usual reading first (bounded)."""
    return _combinations([o for o in map(_char_spellings, name) if o], _MAX_SPELLING_VARIANTS)


def name_keys(name: str) -> tuple[list[str], list[str]]:
    """``initials(name)`` and ``spellings(name)`` in one pass over the name (at an unlock, for every resident)."""
    keys = list(map(_char_keys, name))
    firsts = _combinations([k[0] for k in keys if k[0]], _MAX_INITIAL_VARIANTS)
    return firsts, _combinations([k[1] for k in keys if k[1]], _MAX_SPELLING_VARIANTS)


def normalise_query(query: str) -> str:
    """What was typed, as the index reads it: full-width forms folded (ｌｘｙ -> lxy), control characters dropped."""
    text = unicodedata.normalize("NFKC", query)
    return "".join(ch for ch in text.strip() if ch.isprintable())


def _phone_digits(phone: str) -> str:
    return "".join(ch for ch in unicodedata.normalize("NFKC", phone) if ch.isdigit())


def initials(name: str) -> list[str]:
    """The pinyin initials of a name: the usual reading first, then other heteronym readings (bounded)."""
    return _combinations([o for o in map(_char_initials, name) if o], _MAX_INITIAL_VARIANTS)


@dataclass(frozen=True, slots=True)
class Match:
    """One search hit."""

    resident_id: str
    name: str
    matched_by: str
    rank: int


def _raw(numbers: array[int]) -> bytes:
    """A 32-bit array as little-endian bytes, as it is held on a little-endian PC (no copy made per number)."""
    if sys.byteorder == "big":
        numbers = array("I", numbers)
        numbers.byteswap()
    return numbers.tobytes()


def _numbers(raw: memoryview) -> array[int]:
    """The 32-bit array of ``_raw`` bytes; ValueError when they are not a whole number of them."""
    if len(raw) % 4:
        raise ValueError(f"a snapshot's array of {len(raw)} bytes is not made of 32-bit numbers")
    numbers = array("I")
    numbers.frombytes(raw)
    if sys.byteorder == "big":
        numbers.byteswap()
    return numbers


class _Sections:
    """The raw parts of a snapshot, taken in the order they were written (each a view, not a copy)."""

    def __init__(self, body: memoryview, sizes: list[int]) -> None:
        if sum(sizes) != len(body):
            raise ValueError(f"a snapshot's parts add up to {sum(sizes)} bytes, it holds {len(body)}")
        self._body, self._sizes, self._at, self._next = body, sizes, 0, 0

    def take(self) -> memoryview:
        if self._next >= len(self._sizes):
            raise ValueError("a snapshot holds fewer parts than its index needs")
        size = self._sizes[self._next]
        part = self._body[self._at : self._at + size]
        self._at, self._next = self._at + size, self._next + 1
        return part

    def text(self) -> str:
        return str(self.take(), "utf-8")

    def numbers(self) -> array[int]:
        return _numbers(self.take())

    def done(self) -> None:
        if self._next != len(self._sizes):
            raise ValueError(f"a snapshot holds {len(self._sizes)} parts, its index reads {self._next}")


def _runs(flags: bytearray) -> list[tuple[int, int]]:
    """The ranges of positions whose flag is set, found by bytes.find rather than a step per position."""
    runs, at = [], flags.find(1)
    while at >= 0:
        end = flags.find(0, at)
        end = len(flags) if end < 0 else end
        runs.append((at, end))
        at = flags.find(1, end)
    return runs


class _Column:
    """Texts held as one string, each followed by the separator, with where each starts: no object per text.

    ``starts`` has one more number than there are texts (where the next text would start), so that
    text ``i`` is ``blob[starts[i]:starts[i + 1] - 1]``."""

    __slots__ = ("blob", "starts")

    def __init__(self, blob: str = "", starts: array[int] | None = None) -> None:
        self.blob = blob
        self.starts = array("I", [0]) if starts is None else starts

    def __len__(self) -> int:
        return len(self.starts) - 1

    def __getitem__(self, number: int) -> str:
        return self.blob[self.starts[number] : self.starts[number + 1] - 1]

    def extend(self, texts: list[str]) -> None:
        """Add texts at the end (one copy of the blob for them all)."""
        if not texts:
            return
        lengths = map(operator.add, map(len, texts), itertools.repeat(1))
        self.starts.extend(itertools.islice(itertools.accumulate(lengths, initial=self.starts[-1]), 1, None))
        self.blob += _SEPARATOR.join(texts) + _SEPARATOR

    def is_whole(self, number: int, at: int, text: str) -> bool:
        """Whether ``text``, found at ``at``, is the whole of text ``number``."""
        return at == self.starts[number] and self.starts[number + 1] - 1 - at == len(text)

    def kept(self, runs: list[tuple[int, int]]) -> _Column:
        """Only the texts in ``runs`` (ranges of numbers, in order), numbered from 0 again."""
        pieces, starts = [], array("I", [0])
        for first, end in runs:
            low = self.starts[first]
            pieces.append(self.blob[low : self.starts[end]])
            shift = starts[-1] - low
            starts.extend(start + shift for start in self.starts[first + 1 : end + 1])
        return _Column("".join(pieces), starts)

    def saved(self) -> list[bytes]:
        """The snapshot's parts: the text in UTF-8, the starts as raw 32-bit numbers."""
        return [self.blob.encode("utf-8"), _raw(self.starts)]

    @classmethod
    def restored(cls, parts: _Sections, count: int) -> _Column:
        """A column of ``count`` texts from a snapshot; ValueError when it does not hold that.

        Checked by its counts and ends only, not text by text: the copy is authenticated, so what
        these checks are for is a copy another version of this code wrote, not a forged one
        (store/search_index.py)."""
        blob, starts = parts.text(), parts.numbers()
        if len(starts) != count + 1 or starts[0] != 0 or starts[-1] != len(blob):
            raise ValueError(f"a snapshot column does not hold {count} texts")
        if blob.count(_SEPARATOR) != count:
            raise ValueError(f"a snapshot column's texts are not where it says ({count} texts)")
        return cls(blob, starts)


_Row = tuple[str, str, int, int]  # key, resident id, alternate reading (1) or the usual one (0), slot


class _SortedKeys:
    """Keys that find residents by their start (pinyin, health-record numbers), in (key, resident id,
    alternate) order, held as columns: each distinct key once in ``keys``, with its rows from
    ``first_row[k]`` to ``first_row[k + 1]`` (each row a slot and whether it is an alternate reading).

    Rows added since the columns were last built wait in ``recent``, a sorted list merged in at the
    next compaction; a row whose slot is no longer live is skipped by every reader, not taken out."""

    __slots__ = ("alternate", "first_row", "keys", "recent", "recent_sorted", "slots")

    def __init__(self) -> None:
        self.keys = _Column()
        self.first_row = array("I", [0])
        self.slots = array("I")
        self.alternate = bytearray()
        self.recent: list[_Row] = []
        self.recent_sorted = True

    def add(self, rows: list[_Row], *, in_place: bool) -> None:
        """Add rows: each where it goes when few, else at the end to be sorted once (``sort_recent``)."""
        if in_place and self.recent_sorted:
            for row in rows:
                bisect.insort(self.recent, row)
        else:
            self.recent.extend(rows)
            self.recent_sorted = False

    def sort_recent(self) -> bool:
        """Sort the rows added at the end; True when there were such rows to sort."""
        if self.recent_sorted:
            return False
        self.recent.sort()
        self.recent_sorted = True
        return True

    def _built(self, text: str, ids: _Column | None) -> Iterator[_Row]:
        """The built rows whose key starts with ``text``, in order (resident ids left empty without ``ids``)."""
        keys, first_row, slots, alternate = self.keys, self.first_row, self.slots, self.alternate
        number = bisect.bisect_left(range(len(keys)), text, key=keys.__getitem__)
        for number in range(number, len(keys)):  # noqa: B020 (from where the bisect put it)
            if not keys.blob.startswith(text, keys.starts[number]):
                return
            key = keys[number]
            for row in range(first_row[number], first_row[number + 1]):
                slot = slots[row]
                yield key, ids[slot] if ids else "", alternate[row], slot

    def matching(self, text: str, cap: int, ids: _Column, alive: bytearray) -> list[_Row]:
        """The first ``cap`` live rows whose key starts with ``text``, built and recent merged in order."""
        recent = self.recent
        first = bisect.bisect_left(recent, (text,))
        if first < len(recent) and recent[first][0].startswith(text):
            added = (recent[i] for i in range(first, len(recent)))
            recent_rows = itertools.takewhile(lambda row: row[0].startswith(text), added)
            rows: Iterator[_Row] = heapq.merge(self._built(text, ids), recent_rows)
        else:  # none waiting: no resident id is needed to order the rows
            rows = self._built(text, None)
        return list(itertools.islice((row for row in rows if alive[row[3]]), cap))

    def compacted(self, ids: _Column, alive: bytearray, renumber: array[int]) -> _SortedKeys:
        """The live rows, recent ones merged in, as columns again, with slots renumbered."""
        out = _SortedKeys()
        keys: list[str] = []
        out.first_row = array("I")
        rows = heapq.merge(self._built("", ids), self.recent) if self.slots else self.recent
        for key, _, alternate, slot in rows:
            if not alive[slot]:
                continue
            if not keys or keys[-1] != key:
                keys.append(key)
                out.first_row.append(len(out.slots))
            out.slots.append(renumber[slot])
            out.alternate.append(alternate)
        out.first_row.append(len(out.slots))
        out.keys.extend(keys)
        return out

    def saved(self) -> list[bytes]:
        """The snapshot's parts (built rows only: the index compacts itself first)."""
        return [_raw(self.first_row), *self.keys.saved(), _raw(self.slots), bytes(self.alternate)]

    @classmethod
    def restored(cls, parts: _Sections, count: int) -> _SortedKeys:
        """The rows of a snapshot of ``count`` residents; ValueError when they do not add up.

        The slot numbers are taken as written, not each checked against ``count`` (that took most of a
        restore: a Python step per number); see ``NameIndex.restore``."""
        first_row = parts.numbers()
        keys = _Column.restored(parts, len(first_row) - 1)
        slots, alternate = parts.numbers(), bytearray(parts.take())
        if not (first_row and first_row[0] == 0 and first_row[-1] == len(slots) == len(alternate)):
            raise ValueError(f"a snapshot's sorted keys hold {len(first_row) - 1} keys for {len(slots)} rows")
        out = cls()
        out.keys, out.first_row, out.slots, out.alternate = keys, first_row, slots, alternate
        return out


@lru_cache(maxsize=1024)  # residents share a few combinations of flags
def _flags(joined: str) -> tuple[str, ...]:
    return tuple(joined.split(_FLAG_SEPARATOR))


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


class _Prepared(NamedTuple):
    """A live resident's fields with the keys worked out from them (before the index's lock is taken)."""

    fields: IndexFields
    phone: str
    initials: list[str]
    spellings: list[str]


def _prepared(fields: IndexFields) -> _Prepared:
    if fields.deleted:
        return _Prepared(fields, "", [], [])
    return _Prepared(fields, _phone_digits(fields.phone) if fields.phone else "", *name_keys(fields.name))


def snapshot_header(data: bytes) -> tuple[dict[str, Any], memoryview]:
    """A snapshot's JSON header and the bytes of its columns after it; ValueError when it is not one of
    this format (the message names the format it is, as a copy saved by an older release is)."""
    if not data.startswith(_MAGIC):
        raise ValueError(f"snapshot format {_older_format(data)!r}, not {SNAPSHOT_FORMAT}")
    view = memoryview(data)[len(_MAGIC) :]
    if len(view) < _HEAD.size:
        raise ValueError("a snapshot cut short before its header")
    found, length = _HEAD.unpack_from(view)
    if found != SNAPSHOT_FORMAT:
        raise ValueError(f"snapshot format {found!r}, not {SNAPSHOT_FORMAT}")
    try:
        header = json.loads(bytes(view[_HEAD.size : _HEAD.size + length]))
    except ValueError:
        header = None
    if not isinstance(header, dict):
        raise ValueError("a snapshot's header is not a JSON object")
    return header, view[_HEAD.size + length :]


def _older_format(data: bytes) -> object:
    """The format a snapshot saved as JSON (formats 1 to 3) says it is, or None."""
    try:
        older = json.loads(data)
    except ValueError:
        return None
    return older.get("format") if isinstance(older, dict) else None


class NameIndex:
    """Search structures over the live residents; thread-safe. See docs/architecture.md (the name index).

    Each resident has a slot: its texts live in columns (one string per column, 32-bit starts), its
    flags in an array, so that a resident costs bytes, not Python objects. An edit or a deletion
    marks the old slot dead and an edit appends a new one; readers skip dead slots, and a
    compaction (when many are dead, or many keys were added, and before a snapshot) builds the
    columns again from the live slots. No edit sorts the whole index again; many changes at once
    (an unlock without a saved index) are put in first and their keys sorted once.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._empty()
        self.change_seq = 0
        self.full_sorts = 0  # how often keys were sorted whole (once per unlock without a saved index)

    def _empty(self) -> None:
        self._ids, self._names, self._numbers, self._phones = _Column(), _Column(), _Column(), _Column()
        self._flags = array("I")  # each slot's flag set: a number in _flag_sets
        self._flag_sets = [""]  # distinct key-population flags, joined by commas ("" for none)
        self._alive = bytearray()  # 1 for a live slot, 0 for one edited or deleted since
        self._live = 0
        self._by_id = array("I")  # the live slots in resident id order
        self._by_id_sorted = True
        self._initials, self._spellings, self._records = _SortedKeys(), _SortedKeys(), _SortedKeys()

    def __len__(self) -> int:
        with self._lock:
            self._sort_by_id()  # a resident put in twice in one go counts once
            return self._live

    def _tables(self) -> tuple[_SortedKeys, _SortedKeys, _SortedKeys]:
        return self._initials, self._spellings, self._records

    def upsert(self, resident: Resident) -> None:
        """Add or refresh one resident (a deleted one is removed)."""
        self.put_many([fields_of(resident)])

    def put_many(self, residents: list[IndexFields]) -> None:
        """Add or refresh residents (deleted ones are removed): in place when few, else sorted once later."""
        latest = {fields.resident_id: fields for fields in residents}  # one resident twice: the last counts
        changes = [_prepared(fields) for fields in latest.values()]
        with self._lock:
            if len(residents) <= _IN_PLACE_LIMIT:
                self._sort_by_id()
                for resident_id in latest:
                    self._forget(resident_id)
                self._append([change for change in changes if not change.fields.deleted], in_place=True)
            else:
                # Each gets a slot, a deleted one a dead slot; the older slots of the same residents
                # die when the id order is next sorted (_sort_by_id), once for the whole unlock.
                self._append(changes, in_place=False)

    def _position(self, resident_id: str) -> int | None:
        """Where a live resident's slot is in ``_by_id`` (which must be sorted), None when not indexed."""
        ids, by_id = self._ids, self._by_id
        at = bisect.bisect_left(by_id, resident_id, key=lambda slot: ids[slot])
        return at if at < len(by_id) and ids[by_id[at]] == resident_id else None

    def _forget(self, resident_id: str) -> None:
        at = self._position(resident_id)
        if at is not None:
            self._kill(self._by_id.pop(at))

    def _flag_set(self, flags: tuple[str, ...]) -> int:
        joined = _FLAG_SEPARATOR.join(flags)
        if joined not in self._flag_sets:
            self._flag_sets.append(joined)
        return self._flag_sets.index(joined)

    def _append(self, prepared: list[_Prepared], *, in_place: bool) -> None:
        """Give each resident a new slot at the end and put its keys in."""
        first = len(self._alive)
        slots = range(first, first + len(prepared))
        self._ids.extend([p.fields.resident_id for p in prepared])
        self._names.extend([p.fields.name for p in prepared])
        self._numbers.extend([p.fields.id_number for p in prepared])
        self._phones.extend([p.phone for p in prepared])
        self._flags.extend(self._flag_set(p.fields.key_populations) for p in prepared)
        self._alive.extend(not p.fields.deleted for p in prepared)
        self._live += sum(not p.fields.deleted for p in prepared)
        if in_place and self._by_id_sorted:
            ids = self._ids
            for slot in slots:
                self._by_id.insert(bisect.bisect_left(self._by_id, ids[slot], key=lambda s: ids[s]), slot)
        else:
            self._by_id.extend(slots)
            self._by_id_sorted = False
        rows: tuple[list[_Row], list[_Row], list[_Row]] = ([], [], [])
        for slot, p in zip(slots, prepared, strict=True):
            if p.fields.deleted:
                continue
            resident_id = p.fields.resident_id
            rows[0].extend((sys.intern(k), resident_id, int(v > 0), slot) for v, k in enumerate(p.initials))
            rows[1].extend((sys.intern(k), resident_id, int(v > 0), slot) for v, k in enumerate(p.spellings))
            if p.fields.health_record_number:
                rows[2].append((p.fields.health_record_number, resident_id, 0, slot))
        for table, added in zip(self._tables(), rows, strict=True):
            table.add(added, in_place=in_place)

    def _sort_by_id(self) -> None:
        """Sort the id order after slots were added at its end; of one resident's slots only the latest lives."""
        if self._by_id_sorted:
            return
        ids, alive = self._ids, self._alive
        kept, previous = array("I"), ""
        for slot in sorted(sorted(self._by_id), key=ids.__getitem__):  # stable: a resident's latest slot last
            resident_id = ids[slot]
            if kept and resident_id == previous:
                self._kill(kept.pop())
            kept.append(slot)
            previous = resident_id
        self._by_id = array("I", (slot for slot in kept if alive[slot]))  # a deleted resident's dead slot goes
        self._by_id_sorted = True

    def _kill(self, slot: int) -> None:
        if self._alive[slot]:
            self._alive[slot] = 0
            self._live -= 1

    def key_populations(self) -> dict[str, tuple[str, ...]]:
        """The key-population flags of every live resident who has any, by resident id."""
        with self._lock:
            self._sort_by_id()
            alive, ids, sets = self._alive, self._ids, self._flag_sets
            flagged = [(ids[slot], sets[flags]) for slot, flags in enumerate(self._flags) if flags and alive[slot]]
        return {resident_id: _flags(joined) for resident_id, joined in flagged}

    def clear(self) -> None:
        """Forget everything (at lock)."""
        with self._lock:
            self._empty()
            self.change_seq = 0

    def build(self) -> None:
        """Make the index ready for the next search now (at unlock, so that the first keypress does not)."""
        with self._lock:
            self._ready()

    def _ready(self) -> None:
        sorted_now = [table.sort_recent() for table in self._tables()]  # every table, not up to the first
        if any(sorted_now):
            self.full_sorts += 1
        self._sort_by_id()
        dead = len(self._alive) - self._live
        if dead > max(_DEAD_LIMIT, self._live // 8) or any(len(t.recent) > _RECENT_LIMIT for t in self._tables()):
            self._compact()

    def _compact(self) -> None:
        """Build the columns again from the live slots, numbered from 0, with the recent keys merged in."""
        runs = _runs(self._alive)
        renumber = array("I", bytes(4 * len(self._alive)))
        live = 0
        for first, end in runs:
            renumber[first:end] = array("I", range(live, live + end - first))
            live += end - first
        alive = self._alive
        self._initials, self._spellings, self._records = (
            t.compacted(self._ids, alive, renumber) for t in self._tables()
        )
        self._ids, self._names, self._numbers, self._phones = (
            column.kept(runs) for column in (self._ids, self._names, self._numbers, self._phones)
        )
        flags = array("I")
        for first, end in runs:
            flags.extend(self._flags[first:end])
        self._flags = flags
        self._by_id = array("I", map(renumber.__getitem__, self._by_id))
        self._alive = bytearray(b"\x01" * live)

    # -- the snapshot ------------------------------------------------------------------------------

    def snapshot(self) -> bytes:
        """The whole index as bytes, to be kept encrypted (store/search_index.py).

        The columns go as they are held (compacted first), with the sorted keys, so that restoring
        needs neither pinyin nor a sort nor an object per resident: a short JSON header, then each
        column's text in UTF-8 and its numbers as raw 32-bit arrays, which load as one copy each.
        The header's ``pinyin`` names the dictionary the keys came from, so that keys from another
        dictionary are never mixed with this one's."""
        with self._lock:
            self._ready()
            if len(self._alive) > self._live or any(t.recent for t in self._tables()):
                self._compact()
            parts = [
                *self._ids.saved(),
                *self._names.saved(),
                *self._numbers.saved(),
                *self._phones.saved(),
                _raw(self._flags),
                _raw(self._by_id),
                *self._initials.saved(),
                *self._spellings.saved(),
                *self._records.saved(),
            ]
            header = {
                "pinyin": pinyin.dictionary_stamp(),
                "change_seq": self.change_seq,
                "count": self._live,
                "flag_sets": list(self._flag_sets),
                "sizes": [len(part) for part in parts],
            }
        head = json.dumps(header, separators=(",", ":")).encode("utf-8")
        return b"".join([_MAGIC, _HEAD.pack(SNAPSHOT_FORMAT, len(head)), head, *parts])

    def restore(self, data: bytes) -> None:
        """Take the index from a snapshot; ValueError (and the index unchanged) when it is not one.

        Each part is checked by its length and ends (the counts agree, every text is where its column
        says), not number by number: the copy is authenticated and stamped with its format, so a copy
        of another layout is told by its format and those counts, and nobody without the data key can
        write one. What is left is one copy per part, a few milliseconds at 50,000 residents."""
        header, body = snapshot_header(data)
        if header.get("pinyin") != pinyin.dictionary_stamp():
            raise ValueError("the snapshot's pinyin keys come from another pinyin dictionary")
        try:
            count, change_seq, flag_sets = int(header["count"]), int(header["change_seq"]), header["flag_sets"]
            parts = _Sections(body, [int(size) for size in header["sizes"]])
            ids, names, numbers, phones = (_Column.restored(parts, count) for _ in range(4))
            flags, by_id = parts.numbers(), parts.numbers()
            tables = [_SortedKeys.restored(parts, count) for _ in range(3)]
            parts.done()
        except (KeyError, TypeError, UnicodeDecodeError) as exc:
            raise ValueError(f"not a name index snapshot ({type(exc).__name__}: {exc})") from None
        if not (isinstance(flag_sets, list) and flag_sets[:1] == [""] and all(isinstance(f, str) for f in flag_sets)):
            raise ValueError("a snapshot's flag sets are not a list of texts")
        if len(flags) != count or len(by_id) != count:
            raise ValueError(f"a snapshot's flags or id order do not fit its {count} residents")
        with self._lock:
            self._empty()
            self._ids, self._names, self._numbers, self._phones = ids, names, numbers, phones
            self._flags, self._flag_sets, self._by_id = flags, flag_sets, by_id
            self._alive, self._live = bytearray(b"\x01" * count), count
            self._initials, self._spellings, self._records = tables
            self.change_seq = change_seq

    def search(self, query: str, *, limit: int = 20) -> list[Match]:
        """Best matches first: exact name, ID or phone number, prefixes, pinyin, then any part."""
        text = normalise_query(query)
        if not text:
            return []
        number = _NUMBER_PUNCTUATION.sub("", text).upper()
        with self._lock:
            self._ready()
            hits: dict[int, tuple[int, str]] = {}  # slot -> rank, matched by
            if number and number.replace("X", "").isdigit():
                self._by_number(number, hits, limit)
                self._by_phone(number, hits, limit)
            elif text.isascii():
                letters = text.lower().replace(" ", "").replace("'", "")
                self._by_key(self._initials, "initials", letters, hits, limit)
                self._by_key(self._spellings, "pinyin", letters, hits, limit)
            self._by_name(text, hits, limit)
            ids, names = self._ids, self._names
            found = sorted((rank, names[slot], ids[slot], by) for slot, (rank, by) in hits.items())
        return [Match(resident_id, name, by, rank) for rank, name, resident_id, by in found[:limit]]

    @staticmethod
    def _add(hits: dict[int, tuple[int, str]], slot: int, matched_by: str, rank: int) -> None:
        current = hits.get(slot)
        if current is None or rank < current[0]:
            hits[slot] = (rank, matched_by)

    def _found_in(self, column: _Column, text: str, limit: int) -> Iterator[tuple[int, int]]:
        """(slot, where) of the first ``limit * 5`` live texts of a column holding ``text``, the first place in each."""
        blob, starts, alive, start, found = column.blob, column.starts, self._alive, 0, 0
        while found < limit * 5:
            at = blob.find(text, start)
            if at < 0:
                return
            slot = bisect.bisect_right(starts, at) - 1
            start = starts[slot + 1]
            if alive[slot]:
                found += 1
                yield slot, at

    def _by_name(self, text: str, hits: dict[int, tuple[int, str]], limit: int) -> None:
        names = self._names
        for slot, at in self._found_in(names, text, limit):
            rank = 0 if names.is_whole(slot, at, text) else 1 if at == names.starts[slot] else 5
            self._add(hits, slot, "name", rank)

    def _by_key(
        self, keys: _SortedKeys, matched_by: str, text: str, hits: dict[int, tuple[int, str]], limit: int
    ) -> None:
        """Pinyin keys (initials or full spellings) that start with what was typed."""
        if not text:
            return
        for key, _, alternate, slot in keys.matching(text, limit * 5, self._ids, self._alive):
            self._add(hits, slot, matched_by, 4 if alternate else 2 if key == text else 3)

    def _by_phone(self, text: str, hits: dict[int, tuple[int, str]], limit: int) -> None:
        """Phone numbers holding the digits typed (the whole number, its start or any part of it)."""
        if "X" in text:
            return
        phones = self._phones
        for slot, at in self._found_in(phones, text, limit):
            first = at == phones.starts[slot]
            self._add(hits, slot, "phone", 0 if phones.is_whole(slot, at, text) else 3 if first else 6)

    def _by_number(self, text: str, hits: dict[int, tuple[int, str]], limit: int) -> None:
        numbers = self._numbers
        for slot, at in self._found_in(numbers, text, limit):
            self._add(hits, slot, "id_number", 0 if at == numbers.starts[slot] else 6)
        for _, _, _, slot in self._records.matching(text, limit, self._ids, self._alive):
            self._add(hits, slot, "health_record_number", 1)
